// The official x402 client with `@x402/evm`'s auth-capture scheme: it asks QUITTANCE_URL for its price, signs
// one ReceiveWithAuthorization of the maximum to the canonical EIP-3009 token collector (its nonce binding the
// whole PaymentInfo, its salt bound to the route's receiver authorizer), sends it, then sends the same payment
// again to QUITTANCE_REPLAY_URL (QUITTANCE_URL when unset), as a replay. Reports one line: the offer, the
// payment, and both answers (status, decoded PAYMENT-RESPONSE or PAYMENT-REQUIRED, body).
// Environment: QUITTANCE_RPC_URL, QUITTANCE_URL, QUITTANCE_PAYER_KEY, QUITTANCE_TOKEN.
import { x402Client } from "@x402/fetch";
import { AuthCaptureEvmScheme } from "@x402/evm/auth-capture/client";
import { NETWORK, account, env, payAndReplay } from "./chain.mjs";

const client = new x402Client()
  .register(NETWORK, new AuthCaptureEvmScheme(account("QUITTANCE_PAYER_KEY")))
  // A local test token is not among the SDK's default assets: allow it by address.
  .setSpendControls({ allowedAssets: [{ network: NETWORK, asset: env("QUITTANCE_TOKEN") }] });

await payAndReplay(client);
