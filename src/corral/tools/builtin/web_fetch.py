"""web_fetch: fetch a URL for the model, where the run's network policy lets it go.

Every hop (redirects included) goes through the run's `EgressPolicy`: refused in networking mode
`none`, limited to the allowed hosts in `limited`, and never to a private, loopback, link-local,
metadata or this server's own address unless the operator listed the host. The policy connects to
the address it vetted, so a DNS answer that changes in between cannot redirect a request. Size
and total time are bounded.
"""

from __future__ import annotations

import asyncio
import html.parser
from typing import Annotated, ClassVar

import httpx
from pydantic import Field

from corral.sandbox.egress import EgressPolicy, EgressRefused
from corral.tools.base import ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool

MAX_BYTES = 5_000_000
TIMEOUT_S = 30.0
"""The whole fetch, redirects and body included, ends within this long."""
MAX_REDIRECTS = 5
USER_AGENT = "corral-web-fetch/1"


class _TextOfHtml(html.parser.HTMLParser):
    """The readable text of an HTML page: no scripts, styles or tags."""

    _SKIPPED = frozenset({"script", "style", "noscript", "template"})
    _BREAKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def html_to_text(page: str) -> str:
    """The text a reader would see of an HTML page."""
    parser = _TextOfHtml()
    parser.feed(page)
    parser.close()
    return parser.text()


class WebFetchArgs(Arguments):
    """Arguments of `web_fetch`."""

    url: Annotated[str, Field(min_length=1, max_length=8_000, pattern=r"^https?://")]
    """The http(s) URL to fetch."""
    raw: bool = False
    """Return HTML as it is instead of its text."""


class WebFetch(BuiltinTool[WebFetchArgs]):
    """Fetches a URL where the run's network policy allows."""

    name: ClassVar[str] = "web_fetch"
    description: ClassVar[str] = (
        "Fetch a public web page or file over HTTP(S) and return its text (HTML is converted). "
        "It follows the agent's networking rules; private addresses are refused."
    )
    arguments = WebFetchArgs
    needs_files: ClassVar[bool] = False
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: WebFetchArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        status, content_type, body, final_url = await fetch(args.url, egress=context.egress)
        text = body.decode("utf-8", errors="replace")
        if "html" in content_type and not args.raw:
            text = html_to_text(text)
        return f"{status} {final_url} ({content_type or 'unknown type'})\n\n{text}"


async def fetch(
    url: str,
    *,
    egress: EgressPolicy,
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
) -> tuple[int, str, bytes, str]:
    """GET `url` where `egress` allows: (status, content type, body, final URL).

    The whole fetch (every hop, the body included) ends within `timeout_s`, however slowly
    the server sends.
    """
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as error:  # idna raises UnicodeErrors
        raise ToolFailure(f"cannot fetch {url}: not a valid URL ({error})") from None
    try:
        async with asyncio.timeout(timeout_s):
            return await _get(target, egress, max_bytes, timeout_s)
    except TimeoutError:
        raise ToolFailure(f"{url} was not fetched within {timeout_s:g} s") from None


async def _get(
    url: httpx.URL, egress: EgressPolicy, max_bytes: int, timeout_s: float
) -> tuple[int, str, bytes, str]:
    client = httpx.AsyncClient(
        transport=egress.httpx_transport(),
        timeout=timeout_s,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )
    try:
        async with client, client.stream("GET", url) as reply:
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise ToolFailure(f"{url} is larger than {max_bytes:,} bytes")
            return (
                reply.status_code,
                reply.headers.get("content-type", ""),
                bytes(body),
                str(reply.url),
            )
    except EgressRefused as refused:
        raise ToolFailure(str(refused)) from None
    except httpx.TooManyRedirects:
        raise ToolFailure(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise ToolFailure(f"{url} did not answer within {timeout_s:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as error:  # a redirect's URL, too
        raise ToolFailure(f"cannot fetch {url}: {error}") from None
