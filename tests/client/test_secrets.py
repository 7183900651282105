"""`client.secrets`: values go into the vault and never come back out.

Each test works in a workspace of its own on the package's shared server.
"""

from __future__ import annotations

import logging

import pytest

from corral.client import (
    APIConnectionError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from corral.client.resources.secrets import AsyncSecrets, Secrets
from corral.types.secrets import MAX_SECRET_BYTES, Secret
from tests.client.conftest import drain, new_workspace
from tests.client.test_client import public_methods, shape

VALUE = "s3cr3t-value-that-must-not-leak"
NEW_VALUE = "an0ther-value-that-must-not-leak"


def test_the_sync_and_async_resources_have_the_same_methods_and_parameters():
    sync_methods, async_methods = public_methods(Secrets), public_methods(AsyncSecrets)

    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


async def test_a_secret_is_created_updated_listed_retrieved_and_deleted(sdk, caplog):
    caplog.set_level(logging.DEBUG)

    created = await sdk.secrets.create(name="GITHUB_TOKEN", value=VALUE, description="CI")
    updated = await sdk.secrets.update("GITHUB_TOKEN", value=NEW_VALUE)
    described = await sdk.secrets.update("GITHUB_TOKEN", value=VALUE, description="deploys")
    listed = await drain(await sdk.secrets.list())
    retrieved = await sdk.secrets.retrieve("GITHUB_TOKEN")
    assert await sdk.secrets.delete("GITHUB_TOKEN") is None
    with pytest.raises(NotFoundError) as gone:
        await sdk.secrets.retrieve("GITHUB_TOKEN")

    assert isinstance(created, Secret) and created.id.startswith("sec_")
    assert (created.name, created.version, created.description) == ("GITHUB_TOKEN", 1, "CI")
    assert (updated.version, updated.description) == (2, "CI")
    assert (described.version, described.description) == (3, "deploys")
    assert [(s.name, s.version, s.versions) for s in listed] == [("GITHUB_TOKEN", 3, None)]
    assert retrieved.versions is not None
    assert [v.version for v in retrieved.versions] == [3, 2, 1]
    assert gone.value.code == "not_found" and "GITHUB_TOKEN" in gone.value.message
    shown = [created, updated, described, *listed, retrieved]
    seen = " ".join([*map(repr, shown), *(s.model_dump_json() for s in shown), caplog.text])
    assert VALUE not in seen and NEW_VALUE not in seen


async def test_refusals_name_the_field_and_never_echo_the_value(sdk):
    await sdk.secrets.create(name="TAKEN", value=VALUE)

    with pytest.raises(ConflictError) as taken:
        await sdk.secrets.create(name="TAKEN", value=VALUE)
    with pytest.raises(InvalidRequestError) as bad_name:
        await sdk.secrets.create(name="1st", value=VALUE)
    with pytest.raises(InvalidRequestError) as empty:
        await sdk.secrets.create(name="EMPTY", value="")
    with pytest.raises(InvalidRequestError) as too_big:
        await sdk.secrets.update("TAKEN", value=VALUE + "x" * MAX_SECRET_BYTES)
    with pytest.raises(NotFoundError) as missing:
        await sdk.secrets.update("MISSING", value=VALUE)

    assert (taken.value.status, taken.value.code, taken.value.field) == (409, "conflict", "/name")
    assert (bad_name.value.code, bad_name.value.field) == ("invalid_request", "/name")
    assert (empty.value.field, too_big.value.field) == ("/value", "/value")
    assert missing.value.code == "not_found"
    for error in (taken, bad_name, empty, too_big, missing):
        assert VALUE not in f"{error.value} {error.value!r} {error.value.body}"
    assert (await sdk.secrets.retrieve("TAKEN")).version == 1


async def test_writing_needs_secrets_write_and_reading_secrets_read(open_client, server):
    reader_key = await new_workspace(server, scopes=["secrets:read"])
    runner_key = await new_workspace(server, scopes=["runs:write"])
    async with (
        open_client(server.base_url, api_key=reader_key) as reader,
        open_client(server.base_url, api_key=runner_key) as runner,
    ):
        assert await drain(await reader.secrets.list()) == []
        with pytest.raises(PermissionDeniedError) as writing:
            await reader.secrets.create(name="NOPE", value=VALUE)
        with pytest.raises(PermissionDeniedError) as reading:
            await runner.secrets.list()

    assert (writing.value.code, writing.value.required_scope) == (
        "insufficient_scope",
        "secrets:write",
    )
    assert reading.value.required_scope == "secrets:read"


async def test_a_write_whose_answer_was_lost_is_not_sent_again(open_client, proxy, acorral):
    await acorral.secrets.create(name="ROTATED", value=VALUE)
    proxy.drop_response("POST", "/v1/secrets")
    proxy.drop_response("PUT", "/v1/secrets/ROTATED")
    proxy.drop_response("GET", "/v1/secrets/ROTATED")

    async with open_client(proxy.base_url) as client:
        with pytest.raises(APIConnectionError) as creating:
            await client.secrets.create(name="FRESH", value=VALUE)
        with pytest.raises(APIConnectionError) as updating:
            await client.secrets.update("ROTATED", value=NEW_VALUE)
        read = await client.secrets.retrieve("ROTATED")  # reads are retried as ever

    assert proxy.count("POST", "/v1/secrets") == proxy.count("PUT", "/v1/secrets/ROTATED") == 1
    assert proxy.count("GET", "/v1/secrets/ROTATED") == 2 and read.version == 2
    assert (await acorral.secrets.retrieve("FRESH")).version == 1
    assert (await acorral.secrets.retrieve("ROTATED")).version == 2
    assert VALUE not in f"{creating.value!r} {updating.value!r}"
