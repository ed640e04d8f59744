// Cross-checks Quittance's batch-settlement protocol module (`quittance_x402::batch_settlement`) against the
// official SDK (`@x402/evm` 2.27), on anvil with our BatchSettlement contract at the canonical address.
//
// SDK → us: prints what the SDK builds for the requirements in QUITTANCE_REQUIREMENTS: the official client's
// channel config and id, its voucher for QUITTANCE_VOUCHER, a deposit payload of QUITTANCE_SDK_DEPOSIT, and
// the EIP-712 digests (voucher, refund, claim batch) viem computes with the SDK's types and domain.
// Us → SDK: runs the SDK's type guards on our payloads (QUITTANCE_OURS, a JSON object of PaymentPayloads),
// then has the SDK's facilitator, holding no receiver-authorizer key (so only our signatures can authorize),
// verify and settle our deposit, verify our voucher, settle our claim and our settle action, verify and
// settle our refund. Environment: QUITTANCE_RPC_URL, QUITTANCE_PAYER_KEY, QUITTANCE_AUTHORIZER_KEY,
// QUITTANCE_FACILITATOR_KEY, QUITTANCE_REQUIREMENTS, QUITTANCE_VOUCHER, QUITTANCE_SDK_DEPOSIT,
// QUITTANCE_OURS. Reports one line of JSON per step.
import {
  BATCH_SETTLEMENT_ADDRESS,
  BATCH_SETTLEMENT_DOMAIN,
  claimBatchTypes,
  isBatchSettlementClaimPayload,
  isBatchSettlementDepositPayload,
  isBatchSettlementEnrichedRefundPayload,
  isBatchSettlementRefundPayload,
  isBatchSettlementSettlePayload,
  isBatchSettlementVoucherPayload,
  refundTypes,
  toFacilitatorEvmSigner,
  voucherTypes,
} from "@x402/evm";
import {
  BatchSettlementEvmScheme as BatchClient,
  computeChannelId,
  createBatchSettlementEIP3009DepositPayload,
  signVoucher,
} from "@x402/evm/batch-settlement/client";
import { BatchSettlementEvmScheme as BatchFacilitator } from "@x402/evm/batch-settlement/facilitator";
import { hashTypedData } from "viem";
import { NETWORK, account, env, report, walletClient } from "./chain.mjs";

const payer = account("QUITTANCE_PAYER_KEY");
const authorizer = account("QUITTANCE_AUTHORIZER_KEY");
const facilitatorKey = account("QUITTANCE_FACILITATOR_KEY");
const requirements = JSON.parse(env("QUITTANCE_REQUIREMENTS"));
const ours = JSON.parse(env("QUITTANCE_OURS"));
const voucherAmount = env("QUITTANCE_VOUCHER");
const chainId = Number(NETWORK.split(":")[1]);
const domain = { ...BATCH_SETTLEMENT_DOMAIN, chainId, verifyingContract: BATCH_SETTLEMENT_ADDRESS };

// SDK → us.
const config = new BatchClient(payer).buildChannelConfig(requirements);
const channelId = computeChannelId(config, NETWORK);
const voucher = await signVoucher(payer, channelId, voucherAmount, NETWORK);
const refund = { channelId, nonce: 7n, amount: BigInt(voucherAmount) };
const claims = ours.claim.payload.claims.map((c) => ({
  channelId: computeChannelId(c.voucher.channel, NETWORK),
  maxClaimableAmount: BigInt(c.voucher.maxClaimableAmount),
  totalClaimed: BigInt(c.totalClaimed),
}));
const { payload: deposit } = await createBatchSettlementEIP3009DepositPayload(
  payer,
  2,
  requirements,
  config,
  env("QUITTANCE_SDK_DEPOSIT"),
  voucherAmount,
);
report({
  step: "sdk",
  config,
  channelId,
  voucher,
  voucherDigest: hashTypedData({
    domain,
    types: voucherTypes,
    primaryType: "Voucher",
    message: { channelId, maxClaimableAmount: BigInt(voucherAmount) },
  }),
  refundDigest: hashTypedData({ domain, types: refundTypes, primaryType: "Refund", message: refund }),
  refundSignature: await authorizer.signTypedData({ domain, types: refundTypes, primaryType: "Refund", message: refund }),
  claimBatchDigest: hashTypedData({ domain, types: claimBatchTypes, primaryType: "ClaimBatch", message: { claims } }),
  deposit,
});

// Us → SDK.
report({
  step: "guards",
  deposit: isBatchSettlementDepositPayload(ours.deposit.payload),
  voucher: isBatchSettlementVoucherPayload(ours.voucher.payload),
  refund: isBatchSettlementRefundPayload(ours.refund.payload),
  claim: isBatchSettlementClaimPayload(ours.claim.payload),
  settle: isBatchSettlementSettlePayload(ours.settle.payload),
  enrichedRefund: isBatchSettlementEnrichedRefundPayload(ours.enrichedRefund.payload),
});
const wallet = walletClient(facilitatorKey);
const signer = toFacilitatorEvmSigner({ ...wallet, address: facilitatorKey.address }, { confirmationTimeoutMs: 30_000 });
const facilitator = new BatchFacilitator(signer);
const settled = (step, response) =>
  report({
    step,
    success: response.success,
    errorReason: response.errorReason ?? null,
    errorMessage: response.errorMessage ?? null,
    amount: response.amount ?? null,
    extra: response.extra ?? null,
  });
report({ step: "verifyDeposit", ...(await facilitator.verify(ours.deposit, requirements)) });
settled("settleDeposit", await facilitator.settle(ours.deposit, requirements));
report({ step: "verifyVoucher", ...(await facilitator.verify(ours.voucher, requirements)) });
settled("claim", await facilitator.settle(ours.claim, requirements));
settled("settle", await facilitator.settle(ours.settle, requirements));
report({ step: "verifyRefund", ...(await facilitator.verify(ours.refund, requirements)) });
settled("refund", await facilitator.settle(ours.enrichedRefund, requirements));
