"""Corral's errors in the API's error envelope, so the SDK raises its own typed exceptions.

The SDK picks the exception class from the status (404 → `NotFoundError`, 429 →
`RateLimitError`…); `error.type` is the API's name for the kind.
"""

from __future__ import annotations

from typing import Any

from corral.compat.anthropic.wire.common import AnthropicErrorBody, AnthropicErrorDetail

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
}

_RETRIED = frozenset({408, 429})
"""4xx answers the SDK should try again; it is told not to retry the others (it would retry
a 409 by default)."""


def error_type(status: int) -> str:
    """The API's error type of an HTTP status."""
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(
    status: int, corral_body: dict[str, Any], request_id: str | None
) -> AnthropicErrorBody:
    """Corral's error body (`error` its code, `message`, `field`) as the API's envelope."""
    message = corral_body.get("message") or "error"
    field = corral_body.get("field")
    if field and field not in message:
        message = f"{message} (at {field})"
    details = {k: v for k, v in corral_body.items() if k not in ("message", "error", "field")}
    detail = AnthropicErrorDetail(
        type=error_type(status),
        message=message,
        code=corral_body.get("error"),
        field=field,
        **details,
    )
    return AnthropicErrorBody(error=detail, request_id=request_id)


def retry_headers(status: int) -> dict[str, str]:
    """`x-should-retry: false` on the answers the SDK must not send again."""
    if 400 <= status < 500 and status not in _RETRIED:
        return {"x-should-retry": "false"}
    return {}
