"""Everything an agent can call: server-side tools and tools the caller executes."""

from __future__ import annotations

__all__: list[str] = []
