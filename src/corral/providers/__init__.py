"""LLM adapters behind one streaming interface; the only package that talks to model APIs."""

from __future__ import annotations

__all__: list[str] = []
