"""Who is calling a use case: the principal an API key stands for."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: an API key of a workspace."""

    workspace_id: str
    workspace_name: str
    key_id: str
    key_name: str
    scopes: list[str]
