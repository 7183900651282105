"""Subagent trees across real processes: cancelled from the root, resumed after a crash, capped.

A tree three deep (`top` -> `middle` -> `leaf`, each a stored agent offered to the one above as
an agent tool) under a root run. Cancelling the root ends every run of it and stops the worker
executing the leaf; a worker killed in the middle of the tree loses nothing, starts no child
twice and runs no ended child again; and what the children spend counts against the root's
spend cap.

Each scenario runs on SQLite and on PostgreSQL, each as it is deployed: SQLite is one process
(`corral serve` with its worker; a crash kills it and a new one starts on the same data), on
PostgreSQL an API-only `corral serve` and a separate `corral worker` (a crash kills the worker
and a new worker takes over).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import api_and_worker, assert_sound_log, eventually, get_run
from tests.helpers import events, submit, wait

pytestmark = pytest.mark.e2e

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

UNLIMITED = {"rate_limit_per_minute": 0, "workspace_rate_limit_per_minute": 0}
"""The tests poll often; the per-key request rate limit must not get in their way."""


def call(tool: str, arguments: dict[str, Any]) -> str:
    """A test model directive calling `tool`."""
    return f"[[call {tool} {orjson.dumps(arguments).decode()}]]"


def agent_tool(name: str) -> dict[str, Any]:
    return {"type": "agent", "agent": name}


async def environment(cluster: Cluster, database: str, **settings: Any) -> dict[str, str]:
    settings = {**UNLIMITED, **settings}
    if database == "postgres":
        return await cluster.postgres_env(**settings)
    return cluster.sqlite_env(**settings)


async def store_agent(client: httpx.AsyncClient, name: str, **spec: Any) -> dict[str, Any]:
    response = await client.post("/v1/agents", json={"name": name, "model": "test", **spec})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def listed(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/runs", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("next_cursor") is None, body
    return list(body["data"])


async def children(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    return await listed(client, parent_run=run_id)


async def below(client: httpx.AsyncClient, root_id: str) -> dict[str, dict[str, Any]]:
    """Every run below the root, by id."""
    return {run["id"]: run for run in await listed(client, root_run=root_id)}


async def store_three_deep(
    client: httpx.AsyncClient, *, leaf_wait_s: float, middle: dict[str, Any] | None = None
) -> None:
    """`top` calls `middle`, which calls `leaf` (and whatever `middle` adds), which waits."""
    await store_agent(
        client,
        "leaf",
        description="Waits.",
        builtin_tools=["wait"],
        instructions=call("wait", {"seconds": leaf_wait_s}),
    )
    middle = middle or {
        "tools": [agent_tool("leaf")],
        "instructions": call("leaf", {"task": "sleep"}),
    }
    await store_agent(client, "middle", description="Delegates to the leaf.", **middle)
    await store_agent(
        client,
        "top",
        description="Delegates to the middle.",
        tools=[agent_tool("middle")],
        instructions=call("middle", {"task": "work"}),
    )


async def submit_root(client: httpx.AsyncClient) -> dict[str, Any]:
    return await submit(
        client,
        call("top", {"task": "go"}),
        agent_spec={"model": "test", "tools": [agent_tool("top")]},
    )


def by_depth(tree: dict[str, dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for run in tree.values():
        found.setdefault(run["depth"], []).append(run)
    return found


# -- 1. a cancel at the root ----------------------------------------------------------------


@pytest.mark.parametrize("database", DATABASES)
async def test_cancelling_the_root_ends_a_tree_three_deep_and_stops_the_leaf_s_worker(
    cluster: Cluster, database: str
) -> None:
    # One worker slot for a tree four runs high: the parents must wait without holding it. A
    # 30 s lease (renewed every 10 s): losing it cannot be what stops the leaf in time.
    env = await environment(cluster, database, lease_s=30, worker_concurrency=1)
    server, worker = await api_and_worker(cluster, database, env)

    async with server.client(timeout=30) as client:
        await store_three_deep(client, leaf_wait_s=60)
        root = await submit_root(client)

        async def leaf_waiting() -> dict[str, Any] | None:
            tree = await below(client, root["id"])
            leaves = [r for r in tree.values() if r["depth"] == 3]
            if not leaves or leaves[0]["status"] != "running":
                return None
            log = await events(client, leaves[0]["id"])
            return leaves[0] if any(e["type"] == "tool.started" for e in log) else None

        leaf = await eventually(leaf_waiting, timeout_s=20, interval_s=0.1)
        await worker.wait_for_log("run.claimed", run_id=leaf["id"])
        before_cancel = await below(client, root["id"])
        parents = [await get_run(client, root["id"])] + [
            r for r in before_cancel.values() if r["id"] != leaf["id"]
        ]

        requested_at = time.monotonic()
        cancelled = await client.post(f"/v1/runs/{root['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"

        async def all_cancelled() -> dict[str, dict[str, Any]] | None:
            tree = await below(client, root["id"])
            return tree if all(r["status"] == "cancelled" for r in tree.values()) else None

        tree = await eventually(all_cancelled, timeout_s=5, interval_s=0.1)
        tree_ended_after_s = time.monotonic() - requested_at
        await worker.wait_for_log("run.ended", run_id=leaf["id"], status="cancelled", timeout_s=5)
        leaf_stopped_after_s = time.monotonic() - requested_at

        # The worker's one slot is free again: the leaf no longer holds it.
        after = await submit(client, "still working")
        after_ended = await wait(client, after["id"], timeout_s=10)

        final_root = await get_run(client, root["id"])
        logs = {run_id: await events(client, run_id) for run_id in [root["id"], *tree]}
        tree = await below(client, root["id"])

    # While the leaf ran, every run above it waited without a worker.
    assert [(r["depth"], r["status"]) for r in sorted(parents, key=lambda r: r["depth"])] == [
        (0, "waiting"),
        (1, "waiting"),
        (2, "waiting"),
    ]
    # The tree: one run at each depth, each the child of the one above, all of the same root.
    levels = by_depth(tree)
    assert sorted(levels) == [1, 2, 3]
    assert all(len(runs) == 1 for runs in levels.values()), levels
    chain = [root["id"]] + [levels[depth][0]["id"] for depth in (1, 2, 3)]
    for depth in (1, 2, 3):
        run = levels[depth][0]
        assert (run["parent_run"], run["root_run"]) == (chain[depth - 1], root["id"]), run
    assert levels[3][0]["id"] == leaf["id"]

    assert final_root["status"] == "cancelled", final_root
    assert all(run["status"] == "cancelled" for run in tree.values()), tree
    assert tree_ended_after_s < 5.0, f"the tree ended {tree_ended_after_s:.2f} s after the cancel"
    assert leaf_stopped_after_s < 5.0, f"the leaf stopped {leaf_stopped_after_s:.2f} s later"

    for run_id, log in logs.items():
        terminal = assert_sound_log(log, run_id)
        assert terminal["type"] == "run.cancelled", (run_id, terminal)
        assert terminal["reason"], terminal
    # The top child says why it ended: its parent, the root, was cancelled.
    top_end = logs[chain[1]][-1]
    assert root["id"] in top_end["reason"] and "cancelled" in top_end["reason"], top_end
    leaf_log = logs[leaf["id"]]
    assert [e["name"] for e in leaf_log if e["type"] == "tool.started"] == ["wait"]
    assert not [e for e in leaf_log if e["type"] == "message.completed" and not e["tool_calls"]]
    for parent, child in itertools.pairwise(chain):
        started = [e for e in logs[parent] if e["type"] == "subagent.started"]
        assert [e["child_run_id"] for e in started] == [child], logs[parent]

    assert (after_ended["status"], after_ended["output"]) == ("completed", "still working")
    assert worker.errors() == [], worker.describe()
    assert server.errors() == [], server.describe()


# -- 2. a crash in the middle ---------------------------------------------------------------

CRASH_POINTS = ["middle_parked", "middle_executing"]
"""Where the worker dies: while `middle` waits for the leaf that the worker is executing, or
while `middle` itself is in its second model call, having taken both its children's answers."""


@pytest.mark.parametrize("crash_point", CRASH_POINTS)
@pytest.mark.parametrize("database", DATABASES)
async def test_a_worker_killed_inside_a_tree_starts_no_child_twice_and_reruns_no_ended_child(
    cluster: Cluster, database: str, crash_point: str
) -> None:
    env = await environment(cluster, database, lease_s=2)
    server, executing = await api_and_worker(cluster, database, env)
    leaf_wait_s = 4 if crash_point == "middle_parked" else 1
    # `middle` asks `quick` (which echoes at once) and `leaf` in one turn; when it is to be
    # killed mid-turn, each of its model calls takes 3 s (the window for the kill).
    middle_script = call("quick", {"task": "ping"}) + call("leaf", {"task": "sleep"})
    if crash_point == "middle_executing":
        middle_script = "[[delay 3s]] " + middle_script
    expected = (
        "top returned: middle returned: quick returned: ping\n"
        f"leaf returned: wait returned: waited {leaf_wait_s:g} s"
    )

    async with server.client(timeout=30) as client:
        await store_agent(client, "quick", description="Echoes the task.")
        await store_three_deep(
            client,
            leaf_wait_s=leaf_wait_s,
            middle={
                "tools": [agent_tool("quick"), agent_tool("leaf")],
                "instructions": middle_script,
            },
        )
        root = await submit_root(client)

        async def tree_at_crash_point() -> dict[str, dict[str, Any]] | None:
            tree = await below(client, root["id"])
            named = {r["input"]: r for r in tree.values()}
            if not {"work", "ping", "sleep"} <= named.keys():
                return None
            middle, quick, leaf = named["work"], named["ping"], named["sleep"]
            if crash_point == "middle_parked":
                if (middle["status"], quick["status"], leaf["status"]) != (
                    "waiting",
                    "completed",
                    "running",
                ):
                    return None
                log = await events(client, leaf["id"])
                return tree if any(e["type"] == "tool.started" for e in log) else None
            if middle["status"] != "running":
                return None
            log = await events(client, middle["id"])
            collected = [e for e in log if e["type"] == "subagent.completed"]
            return tree if len(collected) == 2 else None

        at_crash = await eventually(tree_at_crash_point, timeout_s=20, interval_s=0.1)
        ended_before_crash = {
            run_id: run for run_id, run in at_crash.items() if run["status"] == "completed"
        }
        logs_before_crash = {run_id: await events(client, run_id) for run_id in ended_before_crash}
    executing.kill()

    if database == "sqlite":
        server = taking_over = await cluster.serve(env)
    else:
        taking_over = await cluster.worker(env)
    async with server.client(timeout=60) as client:
        ended = await wait(client, root["id"], timeout_s=40)
        tree = await below(client, root["id"])
        kids = {run_id: await children(client, run_id) for run_id in [root["id"], *tree]}
        logs = {run_id: await events(client, run_id) for run_id in [root["id"], *tree]}

    assert (ended["status"], ended["output"]) == ("completed", expected), ended
    named = {r["input"]: r for r in tree.values()}
    assert len(tree) == 4 and set(named) == {"go", "work", "ping", "sleep"}, tree
    top, middle, quick, leaf = (named[task] for task in ("go", "work", "ping", "sleep"))
    assert all(run["status"] == "completed" for run in tree.values()), tree

    # One child per call at every level, nothing more below.
    assert [c["id"] for c in kids[root["id"]]] == [top["id"]]
    assert [c["id"] for c in kids[top["id"]]] == [middle["id"]]
    assert sorted(c["id"] for c in kids[middle["id"]]) == sorted([quick["id"], leaf["id"]])
    assert kids[quick["id"]] == [] and kids[leaf["id"]] == []
    assert [(r["depth"], r["parent_run"]) for r in (top, middle, quick, leaf)] == [
        (1, root["id"]),
        (2, top["id"]),
        (3, middle["id"]),
        (3, middle["id"]),
    ]
    # Each parent's log tells of each child once: started once, its answer taken once.
    for parent in (root, top, middle):
        log = logs[parent["id"]]
        started = Counter(e["child_run_id"] for e in log if e["type"] == "subagent.started")
        completed = Counter(e["child_run_id"] for e in log if e["type"] == "subagent.completed")
        expected_children = {c["id"]: 1 for c in kids[parent["id"]]}
        assert started == expected_children, (parent["id"], started)
        assert completed == expected_children, (parent["id"], completed)

    # The children that had ended before the crash were not run again.
    assert quick["id"] in ended_before_crash
    if crash_point == "middle_executing":
        assert leaf["id"] in ended_before_crash
    for run_id, before in ended_before_crash.items():
        now = tree[run_id]
        assert (now["ended_at"], now["output"]) == (before["ended_at"], before["output"]), run_id
        assert logs[run_id] == logs_before_crash[run_id]
        assert taking_over.actions("run.claimed", run_id=run_id) == [], run_id
    # The run cut off mid-flight was taken over, once, by the process started after the crash.
    cut_off = leaf if crash_point == "middle_parked" else middle
    assert cut_off["id"] not in ended_before_crash
    before = [c["attempt"] for c in executing.actions("run.claimed", run_id=cut_off["id"])]
    after = [c["attempt"] for c in taking_over.actions("run.claimed", run_id=cut_off["id"])]
    assert before and after == [before[-1] + 1], (before, after)

    for run_id, log in logs.items():
        terminal = assert_sound_log(log, run_id)
        assert terminal["type"] == "run.completed", (run_id, terminal)
        # Each model call counted once: the run's usage is the sum of its logged usage.
        logged = [e for e in log if e["type"] == "usage"]
        run = ended if run_id == root["id"] else tree[run_id]
        for field in ("input_tokens", "output_tokens"):
            assert sum(e[field] for e in logged) == run["usage"][field], (run_id, field)
    # And the root's total is its own usage and its tree's, each counted once.
    for field in ("input_tokens", "output_tokens"):
        assert ended["total_usage"][field] == ended["usage"][field] + sum(
            r["usage"][field] for r in tree.values()
        ), field
    assert taking_over.errors() == [], taking_over.describe()


# -- 3. spend rolling up --------------------------------------------------------------------

OUTPUT_PRICE = 10.0
"""Dollars per million output tokens of the priced `test` model (input is free)."""


@pytest.mark.parametrize("database", DATABASES)
async def test_children_s_spend_counts_against_the_root_s_cap(
    cluster: Cluster, database: str
) -> None:
    catalog = cluster.tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n"
        "  - {id: test, provider: corral, api: test, context_window: 1000000,\n"
        f"     pricing: {{input: 0.0, output: {OUTPUT_PRICE}}}}}\n"
    )
    env = await environment(cluster, database, model_catalog=catalog)
    server, worker = await api_and_worker(cluster, database, env)
    cap_usd = 1.0

    async with server.client(timeout=60) as client:
        # Each spender's one model call: 60,000 output tokens, $0.60.
        await store_agent(
            client, "spender", description="Spends.", instructions="[[tokens 10 60000]]"
        )
        # The root spends $0.01 a turn: it asks one spender, then (after its answer) another.
        root = await submit(
            client,
            "[[tokens 10 1000]] "
            + call("spender", {"task": "first"})
            + ' [[then spender {"task": "second"}]]',
            agent_spec={
                "model": "test",
                "tools": [agent_tool("spender")],
                "limits": {"max_spend_usd": cap_usd},
            },
        )
        ended = await wait(client, root["id"], timeout_s=30)
        tree = await below(client, root["id"])
        logs = {run_id: await events(client, run_id) for run_id in [root["id"], *tree]}

    named = {r["input"]: r for r in tree.values()}
    assert sorted(named) == ["first", "second"], named
    first, second = named["first"], named["second"]

    # The first spender stayed under the cap; the second took the tree past it and failed, and
    # so did the root, which alone spent a few cents.
    assert first["status"] == "completed", first
    assert first["usage"]["cost_usd"] == pytest.approx(0.6)
    assert second["status"] == "failed", second
    assert second["error"]["code"] == "budget_exceeded", second
    assert second["usage"]["cost_usd"] == pytest.approx(0.6)
    assert ended["status"] == "failed", ended
    assert ended["error"]["code"] == "budget_exceeded", ended
    assert ended["usage"]["cost_usd"] < cap_usd / 10, ended["usage"]
    for run in (first, second):
        assert run["root_run"] == root["id"] and run["parent_run"] == root["id"]

    # The root's total is what the whole tree spent.
    spent = ended["usage"]["cost_usd"] + sum(r["usage"]["cost_usd"] for r in tree.values())
    assert spent >= cap_usd
    assert ended["total_usage"]["cost_usd"] == pytest.approx(spent)
    assert ended["total_usage"]["output_tokens"] == ended["usage"]["output_tokens"] + sum(
        r["usage"]["output_tokens"] for r in tree.values()
    )
    assert ended["subagents"] == 2

    for run_id, log in logs.items():
        assert_sound_log(log, run_id)
    completed = {
        e["child_run_id"]: e for e in logs[root["id"]] if e["type"] == "subagent.completed"
    }
    assert completed[first["id"]]["cost_usd"] == pytest.approx(0.6)
    assert completed[second["id"]]["status"] == "failed"
    assert worker.errors() == [], worker.describe()
    assert server.errors() == [], server.describe()
