"""The version of Corral, in a module of its own so that anything may read it without a cycle."""

from __future__ import annotations

__version__ = "0.1.0"
