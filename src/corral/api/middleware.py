"""ASGI middleware: request ids, the body size limit, and request metrics."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.ids import new_id
from corral.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from corral.services.limits import Allowance
from corral.types.errors import ErrorCode

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BodyLimit:
    """The body limit of one route that takes more than the others (a file upload)."""

    max_bytes: int
    field: str
    """The input a 413 names."""


def rate_limit_headers(allowance: Allowance) -> list[tuple[bytes, bytes]]:
    """The `RateLimit-*` headers of an answer to a key with this allowance."""
    return [
        (b"ratelimit-limit", str(allowance.limit).encode()),
        (b"ratelimit-remaining", str(allowance.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(allowance.reset_s)).encode()),
    ]


class RequestMiddleware:
    """Tags each request with an id, refuses oversized bodies, and records metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        route_limits: Mapping[tuple[str, str], BodyLimit] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.route_limits = dict(route_limits or {})
        """Limits by (method, path) that replace `max_body_bytes`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or new_id("req")
        scope["corral.request_id"] = request_id
        started = time.perf_counter()
        status = 500
        route_limit = self.route_limits.get((scope["method"], scope["path"]))
        limit = route_limit.max_bytes if route_limit else self.max_body_bytes
        length = _header(scope, b"content-length")
        declared_too_large = length is not None and length.isdigit() and int(length) > limit
        body = None if declared_too_large else await self._read_body(receive, limit)
        if body is None:
            await self._error(
                send,
                request_id,
                413,
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"the request body exceeds {limit} bytes",
                field=route_limit.field if route_limit else None,
            )
            self._observe(scope, 413, started)
            return
        response_started = False

        async def replay_receive() -> Message:
            return body.pop(0) if body else await receive()

        async def tagged_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                allowance = scope.get("corral.rate_limit")  # left by `deps.guarded`
                if allowance is not None:
                    headers += rate_limit_headers(allowance)
                message = {**message, "headers": headers}
                self._observe(scope, status, started)
            await send(message)

        try:
            await self.app(scope, replay_receive, tagged_send)
        except Exception:
            logger.exception(
                "unexpected error", extra={"action": "http.error", "request_id": request_id}
            )
            if not response_started:
                await self._error(
                    send, request_id, 500, ErrorCode.INTERNAL_ERROR, "An unexpected error occurred."
                )
                self._observe(scope, 500, started)

    async def _read_body(self, receive: Receive, limit: int) -> list[Message] | None:
        """The body's messages, read up front; None once they exceed `limit` bytes.

        Reading here rather than counting as the app reads keeps the 413 independent of how the
        app handles errors raised while it reads (FastAPI turns them into a generic 400).
        """
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > limit:
                return None
            if not message.get("more_body", False):
                return messages

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)

    async def _error(
        self,
        send: Send,
        request_id: str,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
    ) -> None:
        content: dict[str, str] = {"error": code, "message": message}
        if field is not None:
            content["field"] = field
        body = orjson.dumps({**content, "request_id": request_id})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> Any:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
