"""A secret a tool printed and a model repeated is nowhere in clear.

Not in an event, a log line, an output file, an answer of the API or the database, on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from typing import Any

import httpx
import pytest

from corral.sandbox.capabilities import probe
from tests.e2e.conftest import PG_URL, Cluster
from tests.helpers import events, wait

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not probe().enforced, reason=f"no sandbox here: {probe().detail}"),
]

REDACTED = "[secret:LEAK_TOKEN]"


def call(name: str, **arguments: Any) -> str:
    return f"[[call {name} {json.dumps(arguments)}]]"


class Recorder:
    """Every answer body the test received."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.bodies: list[bytes] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, url, **kwargs)
        self.bodies.append(response.content)
        return response


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_a_secret_echoed_by_a_tool_and_a_model_is_stored_and_streamed_redacted(
    cluster: Cluster, database: str
) -> None:
    marker = f"corral-leak-{uuid.uuid4().hex}"
    env = cluster.sqlite_env() if database == "sqlite" else await cluster.postgres_env()
    server = await cluster.serve(env)
    prompt = (
        call("bash", command='echo "token=$TOKEN"; echo "$TOKEN" > leaked.txt; echo "$TOKEN" >&2')
        + call("bash", command='echo "failing with $TOKEN" >&2; exit 3')
        + " [[deltas 64]] [[stream_delay 20ms]] [[reply_hex "
        + f"The token is {marker}, as leaked.txt says.".encode().hex()
        + "]]"
    )
    async with server.client(timeout=60) as client:
        api = Recorder(client)
        created = await api.request(
            "POST", "/v1/secrets", json={"name": "LEAK_TOKEN", "value": marker}
        )
        assert created.status_code == 201, created.text
        session = await api.request(
            "POST",
            "/v1/sessions",
            json={
                "agent_spec": {
                    "model": "test",
                    "environment": {"variables": {"TOKEN": "${secret:LEAK_TOKEN}"}},
                }
            },
        )
        assert session.status_code == 201, session.text
        sent = await api.request(
            "POST", f"/v1/sessions/{session.json()['id']}/messages", json={"input": prompt}
        )
        assert sent.status_code == 202, sent.text
        run_id = sent.json()["id"]
        ended = await wait(client, run_id, timeout_s=45)
        log = await events(client, run_id)
        for path in (
            f"/v1/runs/{run_id}",
            f"/v1/runs/{run_id}/events",
            f"/v1/runs/{run_id}/outputs",
            f"/v1/runs/{run_id}/outputs/leaked.txt",
            f"/v1/sessions/{session.json()['id']}",
        ):
            await api.request("GET", path)
        stream = await api.request("GET", f"/v1/runs/{run_id}/stream", params={"after": 0})
        outputs = await client.get(f"/v1/runs/{run_id}/outputs/leaked.txt")

    assert ended["status"] == "completed", ended
    results = [e for e in log if e["type"] == "tool.completed"]
    # The secret reached the command that named it, and came back redacted.
    assert results[0]["output"].startswith(f"token={REDACTED}\n"), results[0]
    assert f"failing with {REDACTED}" in json.dumps(results[1]), results[1]
    deltas = [e["text"] for e in log if e["type"] == "message.delta"]
    text = "".join(deltas)
    assert f"The token is {REDACTED}, as leaked.txt says." in text
    assert len(deltas) > 1, "the answer should have streamed in pieces"
    assert outputs.content == f"{REDACTED}\n".encode()
    assert stream.status_code == 200 and REDACTED.encode() in stream.content

    leaks = []
    for body in [*api.bodies, json.dumps(log).encode()]:
        if marker.encode() in body:
            leaks.append(body[:300])
    logs = sorted(cluster.log_dir.glob("*.log"))
    assert any(b"run.claimed" in path.read_bytes() for path in logs)
    leaks += [str(path).encode() for path in logs if marker.encode() in path.read_bytes()]
    assert not leaks, leaks
    assert marker not in _database_dump(cluster, database), "the database holds the secret"


def _database_dump(cluster: Cluster, database: str) -> str:
    """Every byte the database holds, as text (PostgreSQL's bytea values decoded)."""
    if database == "sqlite":
        files = sorted((cluster.tmp_path / "data").glob("corral.db*"))
        assert files
        return b"".join(path.read_bytes() for path in files).decode("latin-1")
    schema = cluster._schemas[-1]
    dump = subprocess.run(
        ["pg_dump", "--data-only", f"--schema={schema}", PG_URL],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "COPY" in dump
    binary = b"".join(bytes.fromhex(v) for v in re.findall(r"\\\\x([0-9a-f]+)", dump))
    assert REDACTED.encode() in binary  # the output file, as stored
    return dump + binary.decode("latin-1")
