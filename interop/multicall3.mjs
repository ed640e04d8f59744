// Puts Multicall3 at its canonical address on the local chain (anvil_setCode), as every public chain has
// it: the SDK's facilitator uses it to explain failed verifications. Environment: QUITTANCE_RPC_URL.
import { readFileSync } from "node:fs";
import { publicClient, report } from "./chain.mjs";

// viem ships Multicall3's creation code without exporting it.
const constants = readFileSync(new URL("../node_modules/viem/_esm/constants/contracts.js", import.meta.url), "utf8");
const multicall3Bytecode = constants.match(/multicall3Bytecode = '(0x[0-9a-f]+)'/)[1];

// The creation code copies the runtime code (0x15b9 bytes at offset 0x20) and returns it.
const runtime = `0x${multicall3Bytecode.slice(2 + 0x20 * 2, 2 + (0x20 + 0x15b9) * 2)}`;
const address = "0xcA11bde05977b3631167028862bE2a173976CA11";
const client = publicClient();
await client.request({ method: "anvil_setCode", params: [address, runtime] });
const code = await client.getCode({ address });
if (code !== runtime) {
  throw new Error("Multicall3 was not installed");
}
report({ multicall3: address });
