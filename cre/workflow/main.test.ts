// The workflow under the SDK's test runtime, offline: for each shared vector (../vectors.json, written by
// the Rust stand-in) it decides the same and writes a report whose body is byte-identical; the stand-in's
// raw report parses with the SDK's own report reader.

import { describe, expect } from 'bun:test'
import { bytesToHex, type EVMLog, hexToBytes, protoBigIntToBigint, Report } from '@chainlink/cre-sdk'
import { EvmMock, newTestRuntime, test } from '@chainlink/cre-sdk/test'
import type { Hex } from 'viem'
import vectors from '../vectors.json'
import { decide, decodeDelivery, reportBody } from './decision'
import { type Config, onDelivery } from './main'

const SELECTOR = 16015286601757825753n

describe('the delivery workflow', () => {
	for (const v of vectors) {
		const config: Config = {
			chainSelector: SELECTOR.toString(),
			chainId: String(v.chainId),
			operator: v.operator as Hex,
			gasLimit: '500000',
		}

		test(`decides as the Rust stand-in: ${v.name}`, () => {
			const delivery = decodeDelivery(v.log.topics as Hex[], v.log.data as Hex)
			const instruction = decide(delivery, BigInt(v.chainId), v.operator as Hex, BigInt(v.eventTime))
			expect(instruction.action).toBe(v.action)
			expect(reportBody(instruction)).toBe(v.body as Hex)
		})

		test(`reports and writes it to the operator: ${v.name}`, () => {
			const evm = EvmMock.testInstance(SELECTOR)
			let asked: bigint | undefined
			evm.headerByNumber = (input) => {
				asked = input.blockNumber ? protoBigIntToBigint(input.blockNumber) : undefined
				return { header: { timestamp: String(v.eventTime) } }
			}
			const written: { receiver?: Uint8Array; raw?: Uint8Array; gas?: bigint } = {}
			evm.writeReport = (input) => {
				written.receiver = input.receiver
				written.raw = input.report?.rawReport
				written.gas = input.gasConfig?.gasLimit
				return { txStatus: 'TX_STATUS_SUCCESS' }
			}
			const runtime = newTestRuntime<Config>(null, {}, config)
			const log = {
				topics: v.log.topics.map((t) => hexToBytes(t)),
				data: hexToBytes(v.log.data),
				blockNumber: { absVal: new Uint8Array([7]), sign: 1n },
			} as unknown as EVMLog
			expect(onDelivery(runtime, log)).toBe(v.action)
			expect(bytesToHex(written.receiver ?? new Uint8Array())).toBe(v.operator.toLowerCase() as Hex)
			// The test runtime puts 109 bytes of placeholder metadata before the body, as a DON puts real ones.
			expect(bytesToHex((written.raw ?? new Uint8Array()).slice(109))).toBe(v.body as Hex)
			expect(written.gas).toBe(500000n)
			expect(asked).toBe(7n) // the deadline counts from the event's own block
		})

		test(`the stand-in's raw report reads as a DON's: ${v.name}`, () => {
			const report = new Report({
				configDigest: new Uint8Array(32),
				seqNr: 0n,
				reportContext: new Uint8Array(96),
				rawReport: hexToBytes(v.rawReport),
				sigs: [],
			} as never)
			expect(report.version()).toBe(1)
			expect(report.executionId()).toBe(v.executionId.slice(2))
			expect(report.timestamp()).toBe(v.eventTime)
			expect(report.donId()).toBe(1)
			expect(report.workflowId()).toBe(v.workflow.id.slice(2))
			expect(report.workflowOwner()).toBe(v.workflow.owner.slice(2).toLowerCase())
			// The name is carried as the first 10 hex characters of its SHA-256.
			const digest = new Bun.CryptoHasher('sha256').update(v.workflow.name).digest('hex')
			expect(report.workflowName()).toBe(digest.slice(0, 10))
			expect(new TextDecoder().decode(hexToBytes(v.workflow.encodedName))).toBe(digest.slice(0, 10))
			expect(report.reportId()).toBe('0001')
			expect(bytesToHex(report.body())).toBe(v.body as Hex)
		})
	}
})
