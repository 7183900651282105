"""Reaching the server: base URLs with `/v1`, refused connections, and what an error suggests."""

from __future__ import annotations

import httpx
import pytest

from corral.client import APIConnectionError, APITimeoutError, AsyncCorral, Corral
from corral.client._base_client import BaseClient
from corral.client.errors import CorralError, InvalidRequestError
from tests.conftest import free_port


async def test_a_base_url_ending_in_the_api_prefix_reaches_the_same_server(open_client, server):
    async with open_client(f"{server.base_url}/v1/") as client:
        me = await client.whoami()

    assert me.workspace.id.startswith("ws_")


@pytest.mark.parametrize("cls", [Corral, AsyncCorral])
def test_the_api_prefix_is_dropped_from_the_base_url(cls, monkeypatch):
    monkeypatch.setenv("CORRAL_BASE_URL", "http://127.0.0.1:7070/v1")

    assert cls(api_key="k").base_url == "http://127.0.0.1:7070"
    assert cls(api_key="k", base_url="http://corral.example/api/v1").base_url == (
        "http://corral.example/api"
    )
    assert cls(api_key="k", base_url="http://corral.example/v10").base_url == (
        "http://corral.example/v10"
    )


async def test_a_refused_connection_names_the_url_it_tried(open_client):
    down = f"http://127.0.0.1:{free_port()}"

    async with open_client(down, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as refused:
            await client.runs.retrieve("run_x")

    assert refused.value.url == f"{down}/v1/runs/run_x"
    assert str(refused.value).startswith(f"cannot reach the server at {down}/v1/runs/run_x: ")


def test_a_timeout_names_the_url_too():
    request = httpx.Request("GET", "http://corral.test/v1/runs")

    error = BaseClient._connection_error(httpx.ReadTimeout("read timed out", request=request))

    assert isinstance(error, APITimeoutError)
    assert error.url == "http://corral.test/v1/runs"
    assert str(error) == "request to http://corral.test/v1/runs timed out: read timed out"


async def test_an_unknown_model_comes_with_the_candidates(sdk):
    with pytest.raises(InvalidRequestError) as refused:
        await sdk.runs.create(model="claude-sonet", input="hi")

    assert refused.value.code == "invalid_model"
    assert "claude-sonnet-4-5" in refused.value.candidates


async def test_an_error_without_candidates_has_none(sdk):
    with pytest.raises(InvalidRequestError) as refused:
        await sdk.runs.create(model="test", input="")

    assert refused.value.candidates == []


@pytest.mark.parametrize("cls", [Corral, AsyncCorral])
@pytest.mark.parametrize("key", ["crl_…", "crl_abc\n"])
def test_a_key_that_no_header_can_carry_is_refused_before_any_request(cls, key):
    expected = r"\(not printable ASCII\): check api_key= or CORRAL_API_KEY"
    with pytest.raises(CorralError, match=expected):
        cls(api_key=key)
