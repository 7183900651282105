"""The tables of routines: the routines, their triggers, their fires, and seen dedupe keys.

Two uniqueness rules make a fire happen once: one fire per (schedule trigger, scheduled time),
and one per (routine, idempotency key) for fires asked for by hand. A fire's run is submitted
with the fire's id as its idempotency key, so a fire retried after a crash finds its run
rather than starting another. Registered on the metadata of `corral.storage.tables`.
"""

from __future__ import annotations

import sqlalchemy as sa

from corral.storage.tables import JSONDoc, UTCDateTime, metadata

routines = sa.Table(
    "routines",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    sa.Column("agent_id", sa.String(40), nullable=False),
    sa.Column("agent_version", sa.Integer, nullable=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("session_mode", sa.String(16), nullable=False),
    sa.Column("session_id", sa.String(40), nullable=True),
    # The environment the sessions it opens run in (a session mode only).
    sa.Column("environment_id", sa.String(40), nullable=True),
    sa.Column("metadata", JSONDoc, nullable=False),
    sa.Column("catch_up", sa.String(8), nullable=False),
    sa.Column("overlap", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("paused_code", sa.String(64), nullable=True),
    sa.Column("paused_message", sa.String(1000), nullable=True),
    sa.Column("paused_at", UTCDateTime(), nullable=True),
    # The API key a routine acts as: revoking it stops the routine.
    sa.Column("key_id", sa.String(40), nullable=False),
    sa.Column("last_fired_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # A scheduler handling the routine's fires holds it until then (one at a time, in order).
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("workspace_id", "name"),
)

routine_triggers = sa.Table(
    "routine_triggers",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "routine_id",
        sa.String(40),
        sa.ForeignKey("routines.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("config", JSONDoc, nullable=False),
    # A webhook trigger's URL token: found by its hash, shown from its sealed copy.
    sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("token", sa.Text, nullable=True),
    # A schedule's next time; only the scheduler that moves it on fires that time.
    sa.Column("next_fire_at", UTCDateTime(), nullable=True, index=True),
)

routine_fires = sa.Table(
    "routine_fires",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "routine_id",
        sa.String(40),
        sa.ForeignKey("routines.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column("trigger_type", sa.String(16), nullable=False),
    # Not a foreign key: the history outlives a removed trigger.
    sa.Column("trigger_id", sa.String(40), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.String(2000), nullable=True),
    sa.Column("scheduled_at", UTCDateTime(), nullable=True),
    sa.Column("missed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("payload", JSONDoc, nullable=True),
    sa.Column("headers", JSONDoc, nullable=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("session_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("handled_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("trigger_id", "scheduled_at"),
    sa.UniqueConstraint("routine_id", "idempotency_key"),
    sa.Index(None, "routine_id", "status"),
    sa.Index(None, "status", "routine_id"),
)

routine_dedupe = sa.Table(
    "routine_dedupe",
    metadata,
    sa.Column(
        "trigger_id",
        sa.String(40),
        sa.ForeignKey("routine_triggers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The SHA-256 of the key, in hex: keys are any JSON value.
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # The fire that claimed the key: that fire, handled again after a crash, is no repeat.
    sa.Column("fire_id", sa.String(40), nullable=False),
)
