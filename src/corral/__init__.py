"""Corral: a self-hosted runtime for LLM agents, and its Python SDK.

`from corral import Corral` gives the SDK client; the server lives in `corral.api` and needs the
`server` extra. The client is imported when first named, so the server's small child processes
do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral._version import __version__

if TYPE_CHECKING:
    from corral.client import AsyncCorral, Corral, CorralError, tool

__all__ = ["AsyncCorral", "Corral", "CorralError", "__version__", "tool"]

_CLIENT_NAMES = frozenset({"AsyncCorral", "Corral", "CorralError", "tool"})


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from corral import client

        return getattr(client, name)
    raise AttributeError(f"module 'corral' has no attribute {name!r}")
