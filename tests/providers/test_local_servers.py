"""A local model server that is not there: the run's error says where it was looked for."""

from __future__ import annotations

import socket

import pytest

from corral.domain.conversation import parse_messages
from corral.errors import ProviderError
from corral.providers import catalog
from corral.providers.base import ModelRequest
from corral.providers.registry import ModelRegistry


async def test_a_refused_local_server_is_named_with_its_url_and_variable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        base_url = f"http://127.0.0.1:{port}/v1"
        registry = ModelRegistry(catalog.load(), environ={"OLLAMA_BASE_URL": base_url})
        entry = registry.resolve("ollama/llama3.1")
        endpoint = registry.endpoint(entry, None)
        request = ModelRequest(
            model=entry.model,
            instructions="",
            messages=parse_messages([{"role": "user", "content": "hi"}]),
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
        )
        provider = await registry.provider(entry)
        try:
            with pytest.raises(ProviderError) as raised:
                async for _ in provider.stream(request):
                    pass
        finally:
            await registry.aclose()

    assert raised.value.message.startswith("ollama: connection failed: cannot connect to ")
    assert f"is the model server at {base_url} running?" in raised.value.message
    assert "set OLLAMA_BASE_URL on the server" in raised.value.message
