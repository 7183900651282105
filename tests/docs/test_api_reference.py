"""What api.md, events.md and errors.md name exists: routes, fields, parameters, events, codes.

api.md writes bodies in brief next to their route (`POST /v1/agents` `{name, model, …}`), and
answers after an arrow (`GET /v1/models` → `{"models": [{"id", …}], "default"}`); both are
checked against the OpenAPI document's schemas, and every `?name=` of a route against its
parameters. Field tables are checked against the schema their section describes, and
events.md's table of event types against the event models, both ways.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest

from corral.types.errors import ErrorCode
from corral.types.events import BaseEvent, Event
from tests.docs.markdown import DOCS, ROOT, inline_code, tables
from tests.docs.shapes import Schemas, parse

API = DOCS / "api.md"
_ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
_BODY = re.compile(r"\s*`(\{[^`]*\})`")
_ANSWER = re.compile(r"\s*→\s*(?:\d{3}\s+)?`(\{[^`]*\}|[a-z_]+(?:,\s*[a-z_]+[^`]*))`")


@pytest.fixture(scope="module")
def schemas(document: dict[str, Any]) -> Schemas:
    return Schemas(document["components"]["schemas"])


FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/redoc"}
"""Routes FastAPI serves itself, outside the OpenAPI document."""


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation of a documented route; `{id or name}` matches any parameter."""
    wanted = path.split("?")[0].rstrip("/").split("/")
    for candidate, operations in document["paths"].items():
        segments = candidate.split("/")
        matches = len(segments) == len(wanted) and all(
            w == s or (w.startswith("{") and s.startswith("{"))
            for w, s in zip(wanted, segments, strict=True)
        )
        if matches and method.lower() in operations:
            return dict(operations[method.lower()])
    raise AssertionError(f"api.md documents {method} {path}, which the server does not have")


def request_schema(op: dict[str, Any]) -> dict[str, Any]:
    content = op.get("requestBody", {}).get("content", {})
    assert "application/json" in content, f"{op['operationId']} takes no JSON body"
    return dict(content["application/json"]["schema"])


def answer_schema(op: dict[str, Any]) -> dict[str, Any]:
    for status in ("200", "201", "202"):
        content = op.get("responses", {}).get(status, {}).get("content", {})
        if "application/json" in content:
            return dict(content["application/json"]["schema"])
    raise AssertionError(f"{op['operationId']} answers no JSON")


def documented_routes() -> list[tuple[str, str, str | None, str | None, int]]:
    """`(method, path, body, answer, line)` of every route api.md names."""
    text = API.read_text()
    found = []
    for route in _ROUTE.finditer(text):
        rest = text[route.end() :]
        body = _BODY.match(rest)
        answer = _ANSWER.match(rest[body.end() :] if body else rest)
        found.append(
            (
                route.group(1),
                route.group(2),
                body.group(1) if body else None,
                answer.group(1) if answer else None,
                text[: route.start()].count("\n") + 1,
            )
        )
    return found


ROUTES = [route for route in documented_routes() if "…" not in route[1]]


def test_api_md_names_its_routes_with_their_bodies():
    assert len(ROUTES) > 80
    assert sum(1 for route in ROUTES if route[2]) > 10


@pytest.mark.parametrize(
    ("method", "path", "body", "answer", "line"),
    ROUTES,
    ids=[f"{route[0]} {route[1]} (line {route[4]})" for route in ROUTES],
)
def test_the_route_its_parameters_and_fields_exist(
    method, path, body, answer, line, unstarted_app, document, schemas
):
    if path in FRAMEWORK_ROUTES:
        assert path in {getattr(route, "path", None) for route in unstarted_app.routes}
        return
    op = operation(document, method, path)
    query = re.findall(r"[?&]([a-z_]+)=", path)
    parameters = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    assert [name for name in query if name not in parameters] == []
    if body is not None:
        assert schemas.unknown(parse(body), request_schema(op)) == []
    if answer is not None:
        shape = answer if answer.startswith("{") else "{" + answer + "}"
        assert schemas.unknown(parse(shape), answer_schema(op)) == []


FIELD_TABLES = {
    ("api.md", "Agents (versioned)"): "AgentCreateParams",
    ("cli.md", "Agent manifests"): "AgentCreateParams",
    ("routines.md", "What a routine is made of"): "RoutineCreateParams",
}
"""Each table whose first column is `field`, by page and section, and the schema it describes."""
COMPLETE = {("api.md", "Agents (versioned)"), ("cli.md", "Agent manifests")}
"""The tables that must list every field of their schema, not only fields it has."""


def field_tables() -> list[tuple[str, str, list[str]]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for table in tables(page):
            if table.header and table.header[0] == "field":
                names = [name for row in table.rows for name in inline_code(row[0])]
                found.append((page.name, table.section, names))
    return found


def test_every_field_table_is_checked_here():
    assert sorted((page, section) for page, section, _ in field_tables()) == sorted(FIELD_TABLES)


@pytest.mark.parametrize(("page", "section", "names"), field_tables())
def test_the_table_s_fields_exist(page, section, names, schemas):
    fields = schemas.fields(schemas.definitions[FIELD_TABLES[page, section]])
    assert fields is not None
    assert [name for name in names if name not in fields] == []
    if (page, section) in COMPLETE:
        assert [name for name in fields if name not in names] == []


EVENT_COMMON = {*BaseEvent.model_fields, "type"}
"""`seq`, `type`, `run_id`, `created_at`: described once, above the table."""


def event_table() -> dict[str, list[str]]:
    """Event type → the fields events.md lists for it."""
    [table] = [t for t in tables(DOCS / "events.md") if t.header[:2] == ["type", "fields"]]
    documented = {}
    for row in table.rows:
        [kind] = inline_code(row[0])
        documented[kind] = _top_level_names(row[1])
    return documented


def _top_level_names(cell: str) -> list[str]:
    """The inline-code names of a table cell outside parentheses: `a` (`x`), `b`? → a, b."""
    depth, outside = 0, ""
    for char in cell:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0:
            outside += char
    return [name.rstrip("?") for name in inline_code(outside)]


EVENTS = {
    cls.model_fields["type"].default: cls
    for cls in get_args(get_args(Event.__value__)[0])
    if "type" in cls.model_fields
}


def test_events_md_lists_every_event_type_and_no_other():
    assert sorted(event_table()) == sorted(EVENTS)


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_events_md_lists_the_event_s_fields_and_no_other(kind):
    documented = event_table().get(kind, [])
    fields = set(EVENTS[kind].model_fields) - EVENT_COMMON
    assert sorted(documented) == sorted(fields)


def error_tables() -> list[tuple[int, str]]:
    """`(line, code)` of every code in the `code` column of errors.md's tables."""
    found = []
    for table in tables(DOCS / "errors.md"):
        if "code" in table.header:
            column = table.header.index("code")
            found += [(table.line, code) for row in table.rows for code in inline_code(row[column])]
    return found


def test_every_code_errors_md_lists_is_a_code_of_the_vocabulary():
    codes = {code.value for code in ErrorCode}
    assert len(error_tables()) > 40
    assert [(line, code) for line, code in error_tables() if code not in codes] == []


def test_every_code_the_docs_answer_with_is_a_code_of_the_vocabulary():
    """A status and its code (409 `run_active`), on any page but the facades' (their codes)."""
    codes = {code.value for code in ErrorCode}
    answered = [
        (page.name, text[: match.start()].count("\n") + 1, match.group(1))
        for page in sorted(DOCS.glob("*.md"))
        if page.name not in ("mantyx.md", "anthropic.md")
        for text in [page.read_text()]
        for match in re.finditer(r"\b[45]\d\d\s+`([a-z_]+)`", text)
    ]
    assert len(answered) > 50
    assert [found for found in answered if found[2] not in codes] == []


def test_the_readme_installs_the_wheel_this_version_builds():
    from corral import __version__

    wheels = re.findall(r"corral-[^\s'\"]+\.whl", (ROOT / "README.md").read_text())
    assert wheels
    assert set(wheels) == {f"corral-{__version__}-py3-none-any.whl"}
