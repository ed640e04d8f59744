// The CRE workflow: an EVM log trigger on the WorkflowOperator's DeliveryReported → decide → a signed
// report → writeReport to the operator, which captures or voids the escrowed payment.

import {
	blockNumber,
	bytesToHex,
	cre,
	type EVMLog,
	logTriggerConfig,
	prepareReportRequest,
	protoBigIntToBigint,
	Runner,
	type Runtime,
} from '@chainlink/cre-sdk'
import { type Hex, toEventSelector } from 'viem'
import { DELIVERY_REPORTED, decide, decodeDelivery, reportBody } from './decision'

export type Config = {
	/** The CRE chain selector of the chain the operator is on. */
	chainSelector: string
	/** The chain's EVM id (bound into every report). */
	chainId: string
	/** The WorkflowOperator contract. */
	operator: Hex
	/** Gas for the forwarder's transaction. */
	gasLimit: string
}

export const onDelivery = (runtime: Runtime<Config>, log: EVMLog) => {
	const { chainSelector, chainId, operator, gasLimit } = runtime.config
	const evm = new cre.capabilities.EVMClient(BigInt(chainSelector))
	const delivery = decodeDelivery(log.topics.map(bytesToHex), bytesToHex(log.data))
	// The deadline counts from the event's block, so every node decides the same.
	if (!log.blockNumber) throw new Error('the log has no block number')
	const at = blockNumber(protoBigIntToBigint(log.blockNumber))
	const header = evm.headerByNumber(runtime, { blockNumber: at }).result().header
	if (!header) throw new Error('the event block has no header')
	const instruction = decide(delivery, BigInt(chainId), operator, header.timestamp)
	const report = runtime.report(prepareReportRequest(reportBody(instruction))).result()
	const written = evm.writeReport(runtime, { receiver: operator, report, gasConfig: { gasLimit } }).result()
	runtime.log(`payment ${delivery.paymentId}: action ${instruction.action}, ${written.txStatus}`)
	return instruction.action
}

export const initWorkflow = (config: Config) => {
	const evm = new cre.capabilities.EVMClient(BigInt(config.chainSelector))
	const trigger = evm.logTrigger(
		logTriggerConfig({
			addresses: [config.operator],
			topics: [[toEventSelector(DELIVERY_REPORTED[0])]],
			confidence: 'LATEST',
		}),
	)
	return [cre.handler(trigger, onDelivery)]
}

export async function main() {
	const runner = await Runner.newRunner<Config>()
	await runner.run(initWorkflow)
}
