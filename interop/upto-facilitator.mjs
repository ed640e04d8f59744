// The official x402 facilitator (`@x402/core` with `@x402/evm`'s upto scheme) as an HTTP service:
// POST /verify, POST /settle, GET /supported (which names its account in `extra.facilitatorAddress`).
// Settles on the local chain with its own key. Environment: QUITTANCE_RPC_URL, QUITTANCE_FACILITATOR_KEY.
// Reports {"port": n} once listening.
import express from "express";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { UptoEvmScheme } from "@x402/evm/upto/facilitator";
import { NETWORK, account, report, walletClient } from "./chain.mjs";

const signer = account("QUITTANCE_FACILITATOR_KEY");
const wallet = walletClient(signer);
const facilitator = new x402Facilitator().register(
  NETWORK,
  new UptoEvmScheme(toFacilitatorEvmSigner({ ...wallet, address: signer.address }, { confirmationTimeoutMs: 30_000 })),
);

const app = express();
app.use(express.json());
app.post("/verify", async (req, res) => {
  res.json(await facilitator.verify(req.body.paymentPayload, req.body.paymentRequirements));
});
app.post("/settle", async (req, res) => {
  res.json(await facilitator.settle(req.body.paymentPayload, req.body.paymentRequirements));
});
app.get("/supported", (_req, res) => {
  res.json(facilitator.getSupported());
});
const listener = app.listen(0, "127.0.0.1", () => report({ port: listener.address().port }));
