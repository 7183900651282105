"""Corral: a self-hosted runtime for LLM agents, and its Python SDK.

`from corral import Corral` gives the SDK client; the server lives in `corral.api` and needs the
`server` extra.
"""

from __future__ import annotations

from corral.client import AsyncCorral, Corral, CorralError, tool

__version__ = "0.1.0"

__all__ = ["AsyncCorral", "Corral", "CorralError", "__version__", "tool"]
