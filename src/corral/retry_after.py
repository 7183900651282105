"""`Retry-After` as servers send it: a delay in seconds or an HTTP date.

The SDK reads it from Corral's answers and the provider adapters from the providers', so it
imports nothing but the standard library.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC


def delay_s(value: str | None) -> float | None:
    """The wait a `Retry-After` value asks for, in seconds (None if it is absent or unreadable)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # a header we cannot read must not turn a retry into a crash
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are always GMT
    return max(0.0, when.timestamp() - time.time())
