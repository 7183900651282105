"""What a provider's error answer means for a run: its code, and whether to try again.

Adapters read the status, message and headers from their SDK's exception and call
`from_status`; the runtime retries what is retryable and fails the run with the code otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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


def connection_lost(provider: str, error: BaseException) -> ProviderError:
    """A network failure: the call may be tried again."""
    detail = str(error) or type(error).__name__
    return ProviderError(
        f"{provider}: connection failed: {detail}", code=ErrorCode.PROVIDER_ERROR, retryable=True
    )
