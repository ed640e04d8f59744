// Compares the ABIs of Quittance's Permit2 proxies (crates/bindings/artifacts) with the official SDK's
// x402ExactPermit2ProxyABI and x402UptoPermit2ProxyABI: the same functions, events and errors, with the same
// names, parameter names, types and mutability. Solidity's internal type names and the constructor (the
// SDK's ABI has none) are left out. Prints what differs and exits 1, or prints "same" and exits 0.
import { readFileSync } from 'node:fs';
import { x402ExactPermit2ProxyABI, x402UptoPermit2ProxyABI } from '@x402/evm';

const strip = (params = []) =>
  params.map((p) => ({ name: p.name, type: p.type, ...(p.components ? { components: strip(p.components) } : {}) }));
const canonical = (abi) =>
  abi
    .filter((item) => item.type !== 'constructor')
    .map((item) => JSON.stringify({
      type: item.type,
      name: item.name,
      inputs: strip(item.inputs),
      ...(item.type === 'function' ? { outputs: strip(item.outputs), stateMutability: item.stateMutability } : {}),
      ...(item.type === 'event' ? { anonymous: !!item.anonymous } : {}),
    }))
    .sort();

let differs = false;
for (const [name, sdk] of [['X402ExactPermit2Proxy', x402ExactPermit2ProxyABI], ['X402UptoPermit2Proxy', x402UptoPermit2ProxyABI]]) {
  const ours = JSON.parse(readFileSync(new URL(`../crates/bindings/artifacts/${name}.json`, import.meta.url))).abi;
  const [a, b] = [canonical(ours), canonical(sdk)];
  for (const item of a.filter((x) => !b.includes(x))) { differs = true; console.log(`${name}: only ours: ${item}`); }
  for (const item of b.filter((x) => !a.includes(x))) { differs = true; console.log(`${name}: only the SDK's: ${item}`); }
}
console.log(differs ? 'different' : 'same');
process.exitCode = differs ? 1 : 0;
