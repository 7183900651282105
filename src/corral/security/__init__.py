"""Secrets handling: API key generation, hashing and scopes."""

from __future__ import annotations

__all__: list[str] = []
