// The local chain the interoperability tests run on, as viem sees it: anvil's chain id 31337 under the
// CAIP-2 name the SDK registers (`eip155:31337`), and the RPC URL from QUITTANCE_RPC_URL.
import { createPublicClient, createWalletClient, defineChain, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";

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
