"""The official `anthropic` SDK, unmodified, against a live Corral server.

Answers are parsed with `_strict_response_validation`, so a field the SDK's models require and
an answer lacks fails the test instead of passing unnoticed. The sync client runs in a thread:
the server runs in the test's event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic

from tests.conftest import ADMIN_KEY, LiveServer


def sdk_clients(server: LiveServer, key: str = ADMIN_KEY) -> tuple[Anthropic, AsyncAnthropic]:
    """A sync and an async client of the server's `/anthropic` API."""
    options: dict[str, Any] = {
        "base_url": f"{server.base_url}/anthropic",
        "api_key": key,
        "max_retries": 0,
        "_strict_response_validation": True,
    }
    return Anthropic(**options), AsyncAnthropic(**options)


@pytest.fixture
async def clients(live_server: LiveServer) -> AsyncIterator[tuple[Anthropic, AsyncAnthropic]]:
    sync, asynchronous = sdk_clients(live_server)
    yield sync, asynchronous
    sync.close()
    await asynchronous.close()


@pytest.fixture
async def client(clients: tuple[Anthropic, AsyncAnthropic]) -> AsyncAnthropic:
    return clients[1]
