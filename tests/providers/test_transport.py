"""How the adapters reach a provider: through the environment's proxy settings, and statelessly."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from corral.errors import ProviderError
from corral.providers import transport
from corral.providers.base import TextDelta
from tests.providers.cassettes import Replay, load, replay
from tests.providers.test_openai_chat import SAY_THIS_IS_A_TEST, adapter

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean proxy environment, read afresh by the adapters."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    transport._proxy_for.cache_clear()
    yield monkeypatch
    transport._proxy_for.cache_clear()


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_call_goes_through_the_proxy_named_by_http_proxy(proxy_env):
    # The provider's host does not resolve: only the proxy can have answered.
    async with replay("openai/chat-text") as cassette, adapter() as provider:
        proxy_env.setenv("HTTP_PROXY", cassette.base_url)
        request = replace(SAY_THIS_IS_A_TEST, base_url="http://provider.invalid/v1")
        events = [event async for event in provider.stream(request)]

    assert events[0] == TextDelta("This is a test.")
    sent = cassette.sent[0]
    assert sent.headers["Host"] == "provider.invalid"
    assert sent.headers["Authorization"] == "Bearer sk-test"


async def test_no_proxy_sends_the_call_straight_to_its_host(proxy_env):
    async with replay("openai/chat-text") as cassette, adapter() as provider:
        proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{_refused_port()}")
        proxy_env.setenv("NO_PROXY", "127.0.0.1")
        request = replace(SAY_THIS_IS_A_TEST, base_url=cassette.base_url + "/v1")
        events = [event async for event in provider.stream(request)]

    assert events[0] == TextDelta("This is a test.")


async def test_an_unreachable_proxy_is_a_retryable_error(proxy_env):
    port = _refused_port()
    proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    request = replace(SAY_THIS_IS_A_TEST, base_url="http://provider.invalid/v1")
    async with adapter() as provider:
        with pytest.raises(ProviderError) as raised:
            async for _ in provider.stream(request):
                pass

    assert (raised.value.code, raised.value.retryable) == ("provider_error", True)
    assert f"127.0.0.1:{port}" in raised.value.message


async def test_a_cookie_one_answer_sets_is_not_sent_with_the_next_call(proxy_env):
    # Runs of every workspace share the connection pool: a cookie must not carry between them.
    cassette = load("openai/chat-text")
    answer = cassette.interactions[0]
    cookie = "__cf_bm=tracker; Path=/; Domain=api.openai.com"
    cassette.interactions[0] = replace(answer, headers={**answer.headers, "Set-Cookie": cookie})
    async with Replay(cassette, order=[0, 0]), adapter() as provider:
        proxy_env.setenv("HTTP_PROXY", cassette.base_url)
        request = replace(SAY_THIS_IS_A_TEST, base_url="http://api.openai.com/v1")
        for _ in range(2):
            events = [event async for event in provider.stream(request)]
            assert events[0] == TextDelta("This is a test.")

    assert [sent.headers.get("Cookie") for sent in cassette.sent] == [None, None]


async def test_each_call_presents_its_own_runs_key(proxy_env):
    async with replay("openai/chat-text", order=[0, 0, 0]) as cassette, adapter() as provider:
        base_url = cassette.base_url + "/v1"
        for key in ("sk-first", "sk-second", "sk-first"):
            request = replace(SAY_THIS_IS_A_TEST, base_url=base_url, api_key=key)
            events = [event async for event in provider.stream(request)]
            assert events[0] == TextDelta("This is a test.")

    assert [sent.headers["Authorization"] for sent in cassette.sent] == [
        "Bearer sk-first",
        "Bearer sk-second",
        "Bearer sk-first",
    ]
