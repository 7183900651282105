"""Wire shapes of the Managed Agents API: request bodies and answers, no I/O."""

from __future__ import annotations

__all__: list[str] = []
