// The official x402 client with `@x402/evm`'s upto scheme: it asks QUITTANCE_URL for its price, signs one
// Permit2 permit of the maximum (to the facilitator the 402 names; reading the chain at QUITTANCE_RPC_URL, it
// adds an EIP-2612 permit when it has no allowance and the server offers `eip2612GasSponsoring`), sends it,
// then sends the same payment again to QUITTANCE_REPLAY_URL (QUITTANCE_URL when unset), as a replay. Reports one line: the offer, the
// payment, and both answers (status, decoded PAYMENT-RESPONSE or PAYMENT-REQUIRED, body).
// Environment: QUITTANCE_RPC_URL, QUITTANCE_URL, QUITTANCE_PAYER_KEY, QUITTANCE_TOKEN.
import { x402Client } from "@x402/fetch";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { NETWORK, account, env, payAndReplay } from "./chain.mjs";

const client = new x402Client()
  .register(NETWORK, new UptoEvmScheme(account("QUITTANCE_PAYER_KEY"), { rpcUrl: env("QUITTANCE_RPC_URL") }))
  // A local test token is not among the SDK's default assets: allow it by address.
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] });

await payAndReplay(client);
