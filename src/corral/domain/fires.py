"""What a routine's fire that failed means for the routine."""

from __future__ import annotations

from corral.types.errors import ErrorCode

__all__ = ["PAUSING_CODES", "pauses_routine"]

PAUSING_CODES = frozenset(
    {
        ErrorCode.NOT_FOUND,
        ErrorCode.UNAUTHORIZED,
        ErrorCode.FORBIDDEN,
        ErrorCode.WORKSPACE_SUSPENDED,
        ErrorCode.SESSION_ENDED,
        ErrorCode.AGENT_ARCHIVED,
        ErrorCode.ENVIRONMENT_ARCHIVED,
        ErrorCode.MISSING_PROVIDER_KEY,
        ErrorCode.SECRET_NOT_FOUND,
        ErrorCode.INVALID_MODEL,
    }
)
"""Errors every later fire would meet too: the routine is paused with the error as reason."""


def pauses_routine(code: str) -> bool:
    """Whether a fire failing with `code` pauses its routine (rather than failing every tick)."""
    return code in PAUSING_CODES
