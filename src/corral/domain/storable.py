"""What every database can store.

JSON without NUL characters, lone surrogates, non-finite numbers, integers past 64 bits or
deep nesting. Input is checked against this before it is stored, so every backend answers
alike (PostgreSQL alone would refuse a NUL, the storage encoder the rest).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "text_problem", "unstorable"]

MAX_JSON_DEPTH = 64
"""Deepest nesting of a JSON body (the storage encoder stops at 255 levels, and a stored spec
nests a tool's `parameters` a few levels further down)."""


def text_problem(text: str) -> str | None:
    """What keeps a text from being stored, if anything."""
    if "\x00" in text:
        return "must not contain NUL (\\u0000) characters"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode (it contains a lone surrogate)"
    return None


def unstorable(value: Any, pointer: str, depth: int = 0) -> tuple[str, str] | None:
    """Where a JSON value holds something storage cannot write, and what is wrong with it."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (pointer or "/", problem) if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return pointer or "/", "must be a finite number"
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return pointer or "/", "is beyond the 64-bit integer range"
    if not isinstance(value, dict | list):
        return None
    if depth >= MAX_JSON_DEPTH:
        return pointer or "/", f"nests deeper than {MAX_JSON_DEPTH} levels"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        child = pointer + "/" + str(key).replace("~", "~0").replace("/", "~1")
        problem = text_problem(key) if isinstance(key, str) else None
        if problem:
            return child, f"the key {problem}"
        found = unstorable(item, child, depth + 1)
        if found:
            return found
    return None
