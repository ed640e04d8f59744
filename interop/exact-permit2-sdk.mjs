// The official SDK alone, on Quittance's local chain: the `exact` client scheme signs a Permit2 payment
// (`extra.assetTransferMethod: "permit2"`) and the `exact` facilitator scheme verifies and settles it through
// the x402ExactPermit2Proxy and Permit2 that Quittance installs at their canonical addresses; then settles it
// again (a replay) and verifies a tampered copy (recipient changed in the witness).
// Environment: QUITTANCE_RPC_URL, QUITTANCE_PAYER_KEY, QUITTANCE_FACILITATOR_KEY, QUITTANCE_TOKEN,
// QUITTANCE_PAY_TO, QUITTANCE_AMOUNT. Reports one JSON line {payload, verify, settle, replay, tampered}.
import { toFacilitatorEvmSigner } from "@x402/evm";
import { ExactEvmScheme as ClientScheme } from "@x402/evm/exact/client";
import { ExactEvmScheme as FacilitatorScheme } from "@x402/evm/exact/facilitator";
import { NETWORK, account, env, report, walletClient } from "./chain.mjs";

const requirements = {
  scheme: "exact",
  network: NETWORK,
  amount: env("QUITTANCE_AMOUNT"),
  asset: env("QUITTANCE_TOKEN"),
  payTo: env("QUITTANCE_PAY_TO"),
  maxTimeoutSeconds: 120,
  extra: { assetTransferMethod: "permit2", name: "Dollar", version: "1" },
};
const signed = await new ClientScheme(account("QUITTANCE_PAYER_KEY")).createPaymentPayload(2, requirements);
const payload = {
  x402Version: 2,
  resource: { url: "http://127.0.0.1/report" },
  accepted: requirements,
  payload: signed.payload,
};
const key = account("QUITTANCE_FACILITATOR_KEY");
const wallet = walletClient(key);
const facilitator = new FacilitatorScheme(
  toFacilitatorEvmSigner({ ...wallet, address: key.address }, { confirmationTimeoutMs: 30_000 }),
);
const tamperedPayload = structuredClone(payload);
tamperedPayload.payload.permit2Authorization.witness.to = key.address;
const tampered = await facilitator.verify(tamperedPayload, requirements);
const verify = await facilitator.verify(payload, requirements);
const settle = await facilitator.settle(payload, requirements);
const replay = await facilitator.settle(payload, requirements);
report({ payload, verify, settle, replay, tampered });
