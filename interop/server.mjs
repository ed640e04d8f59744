// An official x402 resource server (`@x402/express` with `@x402/evm`'s exact scheme): GET /report costs
// QUITTANCE_PRICE units of QUITTANCE_TOKEN, paid to QUITTANCE_PAY_TO, verified and settled by the
// facilitator at QUITTANCE_FACILITATOR_URL, with the option's `extra` from QUITTANCE_EXTRA if set. Reports {"port": n} once listening.
import express from "express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { NETWORK, env, report } from "./chain.mjs";

// The option's `extra`: USDC's EIP-712 domain, or QUITTANCE_EXTRA (JSON: e.g. exact over Permit2).
const extra = process.env.QUITTANCE_EXTRA ? JSON.parse(process.env.QUITTANCE_EXTRA) : { name: "USD Coin", version: "2" };
const facilitator = new HTTPFacilitatorClient({ url: env("QUITTANCE_FACILITATOR_URL") });
const server = new x402ResourceServer(facilitator).register(NETWORK, new ExactEvmScheme());

const app = express();
app.use(
  paymentMiddleware(
    {
      "GET /report": {
        accepts: {
          scheme: "exact",
          network: NETWORK,
          payTo: env("QUITTANCE_PAY_TO"),
          price: { amount: env("QUITTANCE_PRICE"), asset: env("QUITTANCE_TOKEN"), extra },
          maxTimeoutSeconds: 120,
        },
        description: "Today's market report",
        mimeType: "application/json",
      },
    },
    server,
  ),
);
app.get("/report", (_req, res) => {
  res.json({ report: "markets are up" });
});
const listener = app.listen(0, "127.0.0.1", () => report({ port: listener.address().port }));
