"""A paid MCP server made with the official x402 Python SDK (x402.mcp.create_payment_wrapper on FastMCP),
settled through an x402 facilitator over HTTP, served over streamable HTTP on a loopback port.

Environment: FACILITATOR_URL, NETWORK (CAIP-2), TOKEN (the EIP-3009 token, EIP-712 name "USD Coin", version
"2"), PAY_TO, PRICE (in the token's smallest unit). Paid tools: "report" and "forecast". Prints
{"step": "ready", "url": ...} once it serves, then {"step": "ran", "tool": ...} each time a paid tool runs.
"""

import asyncio
import json
import os
import socket

import uvicorn
from mcp.server.fastmcp import FastMCP
from x402 import x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.mcp import create_payment_wrapper
from x402.mechanisms.evm.exact import ExactEvmServerScheme
from x402.schemas import PaymentRequirements, ResourceInfo


def report(**fields):
    print(json.dumps(fields), flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def main():
    network = os.environ["NETWORK"]
    resource_server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=os.environ["FACILITATOR_URL"])))
    resource_server.register(network, ExactEvmServerScheme())
    resource_server.initialize()
    accepts = [
        PaymentRequirements(
            scheme="exact",
            network=network,
            asset=os.environ["TOKEN"],
            amount=os.environ["PRICE"],
            pay_to=os.environ["PAY_TO"],
            max_timeout_seconds=120,
            extra={"name": "USD Coin", "version": "2"},
        )
    ]
    port = free_port()
    server = FastMCP("x402-python-weather", host="127.0.0.1", port=port)

    def paid(name):
        return create_payment_wrapper(
            resource_server,
            accepts=accepts,
            resource=ResourceInfo(url=f"mcp://tool/{name}", description=f"the {name}", mime_type="application/json"),
        )

    @server.tool(name="report", description="a weather report")
    @paid("report")
    async def report_tool(city: str) -> str:
        report(step="ran", tool="report")
        return json.dumps({"report": f"sunny in {city}"})

    @server.tool(name="forecast", description="a forecast")
    @paid("forecast")
    async def forecast_tool(city: str) -> str:
        report(step="ran", tool="forecast")
        return json.dumps({"forecast": f"rain in {city}"})

    config = uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")
    http = uvicorn.Server(config)
    serving = asyncio.create_task(http.serve())
    while not http.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.05)
    report(step="ready", url=f"http://127.0.0.1:{port}/mcp")
    await serving


if __name__ == "__main__":
    asyncio.run(main())
