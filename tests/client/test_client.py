"""The clients themselves: configuration, `whoami`, `models`, and sync/async parity."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from corral.client import AsyncCorral, Corral, CorralError
from corral.client.resources.agents import Agents, AsyncAgents
from corral.client.resources.models import AsyncModels, Models
from corral.client.resources.runs import AsyncRuns, Runs
from corral.client.resources.sessions import (
    AsyncSessionMessages,
    AsyncSessions,
    SessionMessages,
    Sessions,
)
from corral.types.models import ModelList
from corral.types.workspaces import WhoAmI
from tests.conftest import ADMIN_KEY, free_port

TWINS = [
    (Corral, AsyncCorral),
    (Runs, AsyncRuns),
    (Agents, AsyncAgents),
    (Sessions, AsyncSessions),
    (SessionMessages, AsyncSessionMessages),
    (Models, AsyncModels),
]


async def test_whoami_and_models_are_typed(sdk):
    me = await sdk.whoami()
    models = await sdk.models.list()

    assert isinstance(me, WhoAmI)
    assert me.key.scopes == ["admin"]
    assert me.workspace.id.startswith("ws_")
    assert isinstance(models, ModelList)
    assert "test" in [m.id for m in models.models]


@pytest.mark.parametrize("cls", [Corral, AsyncCorral])
def test_a_client_without_an_api_key_cannot_be_made(cls):
    with pytest.raises(CorralError, match="CORRAL_API_KEY"):
        cls()


@pytest.mark.parametrize("cls", [Corral, AsyncCorral])
def test_the_base_url_defaults_to_the_local_server_and_loses_its_trailing_slash(cls):
    assert cls(api_key="k").base_url == "http://127.0.0.1:7070"
    assert cls(api_key="k", base_url="http://corral.example/").base_url == "http://corral.example"


async def test_the_environment_configures_a_client_without_arguments(server, monkeypatch):
    monkeypatch.setenv("CORRAL_BASE_URL", server.base_url)
    monkeypatch.setenv("CORRAL_API_KEY", ADMIN_KEY)

    with Corral() as client:
        me = await asyncio.to_thread(client.whoami)
    async with AsyncCorral() as aclient:
        ame = await aclient.whoami()

    assert client.base_url == aclient.base_url == server.base_url
    assert me == ame


async def test_arguments_win_over_the_environment(server, monkeypatch):
    monkeypatch.setenv("CORRAL_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CORRAL_API_KEY", "crl_not_this_one")

    with Corral(base_url=server.base_url, api_key=ADMIN_KEY, max_retries=0) as client:
        me = await asyncio.to_thread(client.whoami)

    assert me.key.name == "admin"
    assert client.config.api_key == ADMIN_KEY


async def test_with_options_shares_the_connections_and_changes_only_what_it_is_given(server):
    with Corral(base_url=server.base_url, api_key=ADMIN_KEY, timeout=12) as client:
        quick = client.with_options(timeout=1)
        patient = client.with_options(max_retries=9)
        quick.close()  # does not close the parent's connections
        me = await asyncio.to_thread(client.whoami)

    assert (quick.config.timeout_s, quick.config.max_retries) == (1, client.config.max_retries)
    assert (patient.config.timeout_s, patient.config.max_retries) == (12, 9)
    assert me.key.name == "admin"


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and inspect.isfunction(member)
    }


def public_attributes(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[s.__name__ for s, _ in TWINS])
def test_the_sync_and_async_twins_expose_the_same_methods_and_parameters(sync, async_):
    sync_methods, async_methods = public_methods(sync), public_methods(async_)

    assert public_attributes(sync) == public_attributes(async_)
    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


@pytest.mark.parametrize(("sync", "async_"), TWINS, ids=[s.__name__ for s, _ in TWINS])
def test_async_twins_await_every_call_that_does_io(sync, async_):
    no_io = {"stream", "stream_connection", "with_options"}

    not_awaited = {
        name
        for name, member in inspect.getmembers(async_)
        if not name.startswith("_")
        and inspect.isfunction(member)
        and not inspect.iscoroutinefunction(member)
    }

    assert not_awaited <= no_io
