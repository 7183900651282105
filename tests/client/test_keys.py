"""`client.keys` and `client.audit`: a key's life from its one-time secret to its revocation.

Most tests share the package's SQLite server, each in its own workspace. The tests whose outcome
rests on storage (the audit log's order and cursors, a revocation seen by the next request) run
on a server of their own on each backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.client import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from corral.client.resources.audit import AsyncAudit, Audit
from corral.client.resources.keys import AsyncKeys, Keys
from corral.settings import Settings
from corral.types.audit import AuditEvent
from corral.types.keys import ApiKey, ApiKeyWithSecret
from tests.client.conftest import awaited_client, drain, new_workspace
from tests.client.test_client import public_methods, shape
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer


@pytest.mark.parametrize(("sync", "async_"), [(Keys, AsyncKeys), (Audit, AsyncAudit)])
def test_the_sync_and_async_resources_have_the_same_methods_and_parameters(sync, async_):
    sync_methods, async_methods = public_methods(sync), public_methods(async_)

    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_key_is_created_used_listed_rotated_and_revoked(flavour, settings: Settings):
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as admin,
    ):
        created = await admin.keys.create(name="reader", scopes=["runs:read"])
        async with awaited_client(flavour, server.base_url, api_key=created.secret) as reader:
            me = await reader.whoami()
            assert (await reader.runs.list()).data == []
            with pytest.raises(PermissionDeniedError) as denied:
                await reader.runs.create(model="test", input="not allowed")

        listed = await drain(await admin.keys.list())
        retrieved = await admin.keys.retrieve(created.id)
        rotated = await admin.keys.rotate(created.id)
        revoked = await admin.keys.revoke(created.id)
        async with (
            awaited_client(flavour, server.base_url, api_key=created.secret) as old,
            awaited_client(flavour, server.base_url, api_key=rotated.secret) as new,
        ):
            with pytest.raises(AuthenticationError):
                await old.whoami()
            with pytest.raises(AuthenticationError):
                await new.whoami()

    assert isinstance(created, ApiKeyWithSecret)
    assert created.id.startswith("key_") and created.secret.startswith(created.prefix)
    assert (me.key.id, me.key.name, me.key.scopes) == (created.id, "reader", ["runs:read"])
    assert (denied.value.code, denied.value.required_scope) == ("insufficient_scope", "runs:write")
    assert all(type(k) is ApiKey for k in listed)
    assert [k.name for k in listed][-1] == "reader"
    assert retrieved == listed[-1] and retrieved.revoked_at is None
    assert rotated.id == created.id and rotated.secret != created.secret
    assert revoked.revoked_at is not None
    assert not hasattr(revoked, "secret")


async def test_a_rotated_secret_keeps_working_for_its_grace_period(sdk, open_client, server):
    created = await sdk.keys.create(name="ci", scopes=["runs:write"])

    rotated = await sdk.keys.rotate(created.id, grace_s=600)

    async with (
        open_client(server.base_url, api_key=created.secret) as old,
        open_client(server.base_url, api_key=rotated.secret) as new,
    ):
        assert (await old.whoami()).key.id == (await new.whoami()).key.id == created.id


async def test_expiry_and_agents_are_sent_and_come_back(sdk):
    expires_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)

    created = await sdk.keys.create(
        name="bot", scopes=["runs:write"], expires_at=expires_at, agents=["helper"]
    )

    assert created.expires_at == expires_at
    assert created.agents == ["helper"]
    assert (await sdk.keys.retrieve(created.id)).expires_at == expires_at


async def test_a_grant_beyond_the_creating_key_is_refused_naming_the_scope(open_client, server):
    key = await new_workspace(server, scopes=["keys:write"])
    async with open_client(server.base_url, api_key=key) as keeper:
        with pytest.raises(PermissionDeniedError) as refused:
            await keeper.keys.create(name="escalate", scopes=["keys:read", "runs:write"])

    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    assert refused.value.field == "/scopes/1"


async def test_invalid_grants_are_refused_naming_the_field(sdk):
    with pytest.raises(InvalidRequestError) as unknown:
        await sdk.keys.create(name="x", scopes=["runs:read", "everything"])
    with pytest.raises(InvalidRequestError) as naive:
        await sdk.keys.create(name="x", scopes=["runs:read"], expires_at=datetime(2099, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidRequestError) as past:
        await sdk.keys.create(
            name="x", scopes=["runs:read"], expires_at=datetime.now(UTC) - timedelta(minutes=1)
        )
    with pytest.raises(InvalidRequestError) as grace:
        await sdk.keys.rotate((await drain(await sdk.keys.list()))[0].id, grace_s=-1)

    assert (unknown.value.code, unknown.value.field) == ("invalid_request", "/scopes/1")
    assert naive.value.field == past.value.field == "/expires_at"
    assert grace.value.field == "/grace_s"


async def test_an_unknown_key_is_not_found(sdk):
    with pytest.raises(NotFoundError):
        await sdk.keys.retrieve("key_missing")
    with pytest.raises(NotFoundError):
        await sdk.keys.revoke("key_missing")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_audit_log_pages_newest_first_and_filters(flavour, settings: Settings):
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as admin,
    ):
        before = datetime.now(UTC)
        made = [await admin.keys.create(name=f"k{i}", scopes=["runs:read"]) for i in range(3)]
        await admin.keys.rotate(made[0].id, grace_s=60)
        await admin.keys.revoke(made[1].id)

        first = await admin.audit.list(limit=2)
        every = await drain(first)
        pages = await drain(first.iter_pages())
        revocations = await drain(await admin.audit.list(action="key.revoked"))
        later = await drain(await admin.audit.list(since=datetime.now(UTC) + timedelta(hours=1)))
        earlier = await drain(await admin.audit.list(until=before))

    ours = [e for e in every if e.target_id in {k.id for k in made}]
    assert len(first.data) == 2 and first.next_cursor is not None
    assert [len(p.data) for p in pages][:2] == [2, 2]
    assert all(isinstance(e, AuditEvent) for e in every)
    assert [(e.action, e.target_id) for e in ours] == [
        ("key.revoked", made[1].id),
        ("key.rotated", made[0].id),
        ("key.created", made[2].id),
        ("key.created", made[1].id),
        ("key.created", made[0].id),
    ]
    assert {(e.actor, e.address) for e in ours} == {("admin", "127.0.0.1")}
    assert [e.target_id for e in revocations] == [made[1].id]
    assert later == [] and earlier == []
    assert not any(k.secret in str(e.details) for k in made for e in ours)
