"""Corral: a self-hosted runtime for LLM agents, and its Python SDK.

`from corral import Corral` gives the SDK client; the server lives in `corral.api` and needs the
`server` extra.
"""

from __future__ import annotations

from corral._version import __version__
from corral.client import AsyncCorral, Corral, CorralError, tool

__all__ = ["AsyncCorral", "Corral", "CorralError", "__version__", "tool"]
