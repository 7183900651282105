"""Long-running background processes: the run executor."""

from __future__ import annotations

__all__: list[str] = []
