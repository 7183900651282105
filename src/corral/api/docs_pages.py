"""`/docs` (Swagger UI) and `/redoc` (ReDoc): the API's description, browsable offline.

FastAPI's own pages load both from a CDN and start them with an inline script, so they are blank
on a server without internet access and need a policy that allows inline code. These pages load
everything from the server itself: the packaged files of `fastapi-offline` and a small start-up
script of ours beside this module, under a policy as strict as the two viewers allow (they set
styles at run time, and ReDoc searches in a worker it builds from a `blob:`).
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from corral.console.routes import ASSETS_PATH as CONSOLE_ASSETS_PATH
from corral.console.routes import HeaderedFiles

__all__ = ["ASSETS_PATH", "DOCS_PATH", "REDOC_PATH", "SECURITY_HEADERS", "router"]

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"

_OURS = Path(__file__).parent / "docs_static"
_VIEWERS = ("fastapi_offline", "static")
"""The package and folder holding `swagger-ui-bundle.js`, `swagger-ui.css` and ReDoc's bundle."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
"""The pages' headers: only the server's own scripts run, and nothing frames them."""


router = APIRouter(include_in_schema=False)
router.mount(
    ASSETS_PATH,
    HeaderedFiles(SECURITY_HEADERS, directory=_OURS, packages=[_VIEWERS]),
    name="docs-assets",
)


def _page(
    request: Request, *, title: str, root_id: str, styles: tuple[str, ...], scripts: tuple[str, ...]
) -> HTMLResponse:
    """A page that loads `styles` and `scripts` (asset names) and draws the app's document."""
    openapi_url = html.escape(str(request.app.openapi_url), quote=True)
    links = "".join(f'  <link rel="stylesheet" href="{ASSETS_PATH}/{s}">\n' for s in styles)
    loads = "".join(f'  <script src="{ASSETS_PATH}/{s}"></script>\n' for s in scripts)
    body = (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n'
        '  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"  <title>{html.escape(title)}</title>\n"
        f'  <link rel="icon" href="{CONSOLE_ASSETS_PATH}/icon.svg" type="image/svg+xml">\n'
        f"{links}</head>\n<body>\n"
        f'  <div id="{root_id}" data-openapi-url="{openapi_url}"></div>\n'
        f"{loads}</body>\n</html>\n"
    )
    return HTMLResponse(body, headers=SECURITY_HEADERS)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, with its schemas, to try out with a key (Authorize)."""
    return _page(
        request,
        title=f"{request.app.title} API",
        root_id="swagger-ui",
        styles=("swagger-ui.css",),
        scripts=("swagger-ui-bundle.js", "swagger.js"),
    )


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the same document, as a reference to read."""
    return _page(
        request,
        title=f"{request.app.title} API reference",
        root_id="redoc",
        styles=(),
        scripts=("redoc.standalone.js", "redoc.js"),
    )
