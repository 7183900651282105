"""What a provider's error answer means for a run: its code, and whether to try again.

Adapters read the status, message and headers from their SDK's exception and call
`from_status`; the runtime retries what is retryable and fails the run with the code otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import aiohttp

from corral import retry_after
from corral.errors import ProviderError
from corral.types.errors import ErrorCode

_CONTEXT_OVERFLOW = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens"
    r"|input is too long|reduce the length",
    re.IGNORECASE,
)
_OVERLOADED = re.compile(r"overloaded", re.IGNORECASE)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The provider's `retry-after-ms` or `retry-after` (seconds or an HTTP date), if any."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if (millis := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after.delay_s(lowered.get("retry-after"))


def from_status(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    error_type: str | None = None,
) -> ProviderError:
    """The run failure a provider's HTTP error answer stands for.

    `error_type` is the body's own code when it has one (`error.code` or `error.type`:
    `model_not_found`, `overloaded_error`, `context_length_exceeded`…).
    """
    text = f"{provider}: {message}" if message else f"{provider}: HTTP {status}"
    wait_s = retry_after_s(headers or {})
    kind = (error_type or "").lower()
    if kind in ("overloaded_error", "overloaded"):
        status = 529
    elif kind in ("rate_limit_error", "rate_limit_exceeded"):
        status = 429
    if status in (401, 403):
        return ProviderError(text, code=ErrorCode.PROVIDER_AUTH_ERROR, status=status)
    if status == 429:
        return ProviderError(
            text,
            code=ErrorCode.PROVIDER_RATE_LIMITED,
            status=status,
            retryable=True,
            retry_after_s=wait_s,
        )
    if status == 529 or (status == 503 and _OVERLOADED.search(message)):
        return ProviderError(
            text,
            code=ErrorCode.PROVIDER_OVERLOADED,
            status=status,
            retryable=True,
            retry_after_s=wait_s,
        )
    if kind == "context_length_exceeded" or (
        status in (400, 413, 422) and _CONTEXT_OVERFLOW.search(message)
    ):
        return ProviderError(text, code=ErrorCode.CONTEXT_LENGTH_EXCEEDED, status=status)
    if kind == "model_not_found" or status == 404:
        return ProviderError(text, code=ErrorCode.INVALID_MODEL, status=status)
    retryable = status == 408 or status >= 500
    return ProviderError(
        text,
        code=ErrorCode.PROVIDER_ERROR,
        status=status,
        retryable=retryable,
        retry_after_s=wait_s,
    )


def connection_lost(
    provider: str,
    error: BaseException,
    *,
    base_url: str | None = None,
    url_variable: str | None = None,
) -> ProviderError:
    """A network failure: the call may be tried again.

    When nothing could be reached at all (refused, no such host), the message names the base URL
    tried and the variable that sets it: most often a local model server that is not running,
    or one that listens elsewhere.
    """
    detail = network_detail(error)
    if base_url and any(isinstance(exc, aiohttp.ClientConnectorError) for exc in _chain(error)):
        detail += f" — is the model server at {base_url} running?"
        if url_variable:
            detail += f" (set {url_variable} on the server if it listens elsewhere)"
    return ProviderError(
        f"{provider}: connection failed: {detail}",
        code=ErrorCode.PROVIDER_ERROR,
        retryable=True,
    )


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and its causes, outermost first."""
    chain = [error]
    while (cause := chain[-1].__cause__) is not None:
        chain.append(cause)
    return chain


def network_detail(error: BaseException) -> str:
    """What broke, in words, from the causes of `error`.

    The SDKs wrap the transport's exception (an aiohttp one, on their aiohttp transport) in
    their own, whose message is a bare "Connection error."; a cause says what happened.
    """
    chain = _chain(error)
    for exc in chain:
        if isinstance(exc, aiohttp.ClientPayloadError):
            return "the answer was incomplete: the connection closed in the middle of its body"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the server closed the connection before it answered"
        if isinstance(exc, aiohttp.ClientConnectorError):
            errno = exc.os_error.errno
            reason = os.strerror(errno) if errno else str(exc.os_error)
            return f"cannot connect to {exc.host}:{exc.port}: {reason}"
        if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
            return "timed out"
    return str(chain[-1]) or type(chain[-1]).__name__
