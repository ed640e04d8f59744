// The official SDK's batch-settlement client and facilitator (`@x402/evm` 2.27) against Quittance's
// BatchSettlement contract installed at the canonical address: the client signs a deposit through the ERC-3009
// collector with its first voucher, the facilitator verifies and settles it on chain, then claims the voucher
// (`claimWithSignature`, its own receiver-authorizer signature) and sweeps the receiver's claims (`settle`).
// A replayed deposit is then refused. Environment: QUITTANCE_RPC_URL, QUITTANCE_PAYER_KEY,
// QUITTANCE_FACILITATOR_KEY (also the receiver authorizer), QUITTANCE_TOKEN, QUITTANCE_RECEIVER,
// QUITTANCE_DEPOSIT, QUITTANCE_VOUCHER. Reports one line per step.
import { toFacilitatorEvmSigner } from "@x402/evm";
import { computeChannelId, createBatchSettlementEIP3009DepositPayload } from "@x402/evm/batch-settlement/client";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/facilitator";
import { NETWORK, account, env, report, walletClient } from "./chain.mjs";

const payer = account("QUITTANCE_PAYER_KEY");
const facilitatorKey = account("QUITTANCE_FACILITATOR_KEY");
const wallet = walletClient(facilitatorKey);
const signer = toFacilitatorEvmSigner({ ...wallet, address: facilitatorKey.address }, { confirmationTimeoutMs: 30_000 });
const facilitator = new BatchSettlementEvmScheme(signer, facilitatorKey);

const requirements = {
  scheme: "batch-settlement",
  network: NETWORK,
  asset: env("QUITTANCE_TOKEN"),
  amount: env("QUITTANCE_VOUCHER"),
  payTo: env("QUITTANCE_RECEIVER"),
  maxTimeoutSeconds: 300,
  extra: { name: "USD Coin", version: "2", receiverAuthorizer: facilitatorKey.address, withdrawDelay: 900 },
};
const config = {
  payer: payer.address,
  payerAuthorizer: payer.address,
  receiver: requirements.payTo,
  receiverAuthorizer: facilitatorKey.address,
  token: requirements.asset,
  withdrawDelay: 900,
  salt: `0x${"11".repeat(32)}`,
};
const { payload } = await createBatchSettlementEIP3009DepositPayload(
  payer,
  2,
  requirements,
  config,
  env("QUITTANCE_DEPOSIT"),
  env("QUITTANCE_VOUCHER"),
);
const envelope = { x402Version: 2, accepted: requirements, payload };
report({ step: "channel", channelId: computeChannelId(config, NETWORK) });
report({ step: "verify", ...(await facilitator.verify(envelope, requirements)) });
const deposit = await facilitator.settle(envelope, requirements);
report({ step: "deposit", success: deposit.success, errorReason: deposit.errorReason ?? null });

const claim = {
  type: "claim",
  claims: [
    {
      voucher: { channel: config, maxClaimableAmount: payload.voucher.maxClaimableAmount },
      signature: payload.voucher.signature,
      totalClaimed: payload.voucher.maxClaimableAmount,
    },
  ],
};
const claimed = await facilitator.settle({ ...envelope, payload: claim }, requirements);
report({ step: "claim", success: claimed.success, errorReason: claimed.errorReason ?? null });
const settle = { type: "settle", receiver: requirements.payTo, token: requirements.asset };
const settled = await facilitator.settle({ ...envelope, payload: settle }, requirements);
report({ step: "settle", success: settled.success, errorReason: settled.errorReason ?? null });

const replay = await facilitator.verify(envelope, requirements);
report({ step: "replay", isValid: replay.isValid, invalidReason: replay.invalidReason ?? null });
