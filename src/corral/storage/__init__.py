"""Persistence: the only package that speaks SQL.

Stores are synchronous functions over a connection; `Database` runs them in transactions.
"""

from __future__ import annotations

__all__: list[str] = []
