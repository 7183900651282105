"""A run's events: the stored ones in one list, or live as a stream that resumes by itself."""

from __future__ import annotations

from corral.client._sse import AnyEvent, AsyncStream, Stream, parse_event_document
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.events import TERMINAL_EVENT_TYPES, SubagentStarted
from corral.types.runs import TERMINAL_STATUSES

EVENTS_PAGE_SIZE = 1000
"""Events asked for per request when reading the stored log."""


def _is_terminal(event: AnyEvent) -> bool:
    return event.type in TERMINAL_EVENT_TYPES


class TreeProgress:
    """Where a stream of a run and its subagents stands.

    Such a stream ends once every run it announced has ended. Each run's events come in order,
    so an event at or below the last seq seen of its run is a repeat (a reconnect after a cut
    inside a batch repeats the batch's start), skipped.
    """

    def __init__(self, run_id: str) -> None:
        self._open = {run_id}
        self._last: dict[str, int] = {}

    def keep(self, event: AnyEvent) -> bool:
        """Whether `event` is new; notes it."""
        if event.seq <= self._last.get(event.run_id, 0):
            return False
        self._last[event.run_id] = event.seq
        if isinstance(event, SubagentStarted):
            self._open.add(event.child_run_id)
        elif event.type in TERMINAL_EVENT_TYPES:
            self._open.discard(event.run_id)
        return True

    def ended(self, _: AnyEvent) -> bool:
        """Whether every run the stream announced has ended."""
        return not self._open


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

    def stream(
        self, run_id: str, *, after: int | str | None = None, include_subagents: bool = False
    ) -> Stream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `with client.runs.stream(id) as events: for event in events`. With `include_subagents`,
        the events of every run below it too (each names its `run_id`), until all have ended;
        `after` is then the stream's `last_event_id`.
        """
        path = f"/v1/runs/{segment(run_id)}/stream"
        if not include_subagents:
            return self._event_stream(
                path, is_last=_is_terminal, is_over=lambda: False, after=after
            )
        tree = TreeProgress(run_id)

        def run_ended() -> bool:
            # A tree's stream closes once all its runs ended: the run's end says it was that.
            run = self._client.request("GET", f"/v1/runs/{segment(run_id)}").json()
            return run["status"] in TERMINAL_STATUSES

        return self._event_stream(
            path,
            is_last=tree.ended,
            is_over=run_ended,
            after=after,
            params={"include_subagents": "true"},
            keep=tree.keep,
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

    def stream(
        self, run_id: str, *, after: int | str | None = None, include_subagents: bool = False
    ) -> AsyncStream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `async with client.runs.stream(id) as events: async for event in events`. With
        `include_subagents`, the events of every run below it too, as `RunEvents.stream`.
        """

        async def never_over() -> bool:
            return False

        path = f"/v1/runs/{segment(run_id)}/stream"
        if not include_subagents:
            return self._event_stream(path, is_last=_is_terminal, is_over=never_over, after=after)
        tree = TreeProgress(run_id)

        async def run_ended() -> bool:
            response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}")
            return response.json()["status"] in TERMINAL_STATUSES

        return self._event_stream(
            path,
            is_last=tree.ended,
            is_over=run_ended,
            after=after,
            params={"include_subagents": "true"},
            keep=tree.keep,
        )
