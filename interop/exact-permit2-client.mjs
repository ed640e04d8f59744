// The official x402 client (`@x402/fetch` with `@x402/evm`'s exact scheme, reading the chain at
// QUITTANCE_RPC_URL so that it can sign an EIP-2612 permit when the server offers `eip2612GasSponsoring`)
// buys one URL; reports the status, the decoded PAYMENT-RESPONSE, the body, and the payment it sent (so that
// the test can replay it). Environment: QUITTANCE_RPC_URL, QUITTANCE_URL, QUITTANCE_AGENT_KEY, QUITTANCE_TOKEN.
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { NETWORK, account, env, report } from "./chain.mjs";

const client = new x402Client()
  .register(NETWORK, new ExactEvmScheme(account("QUITTANCE_AGENT_KEY"), { rpcUrl: env("QUITTANCE_RPC_URL") }))
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] });
let sent = null;
const recording = async (input, init) => {
  const request = new Request(input, init);
  const header = request.headers.get("PAYMENT-SIGNATURE");
  if (header) {
    sent = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  }
  return fetch(request);
};
const pay = wrapFetchWithPayment(recording, client);

const response = await pay(env("QUITTANCE_URL"), { method: "GET" });
const header = response.headers.get("PAYMENT-RESPONSE");
report({
  status: response.status,
  paymentResponse: header ? decodePaymentResponseHeader(header) : null,
  body: await response.text(),
  payment: sent,
});
