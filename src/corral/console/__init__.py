"""The web console: pages in the browser that use the public API like any other client.

The server only hands out files here; everything the console shows, it reads from `/v1` with the
key the person signed in with, so it can never see more than that key may.
"""

from __future__ import annotations

from corral.console.routes import PAGE_PATHS, router

__all__ = ["PAGE_PATHS", "router"]
