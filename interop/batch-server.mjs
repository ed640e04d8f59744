// An official x402 resource server (`@x402/express` with `@x402/evm`'s batch-settlement scheme) settled by the
// official batch-settlement facilitator (`@x402/core`'s x402Facilitator, in this process, its key also the
// receiver authorizer it advertises), or by the facilitator at QUITTANCE_FACILITATOR_URL when set: GET /meter costs QUITTANCE_PRICE units of QUITTANCE_TOKEN, paid to
// QUITTANCE_PAY_TO with vouchers over a deposit; its handler answers {"run": n}, counting its runs. POST
// /claim has the server's channel manager claim every voucher and sweep (`claimAndSettle`) and answers
// what it did. Environment: QUITTANCE_RPC_URL, QUITTANCE_FACILITATOR_KEY or QUITTANCE_FACILITATOR_URL,
// QUITTANCE_PAY_TO, QUITTANCE_TOKEN, QUITTANCE_PRICE. Reports {"port": n} once listening.
import express from "express";
import { x402Facilitator } from "@x402/core/facilitator";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as FacilitatorScheme } from "@x402/evm/batch-settlement/facilitator";
import { BatchSettlementEvmScheme as ServerScheme } from "@x402/evm/batch-settlement/server";
import { NETWORK, account, env, report, walletClient } from "./chain.mjs";

function officialFacilitator() {
  const key = account("QUITTANCE_FACILITATOR_KEY");
  const wallet = walletClient(key);
  const official = new x402Facilitator().register(
    NETWORK,
    new FacilitatorScheme(toFacilitatorEvmSigner({ ...wallet, address: key.address }, { confirmationTimeoutMs: 30_000 }), key),
  );
  // The facilitator in this process, as the server's facilitator client.
  return {
    verify: (payload, requirements) => official.verify(payload, requirements),
    settle: (payload, requirements) => official.settle(payload, requirements),
    getSupported: async () => official.getSupported(),
  };
}
const facilitator = process.env.QUITTANCE_FACILITATOR_URL
  ? new HTTPFacilitatorClient({ url: process.env.QUITTANCE_FACILITATOR_URL })
  : officialFacilitator();

const scheme = new ServerScheme(env("QUITTANCE_PAY_TO"), { withdrawDelay: 900 });
const server = new x402ResourceServer(facilitator).register(NETWORK, scheme);
const manager = scheme.createChannelManager(facilitator, NETWORK, env("QUITTANCE_TOKEN"));

let runs = 0;
const app = express();
app.post("/claim", async (_req, res) => {
  try {
    const done = await manager.claimAndSettle();
    res.json({ claims: done.claims, settle: done.settle ?? null });
  } catch (err) {
    res.status(500).json({ error: String(err) });
  }
});
app.use(
  paymentMiddleware(
    {
      "GET /meter": {
        accepts: {
          scheme: "batch-settlement",
          network: NETWORK,
          payTo: env("QUITTANCE_PAY_TO"),
          price: {
            amount: env("QUITTANCE_PRICE"),
            asset: env("QUITTANCE_TOKEN"),
            extra: { name: "USD Coin", version: "2" },
          },
          maxTimeoutSeconds: 120,
        },
        description: "a metered answer",
        mimeType: "application/json",
      },
    },
    server,
  ),
);
app.get("/meter", (_req, res) => {
  runs += 1;
  res.json({ run: runs });
});
const listener = app.listen(0, "127.0.0.1", () => report({ port: listener.address().port }));
