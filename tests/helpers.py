"""Small helpers the API tests share."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from corral.ids import new_id
from corral.process import build_context
from corral.security import keys as key_rules
from corral.settings import Settings
from corral.storage import keys as key_store
from corral.storage import workspaces as workspace_store

TEST_AGENT: dict[str, Any] = {"model": "test"}


async def submit(client: httpx.AsyncClient, input: Any = "hello", **body: Any) -> dict[str, Any]:
    """Submit a run with an inline test agent unless the body names another agent."""
    payload: dict[str, Any] = {"input": input, **body}
    if not {"agent", "agent_spec", "session"} & payload.keys():
        payload["agent_spec"] = TEST_AGENT
    response = await client.post("/v1/runs", json=payload)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def wait(client: httpx.AsyncClient, run_id: str, timeout_s: float = 10) -> dict[str, Any]:
    """The run once it has ended."""
    response = await client.get(f"/v1/runs/{run_id}/wait", params={"timeout_s": timeout_s})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def events(client: httpx.AsyncClient, run_id: str, after: int = 0) -> list[dict[str, Any]]:
    """Every stored event of a run after `after`."""
    collected: list[dict[str, Any]] = []
    while True:
        response = await client.get(
            f"/v1/runs/{run_id}/events", params={"after": after, "limit": 1000}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        collected.extend(body["data"])
        if not body["has_more"]:
            return collected
        after = collected[-1]["seq"]


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """Frames of an event stream: `{"id", "event", "data"}` (comments dropped)."""
    frames = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        frame: dict[str, Any] = {}
        for line in block.split(b"\n"):
            if not line or line.startswith(b":"):
                continue
            name, _, value = line.decode().partition(":")
            value = value[1:] if value.startswith(" ") else value
            frame[name] = orjson.loads(value) if name == "data" else value
        if frame:
            frames.append(frame)
    return frames


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    """The response is the protocol's error body with this status, code and field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        assert body.get("field") == field, body


async def scoped_key(settings: Settings, scopes: list[str], workspace: str = "default") -> str:
    """A new key of an existing workspace that has only `scopes`, in clear."""
    secret = key_rules.generate_key()
    ctx = build_context(settings)

    def add(conn: Any) -> None:
        found = workspace_store.workspace_by_name(conn, workspace)
        assert found is not None, f"no workspace {workspace!r}"
        key_store.insert_key(
            conn,
            key_id=new_id("key"),
            workspace_id=found["id"],
            name="+".join(scopes),
            key_hash=key_rules.hash_key(secret),
            prefix=key_rules.display_prefix(secret),
            scopes=scopes,
            now=ctx.clock(),
        )

    await ctx.database.connect()
    try:
        await ctx.database.write(add)
    finally:
        await ctx.database.close()
    return secret
