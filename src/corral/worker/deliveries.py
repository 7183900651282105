"""Sends outbound webhook deliveries from the outbox, signed, at least once.

Every worker runs a sender. It leases the deliveries that are due (a claim counts as an
attempt), POSTs each message signed per Standard Webhooks, and records the outcome: delivered
on a 2xx, otherwise retried on the schedule of `domain.webhooks` and, once that is spent, given
up with the endpoint disabled. A sender that dies mid-delivery lets its lease lapse: the message
goes again under the same `webhook-id`, which receivers use to drop repeats. Requests go only to
public addresses (or hosts the operator lists), checked when connecting, and follow no
redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import orjson
from standardwebhooks import Webhook

from corral.context import ServiceContext
from corral.domain.webhooks import message_body, next_attempt
from corral.errors import Unavailable
from corral.pubsub.base import WEBHOOKS_CHANNEL
from corral.sandbox import ssrf
from corral.sandbox.egress import EgressPolicy, EgressRefused
from corral.security.sealed import SealError
from corral.storage import webhooks as webhook_store
from corral.storage.webhooks import Due

__all__ = ["Deliverer"]

logger = logging.getLogger(__name__)

BATCH = 32
"""Deliveries leased and sent at once."""

USER_AGENT = "Corral-Webhooks/1"


class Deliverer:
    """One worker's webhook sender."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        settings = ctx.settings
        policy = EgressPolicy(private_hosts=tuple(settings.network_private_hosts))
        self._http = httpx.AsyncClient(
            transport=policy.httpx_transport(),
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,
        )

    async def run(self) -> None:
        """Send what is due, then wait for a wake-up or the next poll; until cancelled."""
        with self._ctx.broker.subscribe(WEBHOOKS_CHANNEL) as wake:
            while True:
                try:
                    sent = await self.send_due()
                except Unavailable:
                    sent = 0
                    logger.warning(
                        "cannot send webhooks: database unavailable",
                        extra={"action": "webhooks.unavailable"},
                    )
                if sent < BATCH:
                    await wake.wait(self._ctx.settings.poll_interval_s)

    async def send_due(self) -> int:
        """Lease the deliveries due now and send them; how many there were."""
        ctx = self._ctx
        due = await ctx.database.write(
            webhook_store.claim_due,
            now=ctx.clock(),
            lease_s=ctx.settings.webhook_timeout_s * 3,
            limit=BATCH,
        )
        await asyncio.gather(*(self._send(delivery) for delivery in due))
        return len(due)

    async def _send(self, due: Due) -> None:
        ctx = self._ctx
        status_code: int | None = None
        error: str | None = None
        if due.event is None:
            error = "the event no longer exists (its run was deleted)"
        else:
            try:
                status_code = await self._post(due, due.event)
            except (httpx.HTTPError, EgressRefused, ssrf.BlockedAddress, SealError) as failure:
                error = f"{type(failure).__name__}: {failure}"[:1000]
            if status_code is not None and not 200 <= status_code < 300:
                error = f"the endpoint answered HTTP {status_code}"
        now = ctx.clock()
        gone = due.event is None  # nothing to send, ever: dropped, the endpoint not blamed
        retry_at = next_attempt(due.attempts, now) if error is not None and not gone else None
        with contextlib.suppress(Unavailable):  # the lease lapses: it is sent again
            await ctx.database.write(
                webhook_store.record_attempt,
                due,
                now=now,
                status_code=status_code,
                error=error,
                retry_at=retry_at,
                disable=not gone,
            )
        logger.info(
            "webhook delivery attempted",
            extra={
                "action": "webhooks.attempt",
                "webhook_id": due.webhook_id,
                "message_id": due.message_id,
                "attempt": due.attempts,
                "status_code": status_code,
                "ok": error is None,
            },
        )

    async def _post(self, due: Due, event: str) -> int:
        created_at = orjson.loads(event)["created_at"]
        body = message_body(due.event_type, created_at, event)
        secret = self._ctx.secrets.open(due.secret)["value"]
        now = self._ctx.clock()
        signature = Webhook(secret).sign(due.message_id, now, body)
        response = await self._http.post(
            due.url,
            content=body,
            headers={
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": due.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            },
        )
        return response.status_code

    async def close(self) -> None:
        """Release the sender's connections."""
        await self._http.aclose()
