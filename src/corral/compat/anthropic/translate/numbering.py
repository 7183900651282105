"""How the API's events made from Corral's are numbered: `sevt_{cursor}_{n}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Translated:
    """An event of the API, and the Corral session cursor of the event it came from."""

    cursor: int
    event: dict[str, Any]
    preview: bool = False
    """`event_start` / `event_delta`: shown only on streams that ask for them."""


def event_id(cursor: int, index: int) -> str:
    """The id of the `index`th event made from the Corral event at session cursor `cursor`."""
    return f"sevt_{cursor}_{index}"


def cursor_of(event_id_: str) -> int | None:
    """The session cursor an event id came from (None: not one of this server's ids)."""
    parts = event_id_.split("_")
    if len(parts) != 3 or parts[0] != "sevt" or not parts[1].isdigit():
        return None
    return int(parts[1])


class Out:
    """The events made from one stored event, numbered in order."""

    def __init__(self, cursor: int, created_at: str) -> None:
        self.cursor = cursor
        self.created_at = created_at
        self.index = 0
        self.events: list[Translated] = []

    def next_id(self) -> str:
        """The id the next event added gets."""
        return event_id(self.cursor, self.index)

    def skip(self) -> None:
        """Keep the next id for an event a later stored event will make."""
        self.index += 1

    def add(self, kind: str, *, event_id: str | None = None, **fields: Any) -> str:
        """Add an event (numbered next, unless `event_id` was kept for it); its id."""
        shown = event_id or self.next_id()
        if event_id is None:
            self.index += 1
        body = {"id": shown, "type": kind, "processed_at": self.created_at}
        body.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(Translated(self.cursor, body))
        return shown

    def preview(self, body: dict[str, Any]) -> None:
        """Add an `event_start` or `event_delta` (they have no id of their own)."""
        self.events.append(Translated(self.cursor, body, preview=True))
