"""Outbound webhooks: endpoints Corral tells when runs end, and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from corral.types.common import ParamsModel, WireModel

WebhookEventType = Literal[
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.timed_out",
    "approval.requested",
    "client_tool.call",
    "budget.warning",
    "session.stopped",
    "routine.fired",
    "routine.paused",
]
WebhookFormat = Literal["corral", "anthropic"]
"""How an endpoint's messages are written: Corral's own, or the Claude Managed Agents API's."""
EventTypes = Annotated[list[WebhookEventType], Field(min_length=1, max_length=16)]
WebhookURL = Annotated[str, Field(max_length=2000, pattern=r"^https?://")]


class WebhookCreateParams(ParamsModel):
    """An endpoint to tell of the workspace's events."""

    url: WebhookURL
    """Where deliveries are POSTed. Private and this host's own addresses are refused unless
    the operator lists the host in `CORRAL_NETWORK_PRIVATE_HOSTS`."""
    event_types: EventTypes
    """The events it wants."""
    description: Annotated[str, Field(max_length=1000)] = ""
    format: WebhookFormat = "corral"
    """How its messages are written: `corral` (each event as the API shows it) or `anthropic`
    (the Claude Managed Agents API's session events, for `client.beta.webhooks.unwrap()`).
    Fixed once the endpoint exists."""


class WebhookUpdateParams(ParamsModel):
    """Changes to an endpoint; `enabled: true` turns a disabled one back on."""

    url: WebhookURL | None = None
    event_types: EventTypes | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    enabled: bool | None = None


class Webhook(WireModel):
    """An endpoint Corral delivers events to."""

    id: str
    url: str
    description: str
    event_types: list[str]
    format: str
    """How its messages are written: `corral` or `anthropic`."""
    enabled: bool
    disabled_reason: str | None
    """Why Corral turned it off (every attempt of a delivery failed), if it did."""
    created_at: datetime
    disabled_at: datetime | None


class WebhookSecret(WireModel):
    """The endpoint's signing secret, for verifying deliveries (Standard Webhooks)."""

    secret: str


class WebhookCreated(Webhook):
    """A new endpoint, with its signing secret."""

    secret: str


class Delivery(WireModel):
    """One event's delivery to an endpoint, across its attempts."""

    message_id: str
    """The `webhook-id` header: the same on every attempt and resend."""
    event_type: str
    run_id: str | None
    """The run whose event it carries (with `seq`); null for a routine's event."""
    seq: int | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
