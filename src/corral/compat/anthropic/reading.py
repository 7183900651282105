"""Reading a stored log as the API's events: the translation, and what a stream shows of it."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from corral.compat.anthropic.translate.events import WAITING_TYPES, EventTranslator
from corral.compat.anthropic.translate.numbering import Translated
from corral.context import ServiceContext
from corral.services import runs as run_service
from corral.services.context import Principal

READ_PAGE = 500
"""Stored events read at once."""


class RecentInputs:
    """The inputs of the turns this process queued lately, by run id.

    A stream shows each turn's `user.message` when the run starts; a turn sent through the same
    server is shown without reading the run back (others are read from the database).
    """

    def __init__(self, size: int = 4_096) -> None:
        self._size = size
        self._inputs: OrderedDict[str, Any] = OrderedDict()

    def remember(self, run_id: str, run_input: Any) -> None:
        """Keep a queued turn's input (the oldest is forgotten past `size`)."""
        self._inputs[run_id] = run_input
        if len(self._inputs) > self._size:
            self._inputs.popitem(last=False)

    def get(self, run_id: str) -> Any | None:
        """The turn's input, if this process queued it lately."""
        return self._inputs.get(run_id)


RECENT_INPUTS = RecentInputs()


class Reader:
    """Translates stored events of a session or a thread, fetching what it needs as it goes."""

    def __init__(self, ctx: ServiceContext, principal: Principal, spec: dict[str, Any]) -> None:
        self.ctx = ctx
        self.principal = principal
        servers = {ref["name"] for ref in spec.get("tools") or [] if ref.get("type") == "mcp"}
        self.inputs: dict[str, Any] = {}
        self.translator = EventTranslator(self.inputs, frozenset(servers))

    async def feed(
        self, batch: Sequence[tuple[int, str]], *, whole: bool
    ) -> list[tuple[int, Translated]]:
        """Each translated event with the cursor of the stored event whose reading made it.

        `batch` holds (cursor, JSON document) pairs; `whole`: no more events of a group of
        waiting calls can follow the batch's last one.
        """
        documents = [(cursor, orjson.loads(data)) for cursor, data in batch]
        for _, data in documents:
            run_id = data["run_id"]
            if data["type"] == "run.started" and run_id not in self.inputs:
                known = RECENT_INPUTS.get(run_id)
                if known is None:
                    known = (await run_service.find(self.ctx, self.principal, run_id)).input
                self.inputs[run_id] = known
        out: list[tuple[int, Translated]] = []
        for cursor, data in documents:
            out += [(cursor, t) for t in self.translator.feed(cursor, data)]
        if whole and documents and documents[-1][1]["type"] in WAITING_TYPES:
            out += [(documents[-1][0], t) for t in self.translator.flush()]
        return out


class StreamFilter:
    """Which translated events a stream sends: past the resume point, previews it asked for."""

    def __init__(self, previews: set[str], resume: int | None, last_event_id: str | None) -> None:
        self.previews = previews
        self.preview_ids: set[str] = set()
        self.resume = resume
        self.last_event_id = last_event_id
        self.passed = resume is None

    def shows(self, cursor: int, item: Translated) -> bool:
        """Whether to send the event made while reading the stored event at `cursor`."""
        event = item.event
        if not self.passed:
            # Resuming: what was made up to the event the caller saw has been sent.
            seen = event.get("id") == self.last_event_id
            if seen or (self.resume is not None and cursor > self.resume):
                self.passed = True
            if not self.passed or seen:
                return False
        if not item.preview:
            return True
        if event["type"] == "event_start":
            if event["event"]["type"] not in self.previews:
                return False
            self.preview_ids.add(event["event"]["id"])
            return True
        return event.get("event_id") in self.preview_ids


async def translated(
    reader: Reader,
    batches: AsyncIterator[Sequence[tuple[int, str]] | None],
    shown: StreamFilter,
) -> AsyncIterator[list[dict[str, Any]] | None]:
    """The API's events of stored batches, as a stream shows them (None: a heartbeat)."""
    async with contextlib.aclosing(batches):  # type: ignore[type-var]
        async for batch in batches:
            if batch is None:
                yield None
                continue
            fed = await reader.feed(batch, whole=len(batch) < READ_PAGE)
            events = [item.event for cursor, item in fed if shown.shows(cursor, item)]
            if events:
                yield events
