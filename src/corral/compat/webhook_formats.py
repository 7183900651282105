"""The facades' webhook formats, added to a process's formats by `register()`.

Kept apart from the facades' routes so that `corral worker`, which loads no web framework, can
register them too. Every process that delivers webhooks calls `register()` when it starts: the
app factory (so `corral serve`) and `corral worker`.
"""

from __future__ import annotations

from corral.compat.anthropic import webhook_events as anthropic
from corral.domain import webhook_formats

__all__ = ["register"]


def register() -> None:
    """Add every facade's webhook format to this process's; doing it again changes nothing."""
    webhook_formats.register(anthropic.FORMAT)
