// The local chain the interoperability tests run on, as viem sees it: anvil's chain id 31337 under the
// CAIP-2 name the SDK registers (`eip155:31337`), and the RPC URL from QUITTANCE_RPC_URL.
import { createPublicClient, createWalletClient, defineChain, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  encodePaymentSignatureHeader,
} from "@x402/core/http";

export const NETWORK = "eip155:31337";

export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

export const chain = defineChain({
  id: 31337,
  name: "anvil",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [env("QUITTANCE_RPC_URL")] } },
  contracts: { multicall3: { address: "0xcA11bde05977b3631167028862bE2a173976CA11" } },
});

export function account(keyVariable) {
  return privateKeyToAccount(env(keyVariable));
}

export function publicClient() {
  return createPublicClient({ chain, transport: http() });
}

export function walletClient(signer) {
  return createWalletClient({ account: signer, chain, transport: http() }).extend(publicActions);
}

/** Prints one line of JSON for the process that drives this script. */
export function report(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

// Pays QUITTANCE_URL once with `client` (an `x402Client`), then sends the same payment again to
// QUITTANCE_REPLAY_URL (QUITTANCE_URL when unset), as a replay, and reports one line: the offer, the payment,
// and both answers (status, decoded PAYMENT-RESPONSE or PAYMENT-REQUIRED, body).
export async function payAndReplay(client) {
  const send = async (url, payment) => {
    const response = await fetch(url, { headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payment) } });
    const settled = response.headers.get("PAYMENT-RESPONSE");
    const required = response.headers.get("PAYMENT-REQUIRED");
    return {
      status: response.status,
      paymentResponse: settled ? decodePaymentResponseHeader(settled) : null,
      paymentRequired: required ? decodePaymentRequiredHeader(required) : null,
      body: await response.text(),
    };
  };
  const url = env("QUITTANCE_URL");
  const offer = await fetch(url);
  const paymentRequired = decodePaymentRequiredHeader(offer.headers.get("PAYMENT-REQUIRED"));
  const payment = await client.createPaymentPayload(paymentRequired);
  const first = await send(url, payment);
  const replay = await send(process.env.QUITTANCE_REPLAY_URL ?? url, payment);
  report({ offered: paymentRequired.accepts, payment, first, replay });
}
