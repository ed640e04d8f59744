// The official x402 client (`@x402/fetch` with `@x402/evm`'s exact scheme) buys one URL and reports the
// status, the decoded PAYMENT-RESPONSE and the body. Environment: QUITTANCE_RPC_URL, QUITTANCE_URL,
// QUITTANCE_AGENT_KEY, QUITTANCE_TOKEN.
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { NETWORK, account, env, report } from "./chain.mjs";

const client = new x402Client()
  .register(NETWORK, new ExactEvmScheme(account("QUITTANCE_AGENT_KEY")))
  // A local test token is not among the SDK's default assets: allow it by address.
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] });
const pay = wrapFetchWithPayment(fetch, client);

const response = await pay(env("QUITTANCE_URL"), { method: "GET" });
const header = response.headers.get("PAYMENT-RESPONSE");
report({
  status: response.status,
  paymentResponse: header ? decodePaymentResponseHeader(header) : null,
  body: await response.text(),
});
