"""What to publish after a commit to the event log, in one place for every writer."""

from __future__ import annotations

from typing import Protocol

from corral.pubsub.base import (
    ENDED,
    QUEUE_CHANNEL,
    WEBHOOKS_CHANNEL,
    Broker,
    control_channel,
    run_channel,
    session_channel,
)


class Appended(Protocol):
    """Where a commit left the run's log (and its session's): `storage.events.Committed`."""

    @property
    def last_seq(self) -> int:
        """The run's last seq."""
        ...

    @property
    def session_id(self) -> str | None:
        """The run's session, if it has one."""
        ...

    @property
    def session_last_seq(self) -> int | None:
        """The session's last seq, when the commit logged events."""
        ...

    @property
    def deliveries(self) -> int:
        """Webhook deliveries the commit put in the outbox."""
        ...


async def publish_appended(
    broker: Broker, run_id: str, appended: Appended, *, ended: bool = False
) -> None:
    """Wake the subscribers of the run and of its session; once it `ended`, the session's next run.

    Call only after the commit: a subscriber woken re-reads the log, which must hold the events.
    """
    await broker.publish(run_channel(run_id), ENDED if ended else str(appended.last_seq))
    if appended.deliveries:
        await broker.publish(WEBHOOKS_CHANNEL)
    if appended.session_id is None:
        return
    if appended.session_last_seq is not None:
        await broker.publish(session_channel(appended.session_id), str(appended.session_last_seq))
    if ended:
        await broker.publish(QUEUE_CHANNEL)


async def publish_stopped(broker: Broker, run_id: str, appended: Appended) -> None:
    """A run was ended from outside its worker (cancelled): stop the worker, wake everyone."""
    await broker.publish(control_channel(run_id), "cancel")
    await publish_appended(broker, run_id, appended, ended=True)
