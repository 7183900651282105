"""The broker interface and the in-process fan-out every backend shares.

A backend only moves `(channel, message)` pairs between processes; each process keeps one
connection and hands each message to the local subscriptions of its channel.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from types import TracebackType

logger = logging.getLogger(__name__)

QUEUE_CHANNEL = "queue"
"""Wakes workers: there may be a run to claim."""

WORKSPACES_CHANNEL = "workspaces"
"""A worker needs a workspace (message: its key): a worker keeping an idle environment of it
warm stops that environment, which frees the workspace."""

KEYS_CHANNEL = "keys"
"""An API key was revoked or rotated: every API node forgets the keys it had verified."""

SECRETS_CHANNEL = "secrets"
"""A secret was created, changed or deleted (message: its workspace id): every node forgets
that workspace's secrets (`storage.vault`)."""
_MAX_PENDING = 256

WEBHOOKS_CHANNEL = "webhooks"
"""Wakes the webhook senders: a commit put deliveries in the outbox."""

ROUTINES_CHANNEL = "routines"
"""Wakes the schedulers: a routine changed, or a fire waits to be handled."""


ENDED = "end"
"""Message on a run channel once the run has ended (after its terminal event is stored)."""


def run_channel(run_id: str) -> str:
    """New events of a run (message: the last seq, or `ENDED` after the terminal event)."""
    return f"run.{run_id}"


def session_channel(session_id: str) -> str:
    """New events of a session's runs (message: the last session seq)."""
    return f"session.{session_id}"


def control_channel(run_id: str) -> str:
    """Orders for the worker executing a run (`cancel`, `tool_result`)."""
    return f"control.{run_id}"


class Subscription:
    """One consumer's view of some channels: waits until something was published."""

    def __init__(
        self,
        broker: Broker,
        channels: tuple[str, ...],
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self._broker = broker
        self.channels = channels
        self._on_message = on_message
        self._pending: deque[str] = deque(maxlen=_MAX_PENDING)
        self._signal = asyncio.Event()

    def push(self, message: str) -> None:
        """Called by the broker for each message on one of the channels."""
        if self._on_message is not None:
            self._on_message(message)
            return
        self._pending.append(message)
        self._signal.set()

    async def wait(self, timeout: float | None = None) -> list[str]:
        """The messages received since the last call; [] if `timeout` passed first."""
        if not self._signal.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._signal.wait()
            except TimeoutError:
                return []
        self._signal.clear()
        messages = list(self._pending)
        self._pending.clear()
        return messages

    def close(self) -> None:
        """Stop receiving."""
        self._broker.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Broker(ABC):
    """Publishes wake-ups to every process and dispatches them to local subscriptions."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (backends that need a connection override this)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abstractmethod
    async def publish(self, channel: str, message: str = "") -> None:
        """Wake every subscriber of `channel`, in every process."""

    def subscribe(
        self, *channels: str, on_message: Callable[[str], None] | None = None
    ) -> Subscription:
        """Start receiving messages of `channels`.

        Subscribe before reading the state you wait on, so nothing published in between is
        missed. With `on_message`, each message is handed to it at once instead of being queued
        for `wait`.
        """
        subscription = Subscription(self, channels, on_message)
        for channel in channels:
            self._subscriptions.setdefault(channel, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to `subscription`."""
        for channel in subscription.channels:
            subscribers = self._subscriptions.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[channel]

    def deliver(self, channel: str, message: str) -> None:
        """Hand a message that reached this process to its local subscribers."""
        for subscription in tuple(self._subscriptions.get(channel, ())):
            subscription.push(message)

    def wake_all(self) -> None:
        """Wake every local subscriber, e.g. after a reconnect during which messages were lost."""
        for subscribers in tuple(self._subscriptions.values()):
            for subscription in tuple(subscribers):
                subscription.push("")

    def has_subscribers(self, channel: str) -> bool:
        """Whether anyone in this process listens on `channel`."""
        return channel in self._subscriptions
