"""Logs and metrics, importable from any layer."""

from __future__ import annotations

__all__: list[str] = []
