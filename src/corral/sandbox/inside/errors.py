"""The one error the tool server answers with: a failure the model reads as the tool's error."""

from __future__ import annotations


class Failure(Exception):
    """A request that cannot be done, with a message for the model (workspace paths only)."""
