"""Several API nodes and workers on one PostgreSQL database, woken by LISTEN/NOTIFY or Redis."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import assert_sound_log, read_stream
from tests.helpers import events, submit, wait

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

BROKERS = [
    pytest.param("postgres", 40, id="postgres"),
    pytest.param("redis", 10, id="redis", marks=pytest.mark.redis),
]


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize(("broker", "run_count"), BROKERS)
async def test_api_nodes_and_workers_on_one_database_share_the_runs_and_stream_across_nodes(
    cluster: Cluster, broker: str, run_count: int
) -> None:
    # A minute between resyncs: only the broker can wake waiters and streams in time. Each
    # worker holds at most half the runs at once, so both must take part.
    env = await cluster.postgres_env(broker=broker, resync_s=60, worker_concurrency=run_count // 2)
    node_a, node_b, worker_1, worker_2 = await asyncio.gather(
        cluster.serve(env, worker=False),
        cluster.serve(env, worker=False),
        cluster.worker(env),
        cluster.worker(env),
    )

    async with node_a.client(timeout=30) as client_a, node_b.client(timeout=30) as client_b:
        nodes = [client_a, client_b]
        runs = await asyncio.gather(
            *(submit(nodes[i % 2], f"[[delay 1s]] run {i}") for i in range(run_count))
        )
        ended = await asyncio.gather(
            *(wait(nodes[(i + 1) % 2], run["id"], timeout_s=20) for i, run in enumerate(runs))
        )

        streamed = await submit(client_a, "[[delay 1s]] [[deltas 50]]")
        frames, closed_at = await read_stream(client_b, f"/v1/runs/{streamed['id']}/stream")
        log = await events(client_a, streamed["id"])

    assert [(r["status"], r["output"]) for r in ended] == [
        ("completed", f"run {i}") for i in range(run_count)
    ]
    claims = {
        worker.worker_id: [c["run_id"] for c in worker.actions("run.claimed")]
        for worker in (worker_1, worker_2)
    }
    assert all(claims.values()), claims
    executed = Counter(run_id for run_ids in claims.values() for run_id in run_ids)
    assert executed == Counter([*(run["id"] for run in runs), streamed["id"]])  # each run once

    terminal = assert_sound_log(log, streamed["id"])
    assert terminal["type"] == "run.completed"
    deltas = [e["text"] for e in log if e["type"] == "message.delta"]
    assert "".join(deltas) == terminal["output"]
    assert [frame["data"] for _, frame in frames] == log
    assert [frame["id"] for _, frame in frames] == [str(e["seq"]) for e in log]
    assert [frame["event"] for _, frame in frames] == [e["type"] for e in log]
    # Live: run.started reached node B before the model had even begun to answer ...
    first_delta = next(e for e in log if e["type"] == "message.delta")
    assert frames[0][0] < _time(first_delta["created_at"])
    # ... and the stream closed right after the terminal event was stored.
    lag_s = closed_at - _time(terminal["created_at"])
    assert lag_s < 2.0, f"the stream closed {lag_s:.2f} s after the run ended"
    for process in (node_a, node_b, worker_1, worker_2):
        assert process.errors() == [], process.describe()
