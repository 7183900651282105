"""Fuzzing of our own OpenAPI document, and a property test of the metadata rules.

Whatever a client sends, valid or not, the answer is never a 5xx, every 4xx is the error body
of PROTOCOL.md, and the document promised it: the answer's status and media type are among the
operation's, and a method the path does not answer gets 405 with `Allow`. The fuzzer runs once,
on PostgreSQL: it is the stricter backend (it refuses NUL characters and 32-bit overflows that
SQLite stores), and `test_bad_input.py` pins the same rejections on both databases.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.python import asgi

from corral.api.app import create_app
from corral.api.errors import validation_error
from corral.process import build_context
from corral.security.sealed import new_secret
from corral.settings import Settings
from corral.storage.database import Database
from corral.types.common import (
    METADATA_MAX_BYTES,
    METADATA_MAX_ENTRIES,
    METADATA_VALUE_MAX_CHARS,
)
from corral.types.runs import RunCreateParams
from tests.conftest import ADMIN_KEY, PG_URL

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def fuzz_settings(data_dir: Path, schema: str | None = None) -> Settings:
    """Settings of the fuzzed app: its own PostgreSQL schema, the test admin key."""
    return Settings(
        data_dir=data_dir,
        database_url=PG_URL,
        database_schema=schema,
        bootstrap_key=ADMIN_KEY,
        lease_s=2.0,
        poll_interval_s=0.2,
        resync_s=1.0,
        shutdown_grace_s=0.0,
        key_cache_s=60.0,
    )


# The document is built at import, without connecting anything, so that each operation is a test;
# the explicit secret keeps it from writing a key file into a data directory.
schema = schemathesis.openapi.from_dict(
    create_app(
        fuzz_settings(Path("unused")).model_copy(update={"secret_key": SecretStr(new_secret())})
    ).openapi()
)


def run_admin_sql(statement: str) -> None:
    async def execute() -> None:
        admin = Database(PG_URL)
        await admin.connect()
        try:
            await admin.run_sync_admin(lambda conn: conn.execute(sa.text(statement)))
        finally:
            await admin.close()

    asyncio.run(execute())


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh app on a new schema; schemathesis runs its lifespan on its own event loop thread."""
    schema_name = f"fuzz_{uuid.uuid4().hex[:12]}"
    run_admin_sql(f'CREATE SCHEMA "{schema_name}"')
    try:
        with pytest.MonkeyPatch.context() as env:
            for name in [n for n in os.environ if n.startswith("CORRAL_")]:
                env.delenv(name)
            settings = fuzz_settings(tmp_path_factory.mktemp("fuzz"), schema_name)
        yield create_app(settings, ctx=build_context(settings))
        asgi.shutdown_lifespans()
    finally:
        run_admin_sql(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def protocol_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx answer is `{"error": <code>, "message": <text>, ...}` with the request id.

    The Managed Agents facade nests them, in its API's envelope: `{"type": "error", "error":
    {"type", "message", "code", "field"}, "request_id"}`.
    """
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict), f"the error body is not an object: {body!r}"
    if body.get("type") == "error" and isinstance(body.get("error"), dict):
        assert isinstance(body["error"].get("type"), str), f"no error type: {body!r}"
        body = {
            **body["error"],
            "error": body["error"].get("code"),
            "request_id": body.get("request_id"),
        }
    assert isinstance(body.get("error"), str) and body["error"], f"no error code: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"no message: {body!r}"
    assert body.get("request_id") == response.headers["x-request-id"][0], body
    if body["error"] == "invalid_request":
        assert isinstance(body.get("field"), str), f"invalid_request without a field: {body!r}"
    return True


def steer_into_storage(case: Any) -> None:
    """Make a valid generated agent runnable: the `test` model, and the only agent source.

    A random model id, or both `agent` and `agent_spec` (the schema cannot say "exactly one
    of"), is refused before anything is stored; steered, valid bodies reach the services and
    the database, where the bugs a fuzzer finds tend to live.
    """
    body = case.body
    if not isinstance(body, dict) or (case.meta and case.meta.generation.mode.is_negative):
        return
    spec = body.get("agent_spec")
    for holder in (body, spec):
        if isinstance(holder, dict) and isinstance(holder.get("model"), str):
            holder["model"] = "test"
    if isinstance(spec, dict):
        for other_source in ("agent", "agent_version", "session"):
            body.pop(other_source, None)


@pytest.mark.postgres
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_request_makes_the_server_fail_and_every_rejection_is_a_protocol_error(case, fuzzed_app):
    steer_into_storage(case)

    response = case.call(app=fuzzed_app, headers=AUTH)

    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            protocol_error_body,
            status_code_conformance,
            content_type_conformance,
            unsupported_method,
        ],
    )


@pytest.mark.postgres
def test_the_fuzzed_document_is_the_one_the_server_serves(fuzzed_app):
    with asgi.get_client(fuzzed_app) as client:
        served = client.get(f"http://{asgi.HOST}/openapi.json").json()

    assert served == schema.raw_schema


METADATA_KEY_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
)


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Draws from `valid`, and one time in twenty from `invalid`."""
    return st.integers(0, 19).flatmap(lambda roll: invalid if roll == 0 else valid)


metadata_keys = mostly(
    st.text(alphabet=sorted(METADATA_KEY_CHARACTERS), min_size=1, max_size=64),
    st.text(alphabet="aZ09._-/ é:", max_size=70),
)
short_values = st.text(max_size=40)
long_values = st.text(alphabet="xé", min_size=150, max_size=256)
bad_values = st.one_of(st.text(alphabet="xé", min_size=257, max_size=260), st.integers(), st.none())
metadata = st.tuples(st.integers(0, 20), st.sampled_from([short_values, long_values])).flatmap(
    lambda shape: st.dictionaries(
        metadata_keys, mostly(shape[1], bad_values), min_size=shape[0], max_size=shape[0]
    )
)


def within_documented_limits(tags: dict[str, Any]) -> bool:
    """The rules of PROTOCOL.md.

    At most 16 entries, keys `[A-Za-z0-9._-]{1,64}`, string values of at most 256 characters,
    and 4 KB of JSON in all.
    """
    encoded = json.dumps(tags, ensure_ascii=False, separators=(",", ":")).encode()
    return (
        len(tags) <= METADATA_MAX_ENTRIES
        and all(0 < len(key) <= 64 and set(key) <= METADATA_KEY_CHARACTERS for key in tags)
        and all(
            isinstance(value, str) and len(value) <= METADATA_VALUE_MAX_CHARS
            for value in tags.values()
        )
        and len(encoded) <= METADATA_MAX_BYTES
    )


@given(tags=metadata)
@hypothesis.settings(max_examples=200, derandomize=True, database=None, deadline=None)
def test_metadata_is_accepted_exactly_when_it_is_within_the_documented_limits(tags):
    body = {"agent_spec": {"model": "test"}, "input": "hi", "metadata": tags}

    try:
        RunCreateParams.model_validate(body)
    except ValidationError as exc:
        rejection = validation_error([dict(error) for error in exc.errors()], body)
        assert not within_documented_limits(tags), rejection.message
        assert rejection.field is not None and rejection.field.startswith("/metadata")
    else:
        assert within_documented_limits(tags)
