"""Sends outbound webhook deliveries from the outbox, signed, at least once.

Every worker runs a sender. It leases the deliveries that are due (a claim counts as an
attempt), writes each message in its endpoint's format (`domain.webhook_formats`; an event the
format has nothing to say of is dropped unsent), POSTs it signed per Standard Webhooks, and
records the outcome: delivered on a 2xx, otherwise retried on the schedule of `domain.webhooks`
and, once that is spent, given up with the endpoint disabled. A sender that dies mid-delivery
lets its lease lapse: the message goes again under the same `webhook-id`, which receivers use to
drop repeats. Requests go only to public addresses (or hosts the operator lists), checked when
connecting, and follow no redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import httpx
import orjson
from standardwebhooks import Webhook

from corral.context import ServiceContext
from corral.domain import webhook_formats
from corral.domain.webhooks import next_attempt
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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    """What an attempt came to."""

    status_code: int | None = None
    error: str | None = None
    """Why it failed; None when it was delivered."""
    final: bool = False
    """A failure no later attempt can mend: given up at once."""
    blame: bool = True
    """Whether a failure counts against the endpoint (disabling it once the schedule is spent)."""


def _outgoing(due: Due, event: str) -> webhook_formats.Outgoing:
    return webhook_formats.Outgoing(
        message_id=due.message_id,
        event_type=due.event_type,
        created_at=orjson.loads(event)["created_at"],
        event=event,
        workspace_id=due.workspace_id,
        session_id=due.session_id,
    )


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
        outcome = await self._attempt(due)
        if outcome is None:
            with contextlib.suppress(Unavailable):  # the lease lapses: it is rendered again
                await ctx.database.write(webhook_store.drop, due)
            logger.info(
                "webhook delivery dropped: its endpoint's format has no message for the event",
                extra=self._log_fields(due, action="webhooks.dropped"),
            )
            return
        now = ctx.clock()
        failed = outcome.error is not None
        retry_at = next_attempt(due.attempts, now) if failed and not outcome.final else None
        with contextlib.suppress(Unavailable):  # the lease lapses: it is sent again
            await ctx.database.write(
                webhook_store.record_attempt,
                due,
                now=now,
                status_code=outcome.status_code,
                error=outcome.error,
                retry_at=retry_at,
                disable=outcome.blame,
            )
        logger.info(
            "webhook delivery attempted",
            extra=self._log_fields(
                due,
                action="webhooks.attempt",
                attempt=due.attempts,
                status_code=outcome.status_code,
                ok=not failed,
            ),
        )

    async def _attempt(self, due: Due) -> _Outcome | None:
        """Render and send the delivery's message; None when its format has none to send."""
        if due.event is None:  # nothing to send, ever: given up, the endpoint not blamed
            error = "the event no longer exists (its run was deleted)"
            return _Outcome(error=error, final=True, blame=False)
        try:
            body = webhook_formats.find(due.format).render(_outgoing(due, due.event))
        except webhook_formats.UnregisteredFormat as missing:
            # This process's fault, not the endpoint's: retried, where it may be registered.
            logger.error(str(missing), extra=self._log_fields(due, action="webhooks.no_format"))
            return _Outcome(error=str(missing)[:1000], blame=False)
        if body is None:
            return None
        try:
            status_code = await self._post(due, body)
        except (httpx.HTTPError, EgressRefused, ssrf.BlockedAddress, SealError) as failure:
            return _Outcome(error=f"{type(failure).__name__}: {failure}"[:1000])
        if not 200 <= status_code < 300:
            return _Outcome(
                status_code=status_code, error=f"the endpoint answered HTTP {status_code}"
            )
        return _Outcome(status_code=status_code)

    @staticmethod
    def _log_fields(due: Due, **fields: object) -> dict[str, object]:
        return {"webhook_id": due.webhook_id, "message_id": due.message_id, **fields}

    async def _post(self, due: Due, body: bytes) -> int:
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
