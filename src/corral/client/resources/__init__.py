"""One module per resource; the sync and async classes of each sit side by side."""

from __future__ import annotations

__all__: list[str] = []
