// Drives headless Chromium over the DevTools protocol for the paywall page test (browser.rs): opens
// PAGE_URL with a test EIP-1193 wallet injected (window.ethereum, answered here and signing with viem and
// PAYER_KEY), reads the price, clicks "Pay with wallet", and prints what the page ends with as JSON.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { privateKeyToAccount } from "viem/accounts";

// WRONG_VALUE: a faulty wallet that signs this value instead of the one the page asked for.
const { PAGE_URL, PAYER_KEY, CHAIN_ID, CHROMIUM = "chromium", WRONG_VALUE } = process.env;
const account = privateKeyToAccount(PAYER_KEY);
const profile = mkdtempSync(join(tmpdir(), "quittance-chromium-"));
const browser = spawn(CHROMIUM, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"], { stdio: ["ignore", "ignore", "pipe"] });
const exited = new Promise((resolve) => browser.on("exit", resolve));
async function finish(code) {
  browser.kill();
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
  try { rmSync(profile, { recursive: true, force: true }); } catch { /* a temporary directory left behind */ }
  process.exit(code);
}
const fail = (message) => { console.error(message); finish(1); };
setTimeout(() => fail("timed out driving Chromium"), 60000).unref();

const endpoint = await new Promise((resolve, reject) => {
  let seen = "";
  browser.stderr.on("data", (chunk) => {
    seen += chunk;
    const found = seen.match(/DevTools listening on (ws:\/\/\S+)/);
    if (found) resolve(found[1]);
  });
  browser.on("exit", (code) => reject(new Error(`chromium exited (${code}): ${seen}`)));
}).catch((e) => fail(e.message));

const ws = new WebSocket(endpoint);
await new Promise((resolve) => ws.on("open", resolve));
let next = 0;
const waiting = new Map();
const listeners = [];
ws.on("message", (data) => {
  const message = JSON.parse(data);
  if (message.id !== undefined && waiting.has(message.id)) {
    const { resolve, reject } = waiting.get(message.id);
    waiting.delete(message.id);
    message.error ? reject(new Error(JSON.stringify(message.error))) : resolve(message.result);
  } else listeners.forEach((listener) => listener(message));
});
const send = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
  const id = ++next;
  waiting.set(id, { resolve, reject });
  ws.send(JSON.stringify({ id, method, params, sessionId }));
});

const { targetId } = await send("Target.createTarget", { url: "about:blank" });
const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
const page = (method, params) => send(method, params, sessionId);
const evaluate = async (expression) =>
  (await page("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true })).result.value;

// The wallet, in the page: every request goes to this script through a binding, answered by `answer`.
const signed = [];
async function answer(method, params) {
  const chainId = "0x" + BigInt(CHAIN_ID).toString(16);
  switch (method) {
    case "eth_requestAccounts":
    case "eth_accounts":
      return [account.address.toLowerCase()]; // as wallets often answer: the page checksums it
    case "eth_chainId":
      return chainId;
    case "wallet_switchEthereumChain":
      if (params[0].chainId !== chainId) throw new Error("unknown chain");
      return null;
    case "eth_signTypedData_v4": {
      const typed = JSON.parse(params[1]);
      signed.push(typed);
      const { EIP712Domain, ...types } = typed.types;
      const message = { ...typed.message };
      for (const field of types[typed.primaryType]) if (field.type.startsWith("uint")) message[field.name] = BigInt(message[field.name]);
      if (WRONG_VALUE) message.value = BigInt(WRONG_VALUE);
      return account.signTypedData({ domain: typed.domain, types, primaryType: typed.primaryType, message });
    }
    default:
      throw new Error(`unsupported ${method}`);
  }
}
listeners.push(async (message) => {
  if (message.method !== "Runtime.bindingCalled" || message.params.name !== "quittanceWallet") return;
  const { id, method, params } = JSON.parse(message.params.payload);
  let settle;
  try {
    settle = `window.__wallet[${JSON.stringify(id)}].resolve(${JSON.stringify(await answer(method, params))})`;
  } catch (e) {
    settle = `window.__wallet[${JSON.stringify(id)}].reject(new Error(${JSON.stringify(e.message)}))`;
  }
  await page("Runtime.evaluate", { expression: settle });
});
await page("Runtime.enable");
await page("Runtime.addBinding", { name: "quittanceWallet" });
await page("Page.enable");
await page("Page.addScriptToEvaluateOnNewDocument", {
  source: `window.__wallet = {}; let __n = 0;
    window.ethereum = { request: ({ method, params }) => new Promise((resolve, reject) => {
      const id = String(++__n); window.__wallet[id] = { resolve, reject };
      window.quittanceWallet(JSON.stringify({ id, method, params: params || [] }));
    }) };`,
});
const loaded = new Promise((resolve) => listeners.push((m) => m.method === "Page.loadEventFired" && resolve()));
await page("Page.navigate", { url: PAGE_URL });
await loaded;

const before = await evaluate(`({ price: document.getElementById("price").textContent,
  description: document.getElementById("description").textContent, title: document.title })`);
await evaluate(`document.getElementById("pay").click()`);
let after;
for (let i = 0; i < 200; i++) {
  after = await evaluate(`({ status: document.getElementById("status").textContent,
    content: document.getElementById("content").hidden ? null : document.getElementById("content").textContent })`);
  if (after.content !== null || after.status.startsWith("Not paid")) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(JSON.stringify({ ...before, ...after, signed }));
ws.close();
await finish(0);
