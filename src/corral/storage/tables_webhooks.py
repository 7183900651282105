"""The tables of outbound webhooks: endpoints, the event types each wants, and the outbox.

A delivery row is written in the transaction that logs its event (see `storage.webhooks`), so an
event and its deliveries exist together or not at all. Registered on the metadata of
`corral.storage.tables`, which re-exports them.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import UTCDateTime, metadata

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    # How its messages are written (`corral`, `anthropic`): a format of `domain.webhook_formats`.
    sa.Column("format", sa.String(32), nullable=False, server_default="corral"),
    # The signing secret (`whsec_…`), sealed like the vault's values.
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_at", UTCDateTime(), nullable=True),
    sa.Column("disabled_reason", sa.String(1000), nullable=True),
)

webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("event_type", sa.String(64), primary_key=True),
    # Denormalized: an event's commit finds its workspace's subscribers in one index lookup.
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Index(None, "workspace_id", "event_type"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The `webhook-id` of the message: one per event, the same on every attempt and resend.
    sa.Column("message_id", sa.String(100), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    # The event it carries: read from a run's log when it is sent, or, for an event that is in
    # no run's log (a routine's), its JSON document kept here.
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("seq", sa.Integer, nullable=True),
    sa.Column("document", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    # A sender holds a delivery until then; a sender that died lets it go.
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.String(1000), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "webhook_id", "created_at"),
)
