"""Builtin workspace tools, one per module, collected in `BUILTIN_TOOLS` by name."""

from __future__ import annotations

from corral.tools.base import Tool

BUILTIN_TOOLS: dict[str, Tool] = {}

__all__ = ["BUILTIN_TOOLS"]
