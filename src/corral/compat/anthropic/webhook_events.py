"""Corral's webhook events as the Managed Agents API's: the `anthropic` webhook format.

A session's runs are its turns, so the end of a run is the session going idle, a call that
waits for the caller is the session requiring action, and a spend cap reached is its budget
reached. Only runs of a session have such an event: the others' are not sent in this format.
Pure: the sender renders each message with `FORMAT` and sends it itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from corral.compat.anthropic.wire.webhooks import (
    SessionWebhookData,
    SessionWebhookType,
    WebhookEvent,
)
from corral.domain.webhook_formats import Outgoing, WebhookFormat

__all__ = ["FORMAT", "SESSION_EVENTS", "translate"]

SESSION_EVENTS: Mapping[str, SessionWebhookType] = {
    "run.completed": "session.status_idled",
    "run.failed": "session.status_idled",
    "run.cancelled": "session.status_idled",
    "run.timed_out": "session.status_idled",
    "approval.requested": "session.requires_action",
    "client_tool.call": "session.requires_action",
    "session.stopped": "session.budget_reached",
}
"""The Corral event each API event comes from. Corral sends no webhook when a run starts, so
there is no `session.status_run_started`."""


def translate(outgoing: Outgoing) -> WebhookEvent | None:
    """The API's event for a Corral one; None for an event of no session, or one it lacks."""
    kind = SESSION_EVENTS.get(outgoing.event_type)
    if kind is None or outgoing.session_id is None:
        return None
    return WebhookEvent(
        id=outgoing.message_id,
        created_at=datetime.fromisoformat(outgoing.created_at),
        data=SessionWebhookData(
            type=kind,
            id=outgoing.session_id,
            organization_id=outgoing.workspace_id,
            workspace_id=outgoing.workspace_id,
        ),
    )


def _render(outgoing: Outgoing) -> bytes | None:
    event = translate(outgoing)
    return None if event is None else event.model_dump_json().encode()


FORMAT = WebhookFormat(name="anthropic", event_types=frozenset(SESSION_EVENTS), render=_render)
"""The `anthropic` format, for `corral.compat.register()` to add to a process's formats."""
