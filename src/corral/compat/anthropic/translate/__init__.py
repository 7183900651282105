"""Pure translation between the Managed Agents API's shapes and Corral's."""

from __future__ import annotations

__all__: list[str] = []
