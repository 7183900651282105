"""The client as its resources see it, and the base class of every resource.

A resource reaches the server only through `Transport` (or `AsyncTransport`), never through the
client class itself: the client imports the resources, so the resources must not import it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from corral.client._http import NOT_GIVEN, error_from_response
from corral.client._pagination import AsyncPage, SyncPage
from corral.client._sse import (
    AnyEvent,
    AsyncConnect,
    AsyncStream,
    Connect,
    ServerSentEvent,
    Stream,
    parse_event,
)

ModelT = TypeVar("ModelT", bound=BaseModel)


class Transport(Protocol):
    """What a sync resource needs from its client; `Corral` is one."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request, retrying what is worth retrying; raises on an error status.

        `retry=False` for a write that is not idempotent and has no idempotency key: a repeat
        after an answer lost on the way back would do it twice.
        """

    def stream_connection(self, path: str, params: dict[str, Any] | None = None) -> Connect:
        """Opens the event stream at `path` with extra headers (`Last-Event-ID`)."""


class AsyncTransport(Protocol):
    """What an async resource needs from its client; `AsyncCorral` is one."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = NOT_GIVEN,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request, retrying what is worth retrying; raises on an error status.

        `retry=False` for a write that is not idempotent and has no idempotency key: a repeat
        after an answer lost on the way back would do it twice.
        """

    def stream_connection(self, path: str, params: dict[str, Any] | None = None) -> AsyncConnect:
        """Opens the event stream at `path` with extra headers (`Last-Event-ID`)."""


def _event(frame: ServerSentEvent) -> AnyEvent:
    return parse_event(frame.data)


def _raise(response: httpx.Response) -> None:
    raise error_from_response(response)


def _cursor(after: int | str | None) -> str | None:
    return None if after is None else str(after)


class SyncResource:
    """Base of the sync resources: the client, and the paging and streaming they share."""

    def __init__(self, client: Transport) -> None:
        self._client = client

    def _page(self, path: str, model: type[ModelT], params: dict[str, Any]) -> SyncPage[ModelT]:
        """The first page of `GET path`; iterating it fetches the following ones by cursor."""

        def fetch(cursor: str | None) -> tuple[list[ModelT], str | None]:
            body = self._client.request("GET", path, params={**params, "cursor": cursor}).json()
            return [model.model_validate(item) for item in body["data"]], body["next_cursor"]

        return SyncPage(fetch, *fetch(None))

    def _event_stream(
        self,
        path: str,
        *,
        is_last: Callable[[AnyEvent], bool],
        is_over: Callable[[], bool],
        after: int | str | None,
        params: dict[str, Any] | None = None,
        keep: Callable[[AnyEvent], bool] | None = None,
    ) -> Stream[AnyEvent]:
        """The typed, resuming event stream at `path`."""
        return Stream(
            connect=self._client.stream_connection(path, params),
            raise_for_status=_raise,
            parse=_event,
            is_last=is_last,
            is_over=is_over,
            after=_cursor(after),
            keep=keep,
        )


class AsyncResource:
    """Base of the async resources: the client, and the paging and streaming they share."""

    def __init__(self, client: AsyncTransport) -> None:
        self._client = client

    async def _page(
        self, path: str, model: type[ModelT], params: dict[str, Any]
    ) -> AsyncPage[ModelT]:
        """The first page of `GET path`; iterating it fetches the following ones by cursor."""

        async def fetch(cursor: str | None) -> tuple[list[ModelT], str | None]:
            response = await self._client.request("GET", path, params={**params, "cursor": cursor})
            body = response.json()
            return [model.model_validate(item) for item in body["data"]], body["next_cursor"]

        return AsyncPage(fetch, *(await fetch(None)))

    def _event_stream(
        self,
        path: str,
        *,
        is_last: Callable[[AnyEvent], bool],
        is_over: Callable[[], Awaitable[bool]],
        after: int | str | None,
        params: dict[str, Any] | None = None,
        keep: Callable[[AnyEvent], bool] | None = None,
    ) -> AsyncStream[AnyEvent]:
        """The typed, resuming event stream at `path`."""
        return AsyncStream(
            connect=self._client.stream_connection(path, params),
            raise_for_status=_raise,
            parse=_event,
            is_last=is_last,
            is_over=is_over,
            after=_cursor(after),
            keep=keep,
        )
