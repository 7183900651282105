"""What the sync and async clients share, without doing I/O.

Configuration, request options, retry decisions and the mapping of error responses to
exceptions.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from corral import retry_after
from corral._version import __version__
from corral.client.errors import APIStatusError, CorralError, status_error_class

DEFAULT_BASE_URL = "http://127.0.0.1:7070"
API_PREFIX = "/v1"
"""The version prefix of every API path; it belongs to the paths, not to the base URL."""
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 2
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_S = 60.0

NOT_GIVEN: Any = object()
"""Marks an argument left out (so `None` can mean "no timeout")."""


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Resolved settings of a client."""

    base_url: str
    api_key: str
    timeout_s: float | None
    max_retries: int
    initial_retry_delay_s: float = 0.5
    max_retry_delay_s: float = 8.0


def resolve_config(
    *,
    base_url: str | None,
    api_key: str | None,
    timeout: float | None,
    max_retries: int,
) -> ClientConfig:
    """Arguments win over `CORRAL_BASE_URL` / `CORRAL_API_KEY`."""
    key = api_key or os.environ.get("CORRAL_API_KEY")
    if not key:
        raise CorralError("no API key: pass api_key= or set CORRAL_API_KEY")
    if not key.isascii() or not key.isprintable():
        # A header carries only printable ASCII: say so here rather than fail in the transport.
        raise CorralError(
            "the API key has characters an API key never has (not printable ASCII): check "
            "api_key= or CORRAL_API_KEY"
        )
    url = base_url or os.environ.get("CORRAL_BASE_URL") or DEFAULT_BASE_URL
    return ClientConfig(
        base_url=server_url(url), api_key=key, timeout_s=timeout, max_retries=max_retries
    )


def server_url(url: str) -> str:
    """The server's address: `http://host:7070/v1/` → `http://host:7070`.

    Every path the SDK sends starts with `/v1`, so a base URL copied from an API example with
    its `/v1` would make each request miss (`/v1/v1/runs`, a 404 that names no object).
    """
    return url.rstrip("/").removesuffix(API_PREFIX)


def url_of(error: httpx.TransportError) -> str | None:
    """The URL the failed request went to, when httpx knows it."""
    try:
        return str(error.request.url)
    except RuntimeError:
        return None


def default_headers(config: ClientConfig) -> dict[str, str]:
    """Headers every request carries."""
    return {
        "Authorization": f"Bearer {config.api_key}",
        "User-Agent": f"corral-python/{__version__}",
        "Accept": "application/json",
    }


def new_idempotency_key() -> str:
    """A fresh key for a create, so that retrying it never creates twice."""
    return f"corral-sdk-{uuid.uuid4()}"


def retry_after_s(response: httpx.Response) -> float | None:
    """The server's `Retry-After`, in seconds (a number or an HTTP date; None if neither)."""
    return retry_after.delay_s(response.headers.get("retry-after"))


def should_retry_status(status: int) -> bool:
    """Whether an error status is worth another attempt."""
    return status in RETRYABLE_STATUSES


def retry_delay_s(
    config: ClientConfig, attempt: int, server_said_s: float | None, rng: random.Random
) -> float:
    """How long to wait before retry number `attempt` (0-based).

    The server's `Retry-After` when it gave one, else full-jitter exponential backoff.
    """
    if server_said_s is not None:
        return min(server_said_s, MAX_RETRY_AFTER_S)
    ceiling = min(config.max_retry_delay_s, config.initial_retry_delay_s * 2**attempt)
    return rng.uniform(0, ceiling)


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error response, carrying its parsed body."""
    try:
        body = json.loads(response.content) if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if "retry_after_s" not in body:
        after = retry_after_s(response)
        if after is not None:
            body = {**body, "retry_after_s": after}
    code = str(body.get("error") or "http_error")
    message = str(body.get("message") or response.reason_phrase or f"HTTP {response.status_code}")
    request_id = body.get("request_id") or response.headers.get("x-request-id")
    cls = status_error_class(response.status_code)
    return cls(
        message,
        status=response.status_code,
        code=code,
        body=body,
        request_id=str(request_id) if request_id else None,
    )


def clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left out."""
    return {k: v for k, v in params.items() if v is not None and v is not NOT_GIVEN}


def clean_body(body: dict[str, Any]) -> dict[str, Any]:
    """A JSON body without the fields left out."""
    return {k: v for k, v in body.items() if v is not NOT_GIVEN}
