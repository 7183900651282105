"""A run's events: the stored ones in one list, or live as a stream that resumes by itself."""

from __future__ import annotations

from corral.client._sse import AnyEvent, AsyncStream, Stream, parse_event_document
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.events import TERMINAL_EVENT_TYPES

EVENTS_PAGE_SIZE = 1000
"""Events asked for per request when reading the stored log."""


def _is_terminal(event: AnyEvent) -> bool:
    return event.type in TERMINAL_EVENT_TYPES


class RunEvents(SyncResource):
    """`/v1/runs/{id}/events` and `/v1/runs/{id}/stream`."""

    def events(self, run_id: str, *, after: int = 0) -> list[AnyEvent]:
        """Every stored event after `after`, typed."""
        collected: list[AnyEvent] = []
        while True:
            body = self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/events",
                params={"after": after, "limit": EVENTS_PAGE_SIZE},
            ).json()
            collected.extend(parse_event_document(e) for e in body["data"])
            if not body["has_more"] or not body["data"]:
                return collected
            after = body["data"][-1]["seq"]

    def stream(self, run_id: str, *, after: int | None = None) -> Stream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `with client.runs.stream(id) as events: for event in events`.
        """
        return self._event_stream(
            f"/v1/runs/{segment(run_id)}/stream",
            is_last=_is_terminal,
            is_over=lambda: False,
            after=after,
        )


class AsyncRunEvents(AsyncResource):
    """`/v1/runs/{id}/events` and `/v1/runs/{id}/stream`."""

    async def events(self, run_id: str, *, after: int = 0) -> list[AnyEvent]:
        """Every stored event after `after`, typed."""
        collected: list[AnyEvent] = []
        while True:
            response = await self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/events",
                params={"after": after, "limit": EVENTS_PAGE_SIZE},
            )
            body = response.json()
            collected.extend(parse_event_document(e) for e in body["data"])
            if not body["has_more"] or not body["data"]:
                return collected
            after = body["data"][-1]["seq"]

    def stream(self, run_id: str, *, after: int | None = None) -> AsyncStream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `async with client.runs.stream(id) as events: async for event in events`.
        """

        async def never_over() -> bool:
            return False

        return self._event_stream(
            f"/v1/runs/{segment(run_id)}/stream",
            is_last=_is_terminal,
            is_over=never_over,
            after=after,
        )
