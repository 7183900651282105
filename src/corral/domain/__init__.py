"""Pure rules: synchronous, no I/O, time and ids passed in."""

from __future__ import annotations

__all__: list[str] = []
