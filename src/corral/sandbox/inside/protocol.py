"""Frames on the channel between the worker and the tool server.

A frame is two 4-byte big-endian lengths, a head and a payload (raw bytes: file contents). The
worker's heads are `marshal`ed dicts, which load without parsing code; the tool server answers
with JSON heads, because the worker must parse what comes out of an environment as hostile data.
Both sides use the same interpreter, so the marshal format always matches.

A request may be answered by progress frames before its answer: heads `{"id", "progress": true}`
whose payload is the next bytes of what it produces (a command's output, while it runs).
"""

from __future__ import annotations

import marshal
import os
from _json import encode_basestring_ascii  # the C string encoder: `json` itself loads `re`

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from typing import Any

HEADER_BYTES = 8
MAX_HEAD_BYTES = 16 << 20
"""Largest head either side accepts; an answer's text is bounded far below this."""


def frame(head: bytes, payload: bytes = b"") -> bytes:
    """One frame of `head` and `payload`."""
    return len(head).to_bytes(4, "big") + len(payload).to_bytes(4, "big") + head + payload


def request(head: dict[str, Any], payload: bytes = b"") -> bytes:
    """A worker's request as a frame."""
    return frame(marshal.dumps(head), payload)


def lengths(header: bytes) -> tuple[int, int]:
    """The head and payload lengths a frame header announces."""
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")


def read_exact(fd: int, size: int) -> bytes:
    """Exactly `size` bytes from `fd`; EOFError when it closes first."""
    parts = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def read_request(fd: int) -> tuple[dict[str, Any], bytes]:
    """The next request on `fd` (blocking)."""
    head_bytes, payload_bytes = lengths(read_exact(fd, HEADER_BYTES))
    if head_bytes > MAX_HEAD_BYTES:
        raise EOFError
    head = marshal.loads(read_exact(fd, head_bytes))
    return head, read_exact(fd, payload_bytes)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (blocking)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def answer(fd: int, head: dict[str, Any], payload: bytes = b"") -> None:
    """Send an answer: `head` as JSON, then the payload."""
    write_all(fd, frame(to_json(head).encode("ascii"), payload))


def to_json(value: Any) -> str:
    """`value` (dicts, lists, strings, numbers, booleans, None) as ASCII JSON."""
    if isinstance(value, str):
        return str(encode_basestring_ascii(clean(value)))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "null"
    if isinstance(value, dict):
        items = (to_json(str(key)) + ":" + to_json(item) for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__}")


def clean(text: str) -> str:
    """`text` with lone surrogates (undecodable file names) replaced, so it is valid Unicode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
