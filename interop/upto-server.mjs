// An official x402 resource server (`@x402/express` with `@x402/evm`'s upto scheme): GET /report costs at
// most QUITTANCE_MAXIMUM units of QUITTANCE_TOKEN, paid to QUITTANCE_PAY_TO; its handler reports that the
// request used QUITTANCE_USAGE (`setSettlementOverrides`), which is what the facilitator at
// QUITTANCE_FACILITATOR_URL is asked to settle. Reports {"port": n} once listening.
import express from "express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddleware, setSettlementOverrides, x402ResourceServer } from "@x402/express";
import { UptoEvmScheme } from "@x402/evm/upto/server";
import { NETWORK, env, report } from "./chain.mjs";

const facilitator = new HTTPFacilitatorClient({ url: env("QUITTANCE_FACILITATOR_URL") });
const server = new x402ResourceServer(facilitator).register(NETWORK, new UptoEvmScheme());

const app = express();
app.use(
  paymentMiddleware(
    {
      "GET /report": {
        accepts: {
          scheme: "upto",
          network: NETWORK,
          payTo: env("QUITTANCE_PAY_TO"),
          price: {
            amount: env("QUITTANCE_MAXIMUM"),
            asset: env("QUITTANCE_TOKEN"),
            extra: { name: "USD Coin", version: "2" },
          },
          maxTimeoutSeconds: 120,
        },
        description: "Today's market report, metered",
        mimeType: "application/json",
      },
    },
    server,
  ),
);
app.get("/report", (_req, res) => {
  setSettlementOverrides(res, { amount: env("QUITTANCE_USAGE") });
  res.json({ report: "markets are up" });
});
const listener = app.listen(0, "127.0.0.1", () => report({ port: listener.address().port }));
