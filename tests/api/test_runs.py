from __future__ import annotations

import asyncio
import time

from tests.helpers import assert_error, events, submit, wait


async def test_a_run_of_the_test_model_echoes_its_input_and_completes(client):
    run = await submit(client, "hello there")
    assert run["status"] == "queued"
    assert run["id"].startswith("run_")

    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert ended["output"] == "hello there"
    assert ended["error"] is None
    assert ended["usage"]["input_tokens"] > 0
    assert ended["usage"]["output_tokens"] > 0
    assert ended["started_at"] and ended["ended_at"]


async def test_the_event_log_is_numbered_without_gaps_and_ends_with_one_terminal_event(client):
    run = await submit(client, "one two three four")
    await wait(client, run["id"])

    log = await events(client, run["id"])

    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert log[0]["type"] == "run.started"
    assert log[-1]["type"] == "run.completed"
    assert log[-1]["output"] == "one two three four"
    deltas = [e["text"] for e in log if e["type"] == "message.delta"]
    assert "".join(deltas) == "one two three four"
    terminal = [e for e in log if e["type"].startswith("run.") and e["type"] != "run.started"]
    assert len(terminal) == 1
    assert all(e["run_id"] == run["id"] for e in log)


async def test_events_after_a_cursor_are_returned_in_pages(client):
    run = await submit(client, "[[deltas 30]]")
    await wait(client, run["id"])

    first = (await client.get(f"/v1/runs/{run['id']}/events", params={"limit": 3})).json()
    rest = (await client.get(f"/v1/runs/{run['id']}/events", params={"after": 3})).json()

    assert [e["seq"] for e in first["data"]] == [1, 2, 3]
    assert first["has_more"] is True
    assert rest["data"][0]["seq"] == 4
    assert rest["data"][-1]["type"] == "run.completed"
    assert rest["has_more"] is False


async def test_wait_returns_the_run_as_it_stands_when_the_timeout_passes_first(client):
    run = await submit(client, "[[delay 5s]] slow")

    response = await client.get(f"/v1/runs/{run['id']}/wait", params={"timeout_s": 0.2})

    assert response.status_code == 200
    assert response.json()["status"] in ("queued", "running")
    await client.post(f"/v1/runs/{run['id']}/cancel")


async def test_wait_keeps_its_timeout_and_sees_the_end_while_events_keep_coming(client):
    # A flush every 20 ms for 2 s: each wakes the waiter without ending the run.
    run = await submit(client, "[[deltas 100]] [[stream_delay 20ms]] streaming")

    started = time.monotonic()
    response = await client.get(f"/v1/runs/{run['id']}/wait", params={"timeout_s": 0.5})
    assert response.json()["status"] in ("queued", "running")
    assert time.monotonic() - started < 1.5

    ended = await client.get(f"/v1/runs/{run['id']}/wait", params={"timeout_s": 20})
    assert ended.json()["status"] == "completed"
    assert len(ended.json()["output"]) >= 100


async def test_a_run_can_use_a_stored_agent_by_name_and_records_its_version(client):
    created = await client.post(
        "/v1/agents", json={"name": "echo", "model": "test", "instructions": "Be brief."}
    )
    assert created.status_code == 201, created.text

    run = await submit(client, "hi", agent="echo")
    ended = await wait(client, run["id"])

    assert ended["agent"] == created.json()["id"]
    assert ended["agent_version"] == 1
    assert ended["status"] == "completed"


async def test_runs_are_listed_newest_first_and_filtered(client):
    first = await submit(client, "a", metadata={"team": "red", "env": "prod"})
    second = await submit(client, "b", metadata={"team": "blue", "env": "prod"})
    await wait(client, first["id"])
    await wait(client, second["id"])

    everything = (await client.get("/v1/runs")).json()
    red = (await client.get("/v1/runs", params={"metadata": ["team:red", "env:prod"]})).json()
    none = (await client.get("/v1/runs", params={"metadata": ["team:red", "env:dev"]})).json()
    completed = (await client.get("/v1/runs", params={"status": "completed"})).json()

    assert [r["id"] for r in everything["data"]] == [second["id"], first["id"]]
    assert [r["id"] for r in red["data"]] == [first["id"]]
    assert none["data"] == []
    assert {r["id"] for r in completed["data"]} == {first["id"], second["id"]}


async def test_listing_pages_through_every_run_once(client):
    ids = [(await submit(client, f"run {i}"))["id"] for i in range(5)]

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/runs", params=params)).json()
        seen.extend(r["id"] for r in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(ids))


async def test_cancelling_a_running_run_ends_it_cancelled_within_a_second(client):
    run = await submit(client, "[[delay 30s]] never")
    for _ in range(100):
        if (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "running":
            break
        await asyncio.sleep(0.02)

    started = asyncio.get_running_loop().time()
    response = await client.post(f"/v1/runs/{run['id']}/cancel")
    ended = await wait(client, run["id"], timeout_s=2)
    elapsed = asyncio.get_running_loop().time() - started

    assert response.status_code == 200
    assert ended["status"] == "cancelled"
    assert elapsed < 1.0
    log = await events(client, run["id"])
    assert log[-1]["type"] == "run.cancelled"
    assert [e["type"] for e in log].count("run.cancelled") == 1


async def test_cancel_is_idempotent_and_an_ended_run_keeps_its_status(client):
    run = await submit(client, "done")
    await wait(client, run["id"])

    first = await client.post(f"/v1/runs/{run['id']}/cancel")
    second = await client.post(f"/v1/runs/{run['id']}/cancel")

    assert first.json()["status"] == "completed"
    assert second.json()["status"] == "completed"


async def test_a_run_can_be_deleted_once_ended_but_not_while_active(client):
    active = await submit(client, "[[delay 30s]]")
    assert_error(await client.delete(f"/v1/runs/{active['id']}"), 409, "run_active")
    await client.post(f"/v1/runs/{active['id']}/cancel")

    deleted = await client.delete(f"/v1/runs/{active['id']}")

    assert deleted.status_code == 204
    assert_error(await client.get(f"/v1/runs/{active['id']}"), 404, "not_found")
    assert_error(await client.get(f"/v1/runs/{active['id']}/events"), 404, "not_found")


async def test_an_idempotent_retry_returns_the_same_run(client):
    body = {"agent_spec": {"model": "test"}, "input": "once", "idempotency_key": "k-1"}

    first = await client.post("/v1/runs", json=body)
    again = await client.post("/v1/runs", json=body)
    other = await client.post("/v1/runs", json={**body, "input": "twice"})

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert_error(other, 409, "idempotency_conflict")


async def test_the_idempotency_key_header_works_like_the_body_field(client):
    body = {"agent_spec": {"model": "test"}, "input": "once"}
    headers = {"Idempotency-Key": "header-key"}

    first = await client.post("/v1/runs", json=body, headers=headers)
    again = await client.post("/v1/runs", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]


async def test_a_submit_can_wait_for_the_end_of_a_short_run_in_one_request(client):
    body = {"agent_spec": {"model": "test"}, "input": "quick"}

    done = await client.post("/v1/runs", params={"wait_s": 5}, json=body)
    slow = await client.post(
        "/v1/runs", params={"wait_s": 0.1}, json={**body, "input": "[[delay 5s]] slow"}
    )

    assert done.status_code == 200
    assert (done.json()["status"], done.json()["output"]) == ("completed", "quick")
    assert slow.status_code == 202
    assert slow.json()["status"] in ("queued", "running")
    await client.post(f"/v1/runs/{slow.json()['id']}/cancel")


async def test_a_full_worker_takes_the_next_queued_run_as_soon_as_one_ends(make_settings):
    from tests.conftest import api_client, running_app

    # Polling only once a minute: the end of a run is what must wake the claim loop.
    settings = make_settings(worker_concurrency=1, poll_interval_s=60)
    async with running_app(settings) as app, api_client(app) as client:
        runs = [await submit(client, f"[[delay 0.2s]] run {i}") for i in range(3)]
        ended = [await wait(client, run["id"], timeout_s=10) for run in runs]

    assert [run["status"] for run in ended] == ["completed"] * 3
