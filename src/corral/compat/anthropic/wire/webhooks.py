"""The webhook messages of the API: an `event` envelope around the session an event concerns.

A receiver verifies and parses them with the SDK's `client.beta.webhooks.unwrap()`; the data
names its session only, and the receiver reads the rest from the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from corral.compat.anthropic.wire.common import Wire

SessionWebhookType = Literal[
    "session.status_idled",
    "session.requires_action",
    "session.budget_reached",
]
"""The session events Corral sends in this format."""


class SessionWebhookData(Wire):
    """What happened, and to which session."""

    type: SessionWebhookType
    id: str
    """The session's id."""
    organization_id: str
    """The Corral workspace's id: a workspace is the whole of what a key sees."""
    workspace_id: str
    """The Corral workspace's id."""


class WebhookEvent(Wire):
    """The body of one message."""

    type: Literal["event"] = "event"
    id: str
    """The message's id, the same as its `webhook-id` header: receivers drop repeats by it."""
    created_at: datetime
    data: SessionWebhookData
