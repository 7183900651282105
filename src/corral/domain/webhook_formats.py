"""Webhook formats: how the message of an endpoint's delivery is written, by the format's name.

Corral's own format is built in. A facade adds the format of its protocol with `register`: the
core never imports a facade, so each process that delivers webhooks (`corral serve`,
`corral worker`) registers the facades' formats when it starts, and a format no one registered
is an error the sender reports on the delivery, not a message in the wrong shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corral.domain.webhooks import EVENT_TYPES, message_body

__all__ = [
    "CORRAL",
    "Outgoing",
    "UnregisteredFormat",
    "WebhookFormat",
    "find",
    "register",
    "unsupported",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Outgoing:
    """One event on its way to an endpoint, with what a format may need to write it."""

    message_id: str
    """The `webhook-id` of its message."""
    event_type: str
    created_at: str
    """When the event happened, as its JSON has it."""
    event: str
    """The event's JSON, as the API shows it."""
    workspace_id: str
    session_id: str | None
    """The session of the event's run; None for a run outside any session, or a routine's."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookFormat:
    """A way of writing messages, and the events it can say something about."""

    name: str
    event_types: frozenset[str]
    """The event types an endpoint of this format may ask for."""
    render: Callable[[Outgoing], bytes | None]
    """The message's body; None when the format has nothing to say of this one (not sent)."""


class UnregisteredFormat(LookupError):
    """No format of that name was registered in this process."""


def _corral_body(outgoing: Outgoing) -> bytes:
    return message_body(outgoing.event_type, outgoing.created_at, outgoing.event)


CORRAL = WebhookFormat(name="corral", event_types=EVENT_TYPES, render=_corral_body)
"""Each event as the API shows it, in a Standard Webhooks envelope."""

_FORMATS: dict[str, WebhookFormat] = {CORRAL.name: CORRAL}


def register(webhook_format: WebhookFormat) -> None:
    """Make a format available to this process; registering the same one again does nothing."""
    known = _FORMATS.setdefault(webhook_format.name, webhook_format)
    if known != webhook_format:
        raise ValueError(f"another webhook format is registered as {webhook_format.name!r}")


def find(name: str) -> WebhookFormat:
    """The format of that name.

    Raises:
        UnregisteredFormat: this process never registered it.
    """
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnregisteredFormat(
            f"webhook format {name!r} is not registered in this process: a process that "
            "delivers it must call corral.compat.register() when it starts "
            "(`corral serve` and `corral worker` do)"
        ) from None


def unsupported(webhook_format: WebhookFormat, event_types: Sequence[str]) -> int | None:
    """The index of the first event type the format cannot carry, if any."""
    return next(
        (i for i, kind in enumerate(event_types) if kind not in webhook_format.event_types), None
    )
