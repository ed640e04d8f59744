// The official x402 client with `@x402/evm`'s batch-settlement scheme (`@x402/fetch` driving it, its hooks
// keeping the channel): it pays QUITTANCE_URL QUITTANCE_REQUESTS times (the first opens the channel with a
// deposit, the rest send vouchers; a client that starts without the channel's state resyncs from the
// server's corrective 402), then sends the last payment again as a replay, and with QUITTANCE_REFUND=1 asks
// for the rest of its deposit back (the client's cooperative `refund`). Reports one line: each answer
// (status, decoded PAYMENT-RESPONSE or PAYMENT-REQUIRED, body, the payload types sent), the replay's, and the
// refund's settlement. Environment: QUITTANCE_RPC_URL, QUITTANCE_URL, QUITTANCE_PAYER_KEY, QUITTANCE_TOKEN,
// QUITTANCE_REQUESTS, QUITTANCE_REFUND (optional).
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  decodePaymentSignatureHeader,
} from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { NETWORK, account, env, publicClient, report } from "./chain.mjs";

const signer = toClientEvmSigner(account("QUITTANCE_PAYER_KEY"), publicClient());
const scheme = new BatchSettlementEvmScheme(signer);
const client = new x402Client()
  .register(NETWORK, scheme)
  // A local test token is not among the SDK's default assets: allow it by address.
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] });

// Every payment header sent, to replay the last one and to report what each request carried.
const sent = [];
async function recording(input, init) {
  const request = new Request(input, init);
  const header = request.headers.get("PAYMENT-SIGNATURE");
  if (header) {
    sent.push(header);
  }
  return fetch(request);
}
const pay = wrapFetchWithPayment(recording, client);

async function describe(response, headers) {
  const settled = response.headers.get("PAYMENT-RESPONSE");
  const required = response.headers.get("PAYMENT-REQUIRED");
  return {
    status: response.status,
    paymentResponse: settled ? decodePaymentResponseHeader(settled) : null,
    paymentRequired: required ? decodePaymentRequiredHeader(required) : null,
    body: await response.text(),
    sent: headers.map((h) => {
      const payload = decodePaymentSignatureHeader(h).payload;
      return { type: payload.type, maxClaimableAmount: payload.voucher?.maxClaimableAmount ?? null };
    }),
  };
}

const url = env("QUITTANCE_URL");
const answers = [];
for (let i = 0; i < Number(env("QUITTANCE_REQUESTS")); i++) {
  const before = sent.length;
  const response = await pay(url);
  answers.push(await describe(response, sent.slice(before)));
}
const last = sent[sent.length - 1];
const replayed = await fetch(url, { headers: { "PAYMENT-SIGNATURE": last } });
const replay = await describe(replayed, [last]);
const refund = process.env.QUITTANCE_REFUND === "1" ? await scheme.refund(url) : null;
report({ answers, replay, refund });
