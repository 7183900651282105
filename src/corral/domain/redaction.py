"""Redaction: a run's secret values never leave it in clear, whoever echoes them.

A tool may print a secret it was given, and a model may repeat it. Everything a run writes (its
events, checkpoint, output, errors, session turns and output files) and every log line of its
worker passes through its `Redactor`, which writes `[secret:NAME]` in place of each value. Text
that streams in pieces goes through a `StreamRedactor`, which holds back a tail that could be the
start of a secret until the next piece shows whether it is one.

Values shorter than `MIN_REDACTED_CHARS` are left alone: they cannot be told apart from ordinary
text (docs/secrets.md says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["MIN_REDACTED_CHARS", "Redactor", "StreamRedactor"]

MIN_REDACTED_CHARS = 4

T = TypeVar("T")


class Redactor:
    """Replaces each secret value by `[secret:NAME]`; does nothing when there are none."""

    def __init__(self, secrets: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """`secrets`: name → value, or (name, value) pairs (a name may then have several)."""
        pairs = secrets.items() if isinstance(secrets, Mapping) else secrets
        names: dict[str, str] = {}
        for name, value in pairs:
            if len(value) >= MIN_REDACTED_CHARS:
                names.setdefault(value, name)
        self._names = names
        # Longest first: a value that contains another one is replaced whole.
        ordered = sorted(names, key=lambda value: (-len(value), value))  # one order, one regex
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = [(value.encode(), f"[secret:{names[value]}]".encode()) for value in ordered]

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """The text with every secret value replaced."""
        if self._pattern is None:
            return text
        return self._pattern.sub(self._marker, text)

    def _marker(self, match: re.Match[str]) -> str:
        return f"[secret:{self._names[match.group(0)]}]"

    def tree(self, value: T) -> T:
        """A copy of JSON-like data (dicts, lists, strings) with the strings redacted."""
        if self._pattern is None:
            return value
        return self._walk(value)  # type: ignore[no-any-return]

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._walk(item) for item in value)
        return value

    def data(self, content: bytes) -> bytes:
        """File contents with every secret value (as UTF-8) replaced."""
        for value, marker in self._bytes:
            if value in content:
                content = content.replace(value, marker)
        return content

    def settled(self, text: str) -> int:
        """How much of `text` can be redacted and written now.

        The rest may still become a secret: it begins one, or a match running into it could
        grow into a longer one.
        """
        cut = len(text) - self._held_back(text)
        if self._pattern is not None:
            for match in self._pattern.finditer(text):
                if match.end() > cut:
                    return min(cut, match.start())
        return cut

    def _held_back(self, text: str) -> int:
        """How many trailing characters of `text` could begin a secret value."""
        longest = 0
        for value in self._names:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.endswith(value[:size]):
                    longest = size
                    break
        return longest


class StreamRedactor:
    """Redacts text that arrives in pieces (a model's deltas), never splitting a secret."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of the text so far can be written now, redacted."""
        text = self._held + piece
        cut = self._redactor.settled(text)
        self._held = text[cut:]
        return self._redactor.text(text[:cut])

    def flush(self) -> str:
        """The text held back, redacted: the stream ended."""
        held, self._held = self._held, ""
        return self._redactor.text(held)
