"""Executes runs: the agent loop, its checkpoints and its events. Used only by workers."""

from __future__ import annotations

__all__: list[str] = []
