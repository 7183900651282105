"""Server-sent events as model providers stream them, decoded without I/O.

Bytes go in as the network hands them over, in chunks that may split a line (or a CRLF)
anywhere; whole frames come out. Lines are split as bytes and a frame's data stays bytes, since
its JSON parser takes bytes: a streamed token costs no text decoding here.
"""

from __future__ import annotations

from typing import NamedTuple


class Frame(NamedTuple):
    """One event of the stream.

    `event` is its `event:` name, None when it had none (or an empty one); `data` is its
    `data:` lines joined by newlines, empty when it had none.
    """

    event: bytes | None
    data: bytes


class SSEDecoder:
    """Splits an event stream into frames, a chunk at a time.

    Comments and the `id`/`retry` fields are dropped, as no provider's answer depends on them. A
    frame ends at a blank line; one still open when the stream ends is incomplete and is never
    returned.
    """

    __slots__ = ("_after_cr", "_data", "_event", "_partial")

    def __init__(self) -> None:
        self._partial = b""
        """The start of a line whose end has not arrived yet."""
        self._after_cr = False
        """Whether the last chunk ended with CR, whose LF (of a CRLF) may open the next one."""
        self._event: bytes | None = None
        self._data: bytes | None = None
        """The open frame's data; None until it has a `data` line."""

    def feed(self, chunk: bytes) -> list[Frame]:
        """The frames that `chunk` completes, in order."""
        if self._after_cr:
            self._after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        buffer = self._partial + chunk if self._partial else chunk
        if b"\r" in buffer:
            self._after_cr = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._partial = lines.pop()
        frames: list[Frame] = []
        event, data = self._event, self._data
        for line in lines:
            if not line:
                if data is not None or event is not None:
                    frames.append(Frame(event, data or b""))
                    event = data = None
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                data = value if data is None else data + b"\n" + value
            elif line.startswith(b"event:"):
                event = (line[7:] if line[6:7] == b" " else line[6:]) or None
            elif line == b"data":  # a field without a colon has an empty value
                data = b"" if data is None else data + b"\n"
        self._event, self._data = event, data
        return frames
