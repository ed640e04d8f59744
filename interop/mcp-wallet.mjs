// The official MCP TypeScript SDK's client (@modelcontextprotocol/sdk) drives `quittance mcp` over stdio:
// lists its tools, fetches a paid URL within the wallet's policy and one beyond it, calls a paid MCP tool of
// another server (TOOL_SERVER, streamable HTTP), reads the spend report,
// what is in doubt and the balances, and tries a tool that does not exist. Prints one line of JSON.
//
// Environment: QUITTANCE_BIN (the quittance binary), WALLET_ARGS (JSON array of its arguments after `mcp`),
// PAID_URL, EXPENSIVE_URL, TOOL_SERVER, and the wallet's key in the variable its arguments name.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const transport = new StdioClientTransport({
  command: process.env.QUITTANCE_BIN,
  args: ["mcp", ...JSON.parse(process.env.WALLET_ARGS)],
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "quittance-interop-wallet", version: "1.0.0" });
await client.connect(transport);
const tools = (await client.listTools()).tools.map((tool) => tool.name);
const within = await client.callTool({ name: "fetch", arguments: { url: process.env.PAID_URL } });
const beyond = await client.callTool({ name: "fetch", arguments: { url: process.env.EXPENSIVE_URL } });
const tool = await client.callTool({
  name: "call_paid_tool",
  arguments: { server_url: process.env.TOOL_SERVER, tool: "report", arguments: { city: "Lisbon" } },
});
const report = await client.callTool({ name: "spend_report", arguments: {} });
const doubt = await client.callTool({ name: "in_doubt", arguments: {} });
const balances = await client.callTool({ name: "balances", arguments: {} });
let unknown;
try {
  unknown = await client.callTool({ name: "set_policy", arguments: { budget: "1000" } });
} catch (error) {
  unknown = { error: String(error) };
}
console.log(JSON.stringify({ tools, within, beyond, tool, report, doubt, balances, unknown }));
await client.close();
