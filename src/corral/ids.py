"""Prefixed, time-sortable identifiers such as `run_01JD5X3V6Q8Z0M9T2B4C7E1F3H`.

The 26 characters after the prefix are a ULID: 48 bits of milliseconds then 80 random bits, in
Crockford base32, so ids sort by creation time and can serve as pagination cursors. Within one
process ids are strictly increasing: in the same millisecond the random part is incremented.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

KINDS = frozenset(
    {
        "ws",
        "key",
        "agt",
        "run",
        "ses",
        "call",
        "wrk",
        "req",
        "apr",
        "file",
        "aud",
        "sec",
        "whk",
        "rtn",
        "trg",
        "fire",
        "env",
        "vlt",
        "vcrd",
        "skill",
        "skv",
    }
)


_last = 0


def new_id(kind: str, *, now_ms: int | None = None) -> str:
    """A fresh id of `kind` (one of `KINDS`)."""
    global _last
    if kind not in KINDS:
        raise ValueError(f"unknown id kind {kind!r}")
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    if now_ms is None:
        if value <= _last:
            value = _last + 1
        _last = value
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{kind}_{''.join(reversed(chars))}"


def kind_of(identifier: str) -> str | None:
    """The kind prefix of an id, or None when it is not a Corral id."""
    kind, sep, rest = identifier.partition("_")
    if not sep or kind not in KINDS or len(rest) != 26:
        return None
    if any(c not in _ALPHABET for c in rest):
        return None
    return kind
