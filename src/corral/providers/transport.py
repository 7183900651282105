"""How the adapters reach a provider: its SDK client says what to send, aiohttp carries it.

An SDK client knows what is particular to its API: the key and how it is presented, the base
URL and the headers, and its error types, which it builds itself from an error answer. The
request and the answer's bytes go straight through aiohttp, the library under the SDKs' own
aiohttp transport: the SDKs' request path on top of it (request options, an httpx2 client, a
wrapper per chunk) took as much CPU per call as all the rest of a call's way.

A network failure raises what aiohttp raised (one of `NETWORK_ERRORS`); `failures.network_detail`
says what it was.
"""

from __future__ import annotations

import contextlib
import functools
import urllib.parse
import urllib.request
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Generic, Protocol, Self, TypeVar

import aiohttp
import httpx2

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 600.0
"""The longest wait for the next bytes: a reasoning model may think for minutes first."""
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
"""What sending a request or reading its answer raises when the connection fails."""
C = TypeVar("C", bound="PooledClient")


class SDKClient(Protocol):
    """What Corral takes from an `openai` or `anthropic` client."""

    @property
    def base_url(self) -> httpx2.URL:
        """Where the API is; paths are joined under it."""

    @property
    def default_headers(self) -> Mapping[str, object]:
        """The headers of every request, with `Omit` for those left out."""

    @property
    def auth_headers(self) -> Mapping[str, str]:
        """How the client's key is presented."""

    def _make_status_error_from_response(self, response: httpx2.Response) -> Exception:
        """The SDK's own error type and message for an error answer."""


class PooledClient(SDKClient, Protocol):
    """An SDK client that can wear another key and be closed."""

    @property
    def api_key(self) -> str | None:
        """The key its requests present."""

    def with_options(self, *, api_key: str) -> Self:
        """The same client with another key."""

    async def close(self) -> None:
        """Close its own HTTP client."""


class SDKClients(Generic[C]):
    """An adapter's SDK clients, one per base URL; each call wears its run's key."""

    def __init__(self, make: Callable[[str, str | None], C]) -> None:
        self._make = make
        self._clients: dict[str | None, C] = {}

    def get(self, api_key: str, base_url: str | None) -> C:
        """The endpoint's client, with `api_key` (runs may bring keys of their own)."""
        pooled = self._clients.get(base_url)
        if pooled is None:
            pooled = self._make(api_key, base_url)
            self._clients[base_url] = pooled
        return pooled if pooled.api_key == api_key else pooled.with_options(api_key=api_key)

    def __len__(self) -> int:
        """How many endpoints have a client."""
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()


def request_headers(client: SDKClient) -> dict[str, str]:
    """The headers the SDK itself would send, its key's among them.

    A header the SDK leaves out (its `Omit` marker, such as an unset organisation) is left out.
    """
    headers = {**client.default_headers, **client.auth_headers}
    return {name: value for name, value in headers.items() if isinstance(value, str)}


def url_of(client: SDKClient, path: str) -> str:
    """The endpoint's URL for `path`, joined under the base URL as the SDKs join it."""
    return str(client.base_url).rstrip("/") + "/" + path.lstrip("/")


def sdk_response(
    url: str, status: int, headers: Mapping[str, str], content: bytes = b""
) -> httpx2.Response:
    """An answer as the SDK's error types hold it."""
    return httpx2.Response(
        status, headers=dict(headers), content=content, request=httpx2.Request("POST", url)
    )


@functools.lru_cache(maxsize=64)
def _proxy_for(url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY and NO_PROXY name for `url`, as the SDKs' clients honour them.

    Read once per URL: aiohttp's own `trust_env` reads the environment (and `~/.netrc`) again
    at every request, which cost as much CPU as the rest of a call.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class ProviderHTTP:
    """The connection pool of one adapter, for all its endpoints.

    Opened on first use, inside the event loop that uses it; `aclose` closes it.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._headers: weakref.WeakKeyDictionary[SDKClient, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )
        """Each client's headers: fixed for its life, and costly to build from the SDK's."""

    @contextlib.asynccontextmanager
    async def post(
        self, client: SDKClient, path: str, body: bytes
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST `body` (JSON) to `path`; an error status raises the SDK's error for it.

        The answer is yielded before its body is read; its connection goes back to the pool when
        the body has been read to the end, and is closed otherwise.
        """
        url = url_of(client, path)
        headers = self._headers.get(client)
        if headers is None:
            headers = self._headers[client] = request_headers(client)
        response = await self._open().post(url, data=body, headers=headers, proxy=_proxy_for(url))
        try:
            if response.status >= 400:
                content = await response.read()
                answer = sdk_response(url, response.status, response.headers, content)
                raise client._make_status_error_from_response(answer)
            yield response
        finally:
            response.release()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # Runs of every workspace share the pool: no cookie one answer sets is sent on.
                cookie_jar=aiohttp.DummyCookieJar(),
                # The certificates the SDKs' own clients trust (and SSL_CERT_FILE or SSL_CERT_DIR).
                connector=aiohttp.TCPConnector(ssl=httpx2.create_ssl_context(trust_env=True)),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
                ),
            )
        return self._session

    async def aclose(self) -> None:
        """Close every connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
