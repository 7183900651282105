"""Outbound webhooks: which events they can carry, the message they send, and when to retry.

Messages follow the Standard Webhooks specification: a JSON body `{"type", "timestamp",
"data"}`, where `data` is the event as the API shows it, signed with the endpoint's secret under
the headers `webhook-id`, `webhook-timestamp` and `webhook-signature`. A failed attempt is
retried on a schedule that spans more than a day; an endpoint whose delivery fails on every
attempt of it is disabled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, get_args

import orjson

from corral.types.webhooks import WebhookEventType

__all__ = [
    "EVENT_TYPES",
    "RETRY_DELAYS",
    "DeliveryStatus",
    "message_body",
    "message_id",
    "next_attempt",
]

EVENT_TYPES = frozenset(get_args(WebhookEventType))
"""The events an endpoint may ask for: ends, what waits for someone, what stops spending."""

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""The waits after each failed attempt: 8 attempts over about 27.6 hours."""


class DeliveryStatus:
    """Where a delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Every attempt failed; its endpoint was disabled."""


def message_id(run_id: str, seq: int) -> str:
    """The `webhook-id` of an event's message: the same for every endpoint and attempt."""
    return f"msg_{run_id}_{seq}"


def message_body(event_type: str, created_at: str, event_json: str) -> bytes:
    """The body sent: the event, as the API shows it, wrapped per the specification."""
    document: dict[str, Any] = {
        "type": event_type,
        "timestamp": created_at,
        "data": orjson.Fragment(event_json),
    }
    return orjson.dumps(document)


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed ones; None once the schedule is spent."""
    if attempts > len(RETRY_DELAYS):
        return None
    return now + RETRY_DELAYS[attempts - 1]
