"""web_fetch: fetch a URL for the model over a guarded path, whatever the run's networking.

Every hop (redirects included) is resolved first and refused if any address is private,
loopback, link-local or a metadata endpoint, unless the operator listed the host; the request
then goes to the vetted address (the certificate is still checked against the host name), so a
DNS answer that changes in between cannot redirect it. Size and time are bounded.
"""

from __future__ import annotations

import html.parser
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field

from corral.sandbox import ssrf
from corral.tools.base import ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool

MAX_BYTES = 5_000_000
TIMEOUT_S = 30.0
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
    """Fetches a public URL over the guarded path."""

    name: ClassVar[str] = "web_fetch"
    description: ClassVar[str] = (
        "Fetch a public web page or file over HTTP(S) and return its text (HTML is converted). "
        "Works whatever the run's networking mode; private addresses are refused."
    )
    arguments = WebFetchArgs
    needs_files: ClassVar[bool] = False

    async def call(self, args: WebFetchArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        status, content_type, body, final_url = await fetch(
            args.url, private_hosts=context.private_hosts
        )
        text = body.decode("utf-8", errors="replace")
        if "html" in content_type and not args.raw:
            text = html_to_text(text)
        return f"{status} {final_url} ({content_type or 'unknown type'})\n\n{text}"


async def fetch(
    url: str, *, private_hosts: tuple[str, ...] = (), max_bytes: int = MAX_BYTES
) -> tuple[int, str, bytes, str]:
    """GET `url` over vetted addresses: (status, content type, body, final URL)."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            answer = await _hop(client, url, private_hosts, max_bytes)
            if isinstance(answer, str):
                url = answer
                continue
            return answer
    raise ToolFailure(f"{url}: more than {MAX_REDIRECTS} redirects")


async def _hop(
    client: httpx.AsyncClient, url: str, private_hosts: tuple[str, ...], max_bytes: int
) -> tuple[int, str, bytes, str] | str:
    """One request: the answer, or the URL it redirects to."""
    target = httpx.URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise ToolFailure(f"cannot fetch {url}: only http and https URLs")
    port = target.port or (443 if target.scheme == "https" else 80)

    def allow(host: str, address: Any) -> bool:
        return bool(private_hosts) and ssrf.host_allowed(host, port, private_hosts)

    try:
        addresses = await ssrf.resolve_public(target.host, port, allow=allow)
    except ssrf.BlockedAddress as blocked:
        raise ToolFailure(f"refused: {blocked}") from None
    pinned = target.copy_with(host=str(addresses[0]))
    headers = {"Host": target.netloc.decode(), "User-Agent": USER_AGENT}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        async with client.stream("GET", pinned, headers=headers, extensions=extensions) as reply:
            if reply.is_redirect and "location" in reply.headers:
                return str(target.join(reply.headers["location"]))
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise ToolFailure(f"{url} is larger than {max_bytes:,} bytes")
            return reply.status_code, reply.headers.get("content-type", ""), bytes(body), url
    except httpx.TimeoutException:
        raise ToolFailure(f"{url} did not answer within {TIMEOUT_S:g} s") from None
    except httpx.HTTPError as error:
        raise ToolFailure(f"cannot fetch {url}: {error}") from None
