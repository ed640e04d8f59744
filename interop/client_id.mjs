// The official x402 client with `@x402/extensions`' payment-identifier: it pays one URL with an id, sends
// the same payment again as a client does when the first answer is lost, then a second payment under the
// same id. Reports the three answers. Environment: QUITTANCE_RPC_URL, QUITTANCE_URL, QUITTANCE_AGENT_KEY,
// QUITTANCE_TOKEN.
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  encodePaymentSignatureHeader,
} from "@x402/core/http";
import { x402Client } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import {
  PAYMENT_IDENTIFIER,
  appendPaymentIdentifierToExtensions,
  generatePaymentId,
} from "@x402/extensions/payment-identifier";
import { NETWORK, account, env, report } from "./chain.mjs";

const id = generatePaymentId();
const client = new x402Client()
  .register(NETWORK, new ExactEvmScheme(account("QUITTANCE_AGENT_KEY")))
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] })
  .registerExtension({
    key: PAYMENT_IDENTIFIER,
    enrichPaymentPayload: async (payload) => ({
      ...payload,
      extensions: appendPaymentIdentifierToExtensions(structuredClone(payload.extensions ?? {}), id),
    }),
  });

const url = env("QUITTANCE_URL");
const offer = await fetch(url);
const paymentRequired = decodePaymentRequiredHeader(offer.headers.get("PAYMENT-REQUIRED"));

async function send(payload) {
  const response = await fetch(url, { headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
  const header = response.headers.get("PAYMENT-RESPONSE");
  return {
    status: response.status,
    paymentResponse: header ? decodePaymentResponseHeader(header) : null,
    body: await response.text(),
  };
}

const payment = await client.createPaymentPayload(paymentRequired);
const first = await send(payment);
const retry = await send(payment);
const other = await send(await client.createPaymentPayload(paymentRequired));
report({
  offered: paymentRequired.extensions?.[PAYMENT_IDENTIFIER] ?? null,
  id,
  echoed: payment.extensions?.[PAYMENT_IDENTIFIER]?.info?.id ?? null,
  first,
  retry,
  other: { status: other.status, body: other.body },
});
