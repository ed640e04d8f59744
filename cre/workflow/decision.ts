// The workflow's decision, kept apart from the SDK plumbing so that it is plain, testable code: the
// Rust local DON stand-in (crates/cre) decides the same, byte for byte (../vectors.json).

import { decodeEventLog, encodeAbiParameters, type Hex, parseAbi } from 'viem'

/** How long a report stays valid after the event that caused it, in seconds. */
export const REPORT_VALIDITY = 3600n

/** IWorkflowOperator.Action. */
export const Action = { Capture: 1, Void: 2, PayInvoice: 3 } as const

const PAYMENT_TERMS =
	'(address operator, address payer, address payee, address token, uint256 maxAmount, uint48 preApprovalExpiry, uint48 authorizationExpiry, uint48 refundExpiry, uint16 maxFeeBps, address feeReceiver, bytes32 salt, bytes32 invoiceId)'

/** The trigger: IWorkflowOperator.DeliveryReported. */
export const DELIVERY_REPORTED = parseAbi([
	`event DeliveryReported(bytes32 indexed paymentId, address indexed reporter, bool delivered, ${PAYMENT_TERMS} terms)`,
])

const INSTRUCTION = [
	{
		type: 'tuple',
		components: [
			{ name: 'version', type: 'uint8' },
			{ name: 'chainId', type: 'uint256' },
			{ name: 'operator', type: 'address' },
			{ name: 'action', type: 'uint8' },
			{
				name: 'terms',
				type: 'tuple',
				components: [
					{ name: 'operator', type: 'address' },
					{ name: 'payer', type: 'address' },
					{ name: 'payee', type: 'address' },
					{ name: 'token', type: 'address' },
					{ name: 'maxAmount', type: 'uint256' },
					{ name: 'preApprovalExpiry', type: 'uint48' },
					{ name: 'authorizationExpiry', type: 'uint48' },
					{ name: 'refundExpiry', type: 'uint48' },
					{ name: 'maxFeeBps', type: 'uint16' },
					{ name: 'feeReceiver', type: 'address' },
					{ name: 'salt', type: 'bytes32' },
					{ name: 'invoiceId', type: 'bytes32' },
				],
			},
			{ name: 'deadline', type: 'uint64' },
			{ name: 'data', type: 'bytes' },
		],
	},
] as const

export type Delivery = ReturnType<typeof decodeDelivery>
export type Instruction = Parameters<typeof encodeAbiParameters<typeof INSTRUCTION>>[1][0]

/** Decodes a DeliveryReported log. */
export const decodeDelivery = (topics: Hex[], data: Hex) => {
	const decoded = decodeEventLog({
		abi: DELIVERY_REPORTED,
		eventName: 'DeliveryReported',
		topics: topics as [Hex, ...Hex[]],
		data,
	})
	return decoded.args
}

/** Capture to the payee when the payer confirms delivery; void to the payer when the payee gives up. */
export const decide = (delivery: Delivery, chainId: bigint, operator: Hex, eventTime: bigint): Instruction => ({
	version: 1,
	chainId,
	operator,
	action: delivery.delivered ? Action.Capture : Action.Void,
	terms: delivery.terms,
	deadline: eventTime + REPORT_VALIDITY,
	data: '0x',
})

/** The report body: abi.encode(Instruction). */
export const reportBody = (instruction: Instruction): Hex => encodeAbiParameters(INSTRUCTION, [instruction])
