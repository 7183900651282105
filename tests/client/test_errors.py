"""Error responses become one exception class per meaning, carrying status, code and body."""

from __future__ import annotations

import pytest

from corral.client import (
    APIStatusError,
    AuthenticationError,
    ConflictError,
    CorralError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    SpendLimitError,
)
from corral.client.errors import status_error_class
from tests.client.conftest import new_workspace


async def test_a_wrong_key_raises_authentication_error(open_client, server):
    async with open_client(server.base_url, api_key="crl_wrong") as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.whoami()

    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert refused.value.request_id
    assert str(refused.value).startswith("401 unauthorized: ")


async def test_a_key_without_the_scope_raises_permission_denied_with_the_scope(open_client, server):
    key = await new_workspace(server, scopes=["runs:read"])
    async with open_client(server.base_url, api_key=key) as reader:
        listed = await reader.runs.list()
        with pytest.raises(PermissionDeniedError) as denied:
            await reader.runs.create(model="test", input="x")

    assert listed.data == []
    assert (denied.value.status, denied.value.code) == (403, "insufficient_scope")
    assert denied.value.required_scope == "runs:write"


async def test_a_missing_object_raises_not_found(sdk):
    with pytest.raises(NotFoundError) as missing:
        await sdk.runs.retrieve("run_missing")

    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.body["error"] == "not_found"


async def test_deleting_an_active_run_raises_conflict_with_run_active(sdk):
    run = await sdk.runs.create(model="test", input="[[delay 5s]] busy")

    with pytest.raises(ConflictError) as conflict:
        await sdk.runs.delete(run.id)
    await sdk.runs.cancel(run.id)

    assert (conflict.value.status, conflict.value.code) == (409, "run_active")


async def test_invalid_input_raises_invalid_request_naming_the_field(sdk):
    with pytest.raises(InvalidRequestError) as empty:
        await sdk.runs.create(model="test", input="")
    with pytest.raises(InvalidRequestError) as unknown_model:
        await sdk.agents.create(name="bad", model="gpt-0-mini")

    assert (empty.value.status, empty.value.code, empty.value.field) == (
        400,
        "invalid_request",
        "/input",
    )
    assert (unknown_model.value.code, unknown_model.value.field) == ("invalid_model", "/model")
    assert "gpt-5-mini" in unknown_model.value.body["candidates"]


def test_every_status_error_is_a_corral_error():
    for cls in (
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        InvalidRequestError,
        SpendLimitError,
    ):
        assert issubclass(cls, APIStatusError)
        assert issubclass(cls, CorralError)


def test_a_spend_cap_reached_is_a_spend_limit_error_saying_when_it_resets():
    body = {"error": "spend_limit_reached", "resets_at": "2027-01-01T00:00:00.000000Z"}
    error = status_error_class(402)("cap", status=402, code="spend_limit_reached", body=body)

    assert isinstance(error, SpendLimitError)
    assert error.resets_at == "2027-01-01T00:00:00.000000Z"
