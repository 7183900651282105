"""Serving the console: its static files, and its one page at the address of every object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["ASSETS_PATH", "PAGE_PATHS", "SECTIONS", "HeaderedFiles", "router"]

STATIC = Path(__file__).parent / "static"
ASSETS_PATH = "/assets"

SECTIONS = (
    "runs",
    "sessions",
    "agents",
    "approvals",
    "routines",
    "webhooks",
    "usage",
    "keys",
    "server",
)
"""The first part of each address the console shows a page at (`/runs/run_…`)."""

PAGE_PATHS = ("/", *(f"/{s}" for s in SECTIONS), *(f"/{s}/{{rest:path}}" for s in SECTIONS))

# The console runs agents' words through no HTML parser, and this policy makes sure nothing it
# did not ship runs: no inline script, no other origin, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Unversioned file names: browsers keep them, but check each time (a 304 when unchanged).
    "Cache-Control": "no-cache",
}


class HeaderedFiles(StaticFiles):
    """Static files served with the security headers of the pages that load them."""

    def __init__(self, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._headers = headers

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file, with the headers."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(self._headers)
        return response


router = APIRouter(include_in_schema=False)
router.mount(ASSETS_PATH, HeaderedFiles(SECURITY_HEADERS, directory=STATIC), name="console-assets")


def _page_html() -> str:
    """`index.html`, naming every module up front so the browser fetches them all at once.

    Without the list it learns of each module only from the one importing it, a chain of
    round trips before the first page draws.
    """
    modules = sorted(path.relative_to(STATIC).as_posix() for path in STATIC.rglob("*.js"))
    preloads = "".join(
        f'    <link rel="modulepreload" href="{ASSETS_PATH}/{name}">\n' for name in modules
    )
    return (STATIC / "index.html").read_text().replace("  </head>", preloads + "  </head>", 1)


_PAGE = _page_html()


async def _page() -> Response:
    """The console's page: it reads the address and draws what lives there."""
    return HTMLResponse(_PAGE, headers=SECURITY_HEADERS)


for _path in PAGE_PATHS:
    router.add_api_route(_path, _page, methods=["GET"])
