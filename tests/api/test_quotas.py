"""Workspace quotas: runs over a concurrency cap wait queued, uploads over the stored bytes get 413.

Runs that ask for a client tool wait for it holding their slot, which keeps a cap full for as
long as a test needs. The poll interval is long, so a held-back run can only start because the
end of another woke its worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.api.test_client_tools import WEATHER, wait_for_status
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit, wait

OPERATOR_KEY = "crl_operator_test_key"
HELD_BACK_S = 0.5
"""How long a held-back run is watched staying queued."""
QUOTA_FIELDS = (
    "max_concurrent_runs",
    "max_concurrent_runs_per_agent",
    "active_runs",
    "max_stored_bytes",
    "stored_bytes",
)


async def park(client: Any, **body: Any) -> tuple[str, str]:
    """Start a run that waits for a client tool result: (run id, call id)."""
    if "agent" not in body:
        body["tools"] = [WEATHER]
    run = await submit(client, "weather?", **body)
    waiting = await wait_for_status(client, run["id"], "waiting")
    return run["id"], waiting["pending_tool_calls"][0]["call_id"]


async def answer(client: Any, run_id: str, call_id: str) -> None:
    response = await client.post(
        f"/v1/runs/{run_id}/tool-results", json={"call_id": call_id, "output": "sunny"}
    )
    assert response.status_code == 200, response.text


async def status(client: Any, run_id: str) -> str:
    return str((await client.get(f"/v1/runs/{run_id}")).json()["status"])


async def test_runs_over_the_workspace_cap_stay_queued_and_start_when_one_ends(make_settings):
    settings = make_settings(workspace_max_concurrent_runs=1, poll_interval_s=30.0)
    async with running_app(settings) as app, api_client(app) as client:
        parked, call_id = await park(client)
        held_back = await submit(client, "hello")
        await asyncio.sleep(HELD_BACK_S)
        status_while_full = await status(client, held_back["id"])
        limits = (await client.get("/v1/whoami")).json()["limits"]

        await answer(client, parked, call_id)
        first, second = await wait(client, parked), await wait(client, held_back["id"])

    assert status_while_full == "queued"
    assert (limits["max_concurrent_runs"], limits["active_runs"]) == (1, 1)
    assert (first["status"], second["status"]) == ("completed", "completed")
    assert second["started_at"] >= first["ended_at"]


async def test_runs_over_the_agent_cap_wait_while_other_runs_go_on(make_settings):
    settings = make_settings(agent_max_concurrent_runs=1, poll_interval_s=30.0)
    async with running_app(settings) as app, api_client(app) as client:
        agent = {"name": "forecaster", "model": "test", "tools": [WEATHER]}
        created = await client.post("/v1/agents", json=agent)
        assert created.status_code == 201, created.text
        parked, call_id = await park(client, agent="forecaster")
        held_back = await submit(client, "weather?", agent="forecaster")
        inline = await wait(client, (await submit(client, "hello"))["id"])
        status_while_full = await status(client, held_back["id"])

        await answer(client, parked, call_id)
        now_waiting = await wait_for_status(client, held_back["id"], "waiting")
        await answer(client, held_back["id"], now_waiting["pending_tool_calls"][0]["call_id"])
        second = await wait(client, held_back["id"])

    assert inline["status"] == "completed"
    assert status_while_full == "queued"
    assert second["status"] == "completed"


async def test_the_operator_sets_a_workspace_s_own_caps(make_settings):
    settings = make_settings(operator_key=OPERATOR_KEY, poll_interval_s=30.0)
    async with running_app(settings) as app, api_client(app, key=OPERATOR_KEY) as operator:
        team = (await operator.post("/v1/workspaces", json={"name": "team"})).json()
        limits = {"max_concurrent_runs": 1, "max_concurrent_runs_per_agent": 0}
        patched = await operator.patch(f"/v1/workspaces/{team['id']}", json={"limits": limits})
        async with api_client(app, key=team["admin_key"]["secret"]) as client:
            shown = (await client.get("/v1/whoami")).json()["limits"]
            parked, call_id = await park(client)
            held_back = await submit(client, "hello")
            await asyncio.sleep(HELD_BACK_S)
            status_while_full = await status(client, held_back["id"])
            await answer(client, parked, call_id)
            second = await wait(client, held_back["id"])

    assert patched.status_code == 200, patched.text
    assert {k: patched.json()["limits"][k] for k in limits} == limits
    assert (shown["max_concurrent_runs"], shown["max_concurrent_runs_per_agent"]) == (1, None)
    assert status_while_full == "queued"
    assert second["status"] == "completed"


async def test_whoami_shows_the_quotas_and_the_workspace_s_use_of_them(client):
    before = (await client.get("/v1/whoami")).json()["limits"]
    upload = await client.post("/v1/files", files={"file": ("a.txt", b"x" * 1000)})
    assert upload.status_code == 201, upload.text
    parked, call_id = await park(client)
    during = (await client.get("/v1/whoami")).json()["limits"]
    await answer(client, parked, call_id)
    await wait(client, parked)

    assert {k: before[k] for k in QUOTA_FIELDS} == {
        "max_concurrent_runs": 50,
        "max_concurrent_runs_per_agent": None,
        "active_runs": 0,
        "max_stored_bytes": 10 * 1024**3,
        "stored_bytes": 0,
    }
    assert (during["active_runs"], during["stored_bytes"]) == (1, 1000)


async def test_an_upload_past_the_stored_bytes_limit_is_refused(make_settings):
    settings = make_settings(workspace_max_stored_bytes=2048)
    async with running_app(settings) as app, api_client(app) as client:
        first = await client.post("/v1/files", files={"file": ("a.bin", b"a" * 1500)})
        refused = await client.post("/v1/files", files={"file": ("b.bin", b"b" * 1000)})
        await client.delete(f"/v1/files/{first.json()['id']}")
        after_delete = await client.post("/v1/files", files={"file": ("b.bin", b"b" * 1000)})
        stored = (await client.get("/v1/whoami")).json()["limits"]["stored_bytes"]

    assert first.status_code == 201, first.text
    assert_error(refused, 413, "storage_limit_reached", "file")
    assert (refused.json()["max_stored_bytes"], refused.json()["stored_bytes"]) == (2048, 1500)
    assert after_delete.status_code == 201, after_delete.text
    assert stored == 1000


async def test_outputs_past_the_stored_bytes_limit_are_not_kept(make_settings):
    settings = make_settings(workspace_max_stored_bytes=3000)
    async with running_app(settings) as app, api_client(app) as client:
        upload = await client.post("/v1/files", files={"file": ("a.bin", b"a" * 2000)})
        assert upload.status_code == 201, upload.text
        calls = [
            ("write", {"path": "big.txt", "content": "b" * 1500}),
            ("write", {"path": "small.txt", "content": "s" * 500}),
        ]
        text = " ".join(f"[[call {tool} {json.dumps(args)}]]" for tool, args in calls)
        ended = await wait(client, (await submit(client, text))["id"], timeout_s=60)
        outputs = (await client.get(f"/v1/runs/{ended['id']}/outputs")).json()["data"]

    assert ended["status"] == "completed", ended
    assert [o["path"] for o in outputs] == ["small.txt"]
