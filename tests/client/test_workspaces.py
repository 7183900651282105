"""`client.workspaces`: the server's operator makes, suspends, resumes and deletes workspaces.

These routes need a server with an operator key, so each test starts one of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from corral.client import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from corral.client.resources.workspaces import AsyncWorkspaces, Workspaces
from corral.settings import Settings
from corral.types.workspaces import Workspace, WorkspaceWithKey
from tests.client.conftest import awaited_client, drain
from tests.client.proxy import FaultyProxy
from tests.client.test_client import public_methods, shape
from tests.conftest import ADMIN_KEY, LiveServer

OPERATOR_KEY = "crl_operator_sdk_test_key"


@pytest_asyncio.fixture(loop_scope="package")
async def operated(make_settings: Callable[..., Settings]) -> AsyncIterator[LiveServer]:
    """A server with an operator key."""
    async with LiveServer(make_settings(operator_key=OPERATOR_KEY)) as server:
        yield server


def test_the_sync_and_async_resources_have_the_same_methods_and_parameters():
    sync_methods, async_methods = public_methods(Workspaces), public_methods(AsyncWorkspaces)

    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


async def test_a_workspace_is_created_suspended_resumed_and_deleted(flavour, operated):
    url = operated.base_url
    async with awaited_client(flavour, url, api_key=OPERATOR_KEY) as operator:
        team = await operator.workspaces.create(name="team-a")
        async with awaited_client(flavour, url, api_key=team.admin_key.secret) as admin:
            me = await admin.whoami()
            listed = await drain(await operator.workspaces.list())
            by_name = await operator.workspaces.retrieve("team-a")

            suspended = await operator.workspaces.suspend("team-a")
            with pytest.raises(PermissionDeniedError) as stopped:
                await admin.runs.list()
            resumed = await operator.workspaces.resume(team.id)
            limited = await operator.workspaces.set_limits("team-a", submits_per_minute=7)
            back = await admin.whoami()

            assert await operator.workspaces.delete("team-a") is None
            with pytest.raises(AuthenticationError):
                await admin.whoami()
        with pytest.raises(NotFoundError) as gone:
            await operator.workspaces.retrieve(team.id)

    assert isinstance(team, WorkspaceWithKey) and team.status == "active"
    assert team.admin_key.scopes == ["admin"]
    assert (me.workspace.id, me.workspace.name) == (team.id, "team-a")
    assert all(type(w) is Workspace for w in listed)
    assert [w.name for w in listed] == ["default", "team-a"]
    assert by_name == Workspace.model_validate(team.model_dump(exclude={"admin_key"}))
    assert (suspended.status, suspended.suspended_at is not None) == ("suspended", True)
    assert (stopped.value.status, stopped.value.code) == (403, "workspace_suspended")
    assert (resumed.status, resumed.suspended_at) == ("active", None)
    assert back.workspace.id == team.id
    assert limited.limits.submits_per_minute == 7
    submits = [rate for rate in back.limits.rates if rate.name == "workspace_submits"]
    assert [rate.per_minute for rate in submits] == [7]
    assert gone.value.code == "not_found"


async def test_a_workspace_key_cannot_manage_workspaces(flavour, operated):
    async with awaited_client(flavour, operated.base_url, api_key=ADMIN_KEY) as admin:
        with pytest.raises(PermissionDeniedError) as listing:
            await admin.workspaces.list()
        with pytest.raises(PermissionDeniedError) as creating:
            await admin.workspaces.create(name="mine")
        with pytest.raises(PermissionDeniedError):
            await admin.workspaces.suspend("default")

    assert (listing.value.code, creating.value.code) == ("forbidden", "forbidden")


async def test_the_operator_caps_a_workspaces_spend_and_whoami_shows_it(flavour, operated):
    url = operated.base_url
    async with awaited_client(flavour, url, api_key=OPERATOR_KEY) as operator:
        team = await operator.workspaces.create(name=f"spenders-{flavour}")
        capped = await operator.workspaces.set_limits(
            team.id,
            spend_per_day_usd=2.5,
            spend_per_month_usd=40,
            max_concurrent_runs=3,
            max_concurrent_runs_per_agent=1,
            max_stored_bytes=10_000,
        )
        async with awaited_client(flavour, url, api_key=team.admin_key.secret) as admin:
            me = await admin.whoami()

    assert (capped.limits.spend_per_day_usd, capped.limits.spend_per_month_usd) == (2.5, 40.0)
    assert (capped.limits.max_concurrent_runs, capped.limits.max_concurrent_runs_per_agent) == (
        3,
        1,
    )
    assert (me.limits.max_concurrent_runs, me.limits.max_stored_bytes) == (3, 10_000)
    assert [(s.field, s.cap_usd, s.spent_usd) for s in me.limits.spend] == [
        ("limits.spend_per_day_usd", 2.5, 0.0),
        ("limits.spend_per_month_usd", 40.0, 0.0),
    ]


async def test_a_taken_or_invalid_name_is_refused_naming_the_field(operated):
    async with awaited_client("async", operated.base_url, api_key=OPERATOR_KEY) as operator:
        await operator.workspaces.create(name="taken")
        with pytest.raises(ConflictError) as taken:
            await operator.workspaces.create(name="taken")
        with pytest.raises(InvalidRequestError) as invalid:
            await operator.workspaces.create(name="no spaces")

    assert (taken.value.status, taken.value.code, taken.value.field) == (409, "conflict", "/name")
    assert (invalid.value.code, invalid.value.field) == ("invalid_request", "/name")


async def test_a_create_whose_answer_was_lost_is_not_sent_again(flavour, operated):
    async with FaultyProxy(operated.port) as proxy:
        proxy.drop_response("POST", "/v1/workspaces")
        async with awaited_client(flavour, proxy.base_url, api_key=OPERATOR_KEY) as operator:
            with pytest.raises(APIConnectionError):
                await operator.workspaces.create(name=f"lost-{flavour}")
            made = await operator.workspaces.retrieve(f"lost-{flavour}")

    assert proxy.count("POST", "/v1/workspaces") == 1
    assert made.status == "active"
