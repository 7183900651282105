"""The scope table covers every route, and every route answers each scope as its row says."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from corral.api.scopes import (
    ANY_KEY,
    OPERATOR,
    PUBLIC,
    ROUTES,
    Operation,
    Requirement,
    Scope,
    ScopeTableMismatch,
    check_coverage,
)
from corral.security import keys as key_rules
from tests.conftest import api_client
from tests.helpers import scoped_key

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PARAM = re.compile(r"\{(\w+)(:\w+)?\}")
PLACEHOLDERS = {"workspaceSlug": "default"}  # the workspace `scoped_key` adds keys to
"""Path parameter values; any other parameter is `x`, which names nothing."""


def openapi_path(template: str) -> str:
    """A route's path template as the OpenAPI document writes it (without `:convertor`)."""
    return PARAM.sub(r"{\1}", template)


def url(template: str) -> str:
    return PARAM.sub(lambda m: PLACEHOLDERS.get(m[1], "x"), template)


async def call(
    client: httpx.AsyncClient, operation: Operation, key: str | None = None
) -> httpx.Response:
    method, template = operation
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return await client.request(method, url(template), headers=headers, **body)


def error_fields(body: dict[str, Any]) -> dict[str, Any]:
    """An error body's fields: Corral's and MANTYX's are flat, the Managed Agents API nests them."""
    if isinstance(body.get("error"), dict):
        return {**body["error"], "error": body["error"]["code"]}
    return body


def refusal(response: httpx.Response) -> str | None:
    """The error code of a 401 or 403, if the answer is one."""
    if response.status_code not in (401, 403):
        return None
    return str(error_fields(response.json())["error"])


def test_every_operation_of_the_openapi_document_has_a_row(unstarted_app):
    rows = {(method, openapi_path(template)) for method, template in ROUTES}
    documented = {
        (method.upper(), path)
        for path, operations in unstarted_app.openapi()["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    }

    assert documented
    assert sorted(documented - rows) == []


def test_the_table_and_the_routes_agree(unstarted_app):
    check_coverage(unstarted_app)


def test_a_row_without_a_route_is_refused(unstarted_app):
    table = {**ROUTES, ("GET", "/v1/nowhere"): ANY_KEY}

    with pytest.raises(ScopeTableMismatch, match=r"no route for GET /v1/nowhere$"):
        check_coverage(unstarted_app, table)


def test_a_route_without_a_row_is_refused(unstarted_app):
    table = {op: need for op, need in ROUTES.items() if op != ("POST", "/v1/runs/{run_id}/cancel")}

    with pytest.raises(ScopeTableMismatch, match=r"no row for POST /v1/runs/\{run_id\}/cancel$"):
        check_coverage(unstarted_app, table)


def test_a_row_must_name_a_real_scope():
    with pytest.raises(ValueError, match="'runs:execute' is not a scope"):
        Scope("runs:execute")


async def test_without_a_key_only_public_routes_answer(app):
    async with api_client(app, key=None) as anonymous:
        for operation, requirement in ROUTES.items():
            response = await call(anonymous, operation)
            code = refusal(response)
            if requirement is PUBLIC:
                assert code is None, (operation, response.text)
            else:
                assert (response.status_code, code) == (401, "unauthorized"), operation


def expected(requirement: Requirement, scope: str) -> str | None:
    """The scope a key holding only `scope` is refused for, or None if it gets through."""
    if isinstance(requirement, Scope) and not key_rules.allows([scope], requirement.name):
        return requirement.name
    return None


async def test_every_route_answers_every_scope_as_its_row_says(app, settings):
    keys = {scope: await scoped_key(settings, [scope]) for scope in sorted(key_rules.SCOPES)}
    checked = 0
    async with api_client(app, key=None) as client:
        for operation, requirement in ROUTES.items():
            if requirement is PUBLIC:
                continue
            for scope, key in keys.items():
                response = await call(client, operation, key)
                refused_for = expected(requirement, scope)
                if requirement is OPERATOR:  # no workspace's key, whatever its scopes
                    assert response.status_code == 403, (operation, scope, response.text)
                    assert error_fields(response.json())["error"] == "forbidden", (operation, scope)
                elif refused_for is None:
                    assert refusal(response) is None, (operation, scope, response.text)
                else:
                    body = error_fields(response.json())
                    assert response.status_code == 403, (operation, scope, response.text)
                    assert body["error"] == "insufficient_scope", (operation, scope, body)
                    assert body["required_scope"] == refused_for, (operation, scope, body)
                checked += 1
    assert checked >= 40 * len(keys)
