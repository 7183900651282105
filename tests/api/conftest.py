"""Fixtures the API tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.webhook_receiver import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook endpoint on 127.0.0.1 that records what it is sent."""
    found = Receiver()
    await found.start()
    yield found
    await found.stop()
