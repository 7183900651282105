"""A running command's output as it comes: the bounded pieces `tool.output_delta` events carry.

A person watching a long build should see it work, but a command can print without end and
every piece is an event in the run's log. So the pieces are coalesced and bounded twice: the
environment relays at most one frame per `STREAM_INTERVAL_S`, of at most `MAX_DELTA_CHARS`
bytes, up to `MAX_STREAMED_CHARS` bytes in all, and `OutputStream` holds what arrives to the
same bounds in characters, since what comes out of an environment is not trusted. Past the
total, nothing more streams; the call's result still carries its output, bounded as always.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable

from corral.sandbox.channel import Progress
from corral.tools.base import MAX_OUTPUT_CHARS

__all__ = [
    "MAX_DELTA_CHARS",
    "MAX_STREAMED_CHARS",
    "STREAM_INTERVAL_S",
    "OutputStream",
    "progress_to",
    "relay_request",
]

STREAM_INTERVAL_S = 0.2
"""Time between two pieces of one call's output: live enough to watch, few enough to store."""
MAX_DELTA_CHARS = 4_096
"""Longest piece."""
MAX_STREAMED_CHARS = MAX_OUTPUT_CHARS
"""Most output one call streams, all pieces together: as much as its result may hold."""

_LEAST_GAP_S = STREAM_INTERVAL_S / 2
"""Closest two pieces may follow each other here: frames sent `STREAM_INTERVAL_S` apart may
arrive closer, after a pause of the worker's event loop."""


def relay_request() -> dict[str, float | int]:
    """The `stream` field of a request whose output the environment should relay."""
    return {
        "bytes": MAX_STREAMED_CHARS,
        "frame_bytes": MAX_DELTA_CHARS,
        "every_s": STREAM_INTERVAL_S,
    }


class OutputStream:
    """Decodes relayed output into pieces within the bounds, whatever the environment sends.

    Pure: the caller says when each chunk arrived, so the rules are tested without waiting.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""
        self._left = MAX_STREAMED_CHARS
        self._sent_at = float("-inf")

    def feed(self, chunk: bytes, now: float) -> str:
        """The piece to show after `chunk` arrived at `now` (monotonic seconds); "" for none.

        A character split between chunks is decoded once whole; text that comes too soon after
        the last piece, or beyond `MAX_DELTA_CHARS`, waits for the next one.
        """
        if self._left > 0:
            self._hold(self._decoder.decode(chunk))
        if not self._held or now < self._sent_at + _LEAST_GAP_S:
            return ""
        self._sent_at = now
        return self._take()

    def finish(self) -> str:
        """The last piece, once the command has ended (what does not fit it is dropped)."""
        if self._left > 0:
            self._hold(self._decoder.decode(b"", final=True))
        piece = self._take()
        self._held, self._left = "", 0
        return piece

    def _hold(self, text: str) -> None:
        kept = text[: self._left]
        self._held += kept
        self._left -= len(kept)

    def _take(self) -> str:
        piece, self._held = self._held[:MAX_DELTA_CHARS], self._held[MAX_DELTA_CHARS:]
        return piece


def progress_to(stream: OutputStream, show: Callable[[str], None]) -> Progress:
    """A request's progress frames fed to `stream`, each piece it gives passed to `show`."""

    def receive(chunk: bytes) -> None:
        piece = stream.feed(chunk, time.monotonic())
        if piece:
            show(piece)

    return Progress(receive=receive, max_bytes=MAX_STREAMED_CHARS)
