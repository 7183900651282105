"""The OpenAPI document and its pages, as a user of /docs or a client generator relies on them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.api import scopes
from corral.console.routes import SECURITY_HEADERS as CONSOLE_HEADERS
from tests.conftest import ADMIN_KEY, api_client
from tests.helpers import assert_error

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
PARAM = re.compile(r"\{(\w+)(:\w+)?\}")
CLEAN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def requirement_of(method: str, path: str) -> scopes.Requirement:
    rows = {(m, PARAM.sub(r"{\1}", template)): r for (m, template), r in scopes.ROUTES.items()}
    return rows[method, path]


def test_the_document_names_both_ways_of_sending_a_key(document):
    schemes = document["components"]["securitySchemes"]

    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header"}
    assert schemes["apiKey"]["name"] == "X-API-Key"


def test_an_operation_that_needs_a_key_takes_either_one_and_a_public_one_none(document):
    either = [{"bearer": []}, {"apiKey": []}]

    assert document["paths"]["/v1/runs"]["post"]["security"] == either
    assert document["paths"]["/v1/workspaces"]["get"]["security"] == either
    for public in ("/healthz", "/readyz", "/metrics"):
        assert "security" not in document["paths"][public]["get"]
    assert "security" not in document["paths"]["/v1/hooks/{token}"]["post"]
    for method, path, operation in operations(document):
        public = requirement_of(method, path) is scopes.PUBLIC
        assert operation.get("security") == (None if public else either), (method, path)


def test_an_operation_says_which_scope_its_key_needs(document):
    description = document["paths"]["/v1/runs"]["post"]["description"]

    assert "`runs:write`" in description


def test_every_schema_has_a_name_a_client_generator_can_use(document):
    names = list(document["components"]["schemas"])

    assert [name for name in names if not CLEAN_NAME.match(name)] == []
    assert {"Event", "EventPage", "RunPage", "AgentPage", "ErrorBody"} <= set(names)


def test_every_error_response_has_the_protocol_error_body(document):
    bodies = {
        f"#/components/schemas/{name}"
        for name in ("ErrorBody", "MantyxErrorBody", "AnthropicErrorBody")
    }
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400 and not (path == "/readyz" and status == "503"):
                schema = response["content"]["application/json"]["schema"]
                assert schema["$ref"] in bodies, (method, path, status)


async def test_the_served_document_is_the_apps(app, client):
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == app.openapi()


async def test_each_documented_way_of_sending_a_key_is_accepted(app):
    async with api_client(app, key=None) as anonymous:
        document = (await anonymous.get("/openapi.json")).json()
        for scheme in document["components"]["securitySchemes"].values():
            if scheme["type"] == "http":
                headers = {"Authorization": f"{scheme['scheme'].title()} {ADMIN_KEY}"}
            else:
                headers = {scheme["name"]: ADMIN_KEY}
            response = await anonymous.get("/v1/whoami", headers=headers)
            assert response.status_code == 200, (scheme, response.text)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_only_files_the_server_serves(client, page):
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "http://" not in response.text and "https://" not in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets)
    for url in assets:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        expected = MEDIA_TYPES[Path(url).suffix]
        assert asset.headers["content-type"].split(";")[0] == expected, url
        assert asset.headers["x-content-type-options"] == "nosniff"


async def test_the_docs_pages_read_the_served_document(client):
    for page in ("/docs", "/redoc"):
        text = (await client.get(page)).text
        assert 'data-openapi-url="/openapi.json"' in text


async def test_the_console_keeps_its_own_strict_policy(client):
    response = await client.get("/")

    assert response.headers["content-security-policy"] == CONSOLE_HEADERS["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]


async def test_a_method_a_path_does_not_answer_gets_405_naming_those_it_does(client):
    response = await client.put("/v1/agents/some-agent")

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "DELETE, GET, PATCH"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_every_documented_path_answers_an_unknown_method_with_405_and_allow(client):
    document = (await client.get("/openapi.json")).json()
    for path, items in document["paths"].items():
        documented = {method.upper() for method in items if method in HTTP_METHODS}
        response = await client.request("TRACE", PARAM.sub("x", path))
        assert_error(response, 405, "method_not_allowed")
        # Exactly the documented methods (and HEAD with GET): a catch-all advertises nothing.
        assert set(response.headers["allow"].split(", ")) - {"HEAD"} == documented, path
