"""The official x402 Python SDK's MCP client (x402.mcp.x402MCPSession) pays a paid MCP tool over streamable HTTP.

Environment: MCP_URL (the server's streamable HTTP endpoint), AGENT_KEY (hex private key), NETWORK (CAIP-2),
TOKEN and PRICE (the spend control: that token, at most that price), TOOL and OTHER_TOOL (two paid tools). Prints one line of JSON per step:
  {"step": "paid", ...}    the official flow: probe, pay, retry with the payment in _meta["x402/payment"];
  {"step": "replay", ...}  the same payment sent again for the same tool;
  {"step": "other", ...}   the same payment sent for another tool.
"""

import asyncio
import json
import os
import sys

from eth_account import Account
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from x402 import x402Client
from x402.mcp import MCP_PAYMENT_META_KEY, x402MCPSession
from x402.mechanisms.evm.exact import ExactEvmClientScheme


def report(**fields):
    print(json.dumps(fields, default=str), flush=True)


def summary(result):
    text = [getattr(item, "text", None) for item in (result.content or [])]
    meta = dict(result.meta or {}) if getattr(result, "meta", None) else {}
    return {
        "isError": bool(result.isError),
        "text": text[0] if text else None,
        "structured": result.structuredContent,
        "receipt": meta.get("x402/payment-response"),
    }


async def main():
    account = Account.from_key(os.environ["AGENT_KEY"])
    payments = []
    client = x402Client()
    client.register(os.environ["NETWORK"], ExactEvmClientScheme(account))
    # The test token is no default asset of the SDK's: allowed by name, capped at the price.
    client.set_spend_controls(
        {"allowed_assets": [{"network": os.environ["NETWORK"], "asset": os.environ["TOKEN"],
                             "max_amount_per_payment": os.environ["PRICE"]}]}
    )
    client.on_after_payment_creation(lambda context: payments.append(context.payment_payload))
    arguments = {"city": "Lisbon"}
    async with streamablehttp_client(os.environ["MCP_URL"]) as (read, write, _):
        async with ClientSession(read, write) as session:
            paying = x402MCPSession(session, client)
            await paying.initialize()
            paid = await paying.call_tool(os.environ["TOOL"], arguments)
            receipt = paid.payment_response
            if hasattr(receipt, "model_dump"):
                receipt = receipt.model_dump(by_alias=True)
            text = [getattr(item, "text", None) for item in paid.content]
            report(step="paid", made=paid.payment_made, isError=paid.is_error, text=text[0] if text else None,
                   receipt=receipt, payer=account.address)
            if not payments:
                report(step="error", message="no payment was created")
                return
            payment = payments[-1].model_dump(by_alias=True, exclude_none=True)
            again = await session.call_tool(os.environ["TOOL"], arguments, meta={MCP_PAYMENT_META_KEY: payment})
            report(step="replay", **summary(again))
            other = await session.call_tool(os.environ["OTHER_TOOL"], arguments, meta={MCP_PAYMENT_META_KEY: payment})
            report(step="other", **summary(other))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as error:  # reported, so that the test shows why
        report(step="error", message=repr(error))
        sys.exit(1)
