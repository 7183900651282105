"""How both OpenAI adapters call their API: SDK clients for what to send, aiohttp to send it.

The SDK client of an endpoint supplies the key, the base URL, the headers and, from an error
answer, its own error type (`transport`). The body goes out pre-encoded, and a stream is read
as raw bytes and parsed frame by frame: the SDK's typed parameters and its pydantic object per
chunk would cost more CPU than everything else a call and its tokens do. What the SDK's stream
does besides parsing is done here too: it ends at `[DONE]`, and an `error` payload raises
`openai.APIError`. A broken connection raises one of `transport.NETWORK_ERRORS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import openai

from corral.providers import transport, wire
from corral.providers.sse import SSEDecoder

_DRAIN_S = 0.1
"""How long the rest of a body after `[DONE]` may take to arrive, so the connection is reused."""


class OpenAIEndpoints:
    """An adapter's SDK clients, one per base URL, and the connections they all share."""

    def __init__(self) -> None:
        self._clients = transport.SDKClients(_new_client)
        self._http = transport.ProviderHTTP()

    def client(self, api_key: str, base_url: str | None) -> openai.AsyncOpenAI:
        """The endpoint's client, wearing this call's key (runs may bring their own)."""
        return self._clients.get(api_key, base_url)

    async def answer(self, client: openai.AsyncOpenAI, path: str, params: dict[str, Any]) -> Any:
        """POST `params` to `path` and return the JSON of the (non-streamed) answer."""
        async with self._http.post(client, path, wire.encode(params)) as response:
            return wire.decode(await response.read())

    async def payloads(
        self, client: openai.AsyncOpenAI, path: str, params: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        """POST `params` with `stream: true` to `path` and yield the JSON of each streamed event.

        Close it (`contextlib.aclosing`) when stopping early, so its connection is released at
        once.
        """
        body = wire.encode({**params, "stream": True})
        async with self._http.post(client, path, body) as response:
            decoder = SSEDecoder()
            async for chunk in response.content.iter_any():
                for frame in decoder.feed(chunk):
                    data = frame.data
                    if data.startswith(b"[DONE]"):
                        await _drain(response)
                        return
                    if not data:
                        continue
                    payload = wire.decode(data)
                    if isinstance(payload, dict) and payload.get("error"):
                        raise _stream_error(payload["error"], response)
                    yield payload

    async def aclose(self) -> None:
        """Close every connection and client."""
        await self._clients.aclose()
        await self._http.aclose()


def _new_client(api_key: str, base_url: str | None) -> openai.AsyncOpenAI:
    # Corral retries failed calls itself; the client only describes the endpoint.
    return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)


def _stream_error(error: object, response: aiohttp.ClientResponse) -> openai.APIError:
    """The exception for an error sent inside a stream, as the SDK raises it."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    request = transport.sdk_response(str(response.url), response.status, {}).request
    return openai.APIError(message, request, body=error)


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows `[DONE]` (normally just the end of the body), briefly.

    A connection goes back to the pool only once its body has been read to the end.
    """
    with contextlib.suppress(*transport.NETWORK_ERRORS):
        async with asyncio.timeout(_DRAIN_S):
            async for _ in response.content.iter_any():
                pass
