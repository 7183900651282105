"""How both OpenAI adapters call their API: through the SDK client, without its typed models.

The SDK client still builds the request (key, base URL, headers, timeouts, pooled connections)
and raises its own error types for an error status. Its connections are the SDK's aiohttp
transport, whose parser is compiled: the default pure-Python HTTP stack cost more per streamed
chunk than all of Corral's own work on it. The body goes out pre-encoded, and a stream
is read as raw bytes and parsed frame by frame: the SDK's typed parameters and its pydantic
object per chunk would cost more CPU than everything else a call and its tokens do. What the
SDK's stream does besides parsing is done here too: it ends at `[DONE]`, an `error` payload
raises `openai.APIError`, and a broken body raises `APIConnectionError` (or `APITimeoutError`)
with the network error as its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
import httpx2
import openai

from corral.providers import wire
from corral.providers.sse import SSEDecoder

_TIMEOUT = openai.Timeout(600.0, connect=10.0)
"""A reasoning model may think for minutes before its first token arrives."""
_OPTIONS: openai.RequestOptions = {"security": {"bearer_auth": True}}
"""Bearer auth only, as the SDK's own `create` methods ask for it."""
_DRAIN_S = 0.1
"""How long the rest of a body after `[DONE]` may take to arrive, so the connection is reused."""
_READ_ERRORS = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream)
"""What reading a body may raise when the connection fails (the SDK's own list)."""


def new_client(api_key: str, base_url: str | None) -> openai.AsyncOpenAI:
    """An SDK client for one endpoint, on the aiohttp transport; Corral retries calls itself."""
    return openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=_TIMEOUT,
        http_client=openai.DefaultAioHttpClient(timeout=_TIMEOUT),
    )


async def answer(client: openai.AsyncOpenAI, path: str, params: dict[str, Any]) -> Any:
    """POST `params` to `path` and return the JSON of the (non-streamed) answer."""
    response: httpx2.Response = await client.post(
        path, cast_to=httpx2.Response, content=wire.encode(params), options=_OPTIONS
    )
    return wire.decode(response.content)


async def payloads(
    client: openai.AsyncOpenAI, path: str, params: dict[str, Any]
) -> AsyncGenerator[Any, None]:
    """POST `params` with `stream: true` to `path` and yield the JSON of each streamed event.

    Close it (`contextlib.aclosing`) when stopping early, so its connection is released at once.
    """
    response: httpx2.Response = await client.post(
        path,
        cast_to=httpx2.Response,
        content=wire.encode({**params, "stream": True}),
        options=_OPTIONS,
        stream=True,
    )
    decoder = SSEDecoder()
    try:
        async with contextlib.aclosing(response.aiter_bytes()) as chunks:
            async for chunk in chunks:
                for frame in decoder.feed(chunk):
                    data = frame.data
                    if data.startswith(b"[DONE]"):
                        await _drain(chunks)
                        return
                    if not data:
                        continue
                    payload = wire.decode(data)
                    if isinstance(payload, dict) and payload.get("error"):
                        raise _stream_error(payload["error"], response.request)
                    yield payload
    except httpx2.TimeoutException as exc:
        raise openai.APITimeoutError(request=response.request) from exc
    except _READ_ERRORS as exc:
        raise openai.APIConnectionError(request=response.request) from exc
    finally:
        await response.aclose()


def _stream_error(error: object, request: httpx2.Request) -> openai.APIError:
    """The exception for an error sent inside a stream, as the SDK raises it."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message, request, body=error)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows `[DONE]` (normally just the end of the body), briefly.

    A connection (HTTP/1.1, on the aiohttp transport) goes back to the pool only once its
    body has been read to the end.
    """
    with contextlib.suppress(TimeoutError, *_READ_ERRORS):
        async with asyncio.timeout(_DRAIN_S):
            async for _ in chunks:
                pass
