"""An MCP server over stdio for the tests, built with the official SDK.

Run as `python stdio_server.py [MARKER]`; the marker only makes the process easy to find with
`pgrep -f`, so a test can prove that closing the connection leaves no process behind.
"""

from __future__ import annotations

import base64
import os
import sys

import anyio
from mcp import types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

server = MCPServer("corral-test-stdio", log_level="WARNING")

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def fail() -> str:
    """Always fail."""
    raise ToolError("the fail tool failed on purpose")


@server.tool()
def reject() -> str:
    """Answer tools/call with a JSON-RPC error instead of a tool result."""
    raise MCPError(code=types.INVALID_PARAMS, message="reject refuses every call")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return f"slept {seconds} s"


@server.tool()
def crash() -> str:
    """Exit the whole server at once, as a crashing server would."""
    sys.stderr.write("about to crash on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
def getenv(name: str) -> str:
    """The value of one environment variable of the server process."""
    return os.environ.get(name, "<unset>")


@server.tool()
def pid() -> int:
    """The server's process id, as the server sees it."""
    return os.getpid()


@server.tool()
def chart() -> list[types.ContentBlock]:
    """Answer with text, an image, an embedded resource and a resource link."""
    return [
        types.TextContent(type="text", text="sales are up"),
        types.ImageContent(type="image", data=PIXEL, mime_type="image/png"),
        types.EmbeddedResource(
            type="resource",
            resource=types.TextResourceContents(
                uri="file:///report.csv", mime_type="text/csv", text="month,sales\njan,3"
            ),
        ),
        types.ResourceLink(
            type="resource_link",
            uri="file:///full.pdf",
            name="full report",
            mime_type="application/pdf",
        ),
    ]


@server.tool(name="report.v2")
def report_v2() -> str:
    """A tool whose name is not a valid model tool name as it is."""
    return "report v2"


if __name__ == "__main__":
    server.run()
