"""A streamable-HTTP MCP server for the tests, built with the official SDK.

Run as `python http_server.py FD TOKEN`: it serves on the listening socket inherited as file
descriptor FD (so the test picks the port without a race) and answers 401 to any request
without `Authorization: Bearer TOKEN`.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.responses import JSONResponse

server = MCPServer("corral-test-http", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return f"slept {seconds} s"


def require_token(app: Any, token: str) -> Any:
    """The ASGI app, behind a bearer-token check on every HTTP request."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            response = JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return guarded


if __name__ == "__main__":
    fd, token = int(sys.argv[1]), sys.argv[2]
    app = require_token(server.streamable_http_app(), token)
    uvicorn.run(app, fd=fd, log_level="warning")
