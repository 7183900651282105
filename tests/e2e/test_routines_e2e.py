"""Routines across real processes: schedules fire each time once, catch up as asked, and hooks.

A schedule every second runs for a whole minute on several API nodes and workers: each second
starts exactly one run. A server stopped across a schedule's times and started again on the
same data records the times it missed as its routine's `catch_up` says, and then fires on
time again. A webhook delivery to a real server is verified, answered at once and turned into
a run, filtered or dropped as a duplicate, as its fire history shows.

SQLite runs as it is deployed, one `corral serve` with its worker; PostgreSQL as API-only
`corral serve` nodes and `corral worker` processes, except across a restart, where one
`corral serve` with its worker plays the whole server.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import Cluster, CorralProcess
from tests.e2e.helpers import eventually
from tests.helpers import assert_error, wait

pytestmark = pytest.mark.e2e

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

EVERY_SECOND_FOR_S = 60.0
"""How long the every-second schedule runs: a minute of seconds, each fired once."""

ONE_SECOND = timedelta(seconds=1)
EVERY_5_S = timedelta(seconds=5)

HOOK_SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="


# -- the API ---------------------------------------------------------------------------------


async def create(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def scheduled_routine(
    client: httpx.AsyncClient, name: str, cron: str, **body: Any
) -> dict[str, Any]:
    """A routine of the agent `echo` on one schedule; every fire's run may overlap the last."""
    return await create(
        client,
        "/v1/routines",
        {
            "name": name,
            "agent": "echo",
            "input": "{{ fire.missed }} missed before {{ fire.scheduled_at }}",
            "overlap": "allow",
            "triggers": [{"type": "schedule", "cron": cron}],
            **body,
        },
    )


async def pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, 100 a page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def fires_of(client: httpx.AsyncClient, routine: dict[str, Any]) -> list[dict[str, Any]]:
    """The routine's whole fire history, oldest first."""
    history = await pages(client, f"/v1/routines/{routine['id']}/fires")
    assert history == sorted(history, key=lambda f: f["created_at"], reverse=True)
    return history[::-1]


async def runs_of(client: httpx.AsyncClient, routine: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run the routine's fires started (their metadata names the routine)."""
    return await pages(client, "/v1/runs", metadata=f"routine:{routine['id']}")


async def settled(client: httpx.AsyncClient, routine: dict[str, Any]) -> list[dict[str, Any]]:
    """The fire history once every fire is handled and every run it started has ended."""

    async def done() -> list[dict[str, Any]] | None:
        fires = await fires_of(client, routine)
        if any(f["status"] in ("pending", "queued") for f in fires):
            return None
        ended = {r["id"] for r in await runs_of(client, routine) if r["ended_at"]}
        started = {f["run_id"] for f in fires if f["status"] == "started"}
        return fires if started <= ended else None

    return list(await eventually(done, timeout_s=20, interval_s=0.2))


def instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC, taking a naive one as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def started_at(fires: list[dict[str, Any]]) -> list[datetime]:
    return [instant(f["scheduled_at"]) for f in fires if f["status"] == "started"]


def assert_one_completed_run_per_started_fire(
    fires: list[dict[str, Any]], runs: list[dict[str, Any]]
) -> None:
    """Each started fire has one run, completed, that answered with its input; no other run."""
    started = [f for f in fires if f["status"] == "started"]
    assert Counter(r["metadata"]["routine_fire"] for r in runs) == Counter(f["id"] for f in started)
    by_id = {r["id"]: r for r in runs}
    for fire in started:
        run = by_id[fire["run_id"]]
        assert run["metadata"]["routine_fire"] == fire["id"]
        assert run["status"] == "completed", run
        missed, _, rendered = run["output"].partition(" missed before ")
        assert int(missed) == fire["missed"], run
        assert as_utc(datetime.fromisoformat(rendered)) == instant(fire["scheduled_at"]), run


def assert_each_run_claimed_once(
    processes: list[CorralProcess], runs: list[dict[str, Any]]
) -> None:
    claims = Counter(c["run_id"] for p in processes for c in p.actions("run.claimed"))
    assert {r["id"]: claims[r["id"]] for r in runs} == {r["id"]: 1 for r in runs}


# -- a schedule every second ----------------------------------------------------------------


async def every_second_cluster(
    cluster: Cluster, database: str
) -> tuple[list[CorralProcess], list[CorralProcess]]:
    """(the processes serving the API, every process) of the deployment for `database`."""
    if database == "sqlite":
        server = await cluster.serve(cluster.sqlite_env())
        return [server], [server]
    env = await cluster.postgres_env()
    # One after the other: four interpreters importing at once can outlast the start timeout.
    nodes = [await cluster.serve(env, worker=False) for _ in range(2)]
    workers = [await cluster.worker(env) for _ in range(2)]
    return nodes, [*nodes, *workers]


@pytest.mark.timeout(EVERY_SECOND_FOR_S + 120)
@pytest.mark.parametrize("database", DATABASES)
async def test_a_schedule_every_second_starts_exactly_one_run_each_second_for_a_minute(
    cluster: Cluster, database: str
) -> None:
    nodes, processes = await every_second_cluster(cluster, database)
    async with nodes[0].client() as first, nodes[-1].client() as last:
        await create(first, "/v1/agents", {"name": "echo", "model": "test"})
        routine = await scheduled_routine(first, "every-second", "* * * * * *")
        await asyncio.sleep(EVERY_SECOND_FOR_S)
        response = await last.post(f"/v1/routines/{routine['id']}/pause")
        assert response.status_code == 200, response.text
        paused_at = instant(response.json()["paused_reason"]["at"])
        fires = await settled(first, routine)
        runs = await runs_of(last, routine)

    times = started_at(fires)
    assert len(set(times)) == len(times)  # no second fired twice
    assert times == sorted(times)
    assert all(b - a == ONE_SECOND for a, b in pairwise(times))  # no second left out
    assert len(times) == (times[-1] - times[0]).total_seconds() + 1
    assert times[0] == instant(routine["triggers"][0]["next_fire_at"])  # its first second
    assert paused_at - timedelta(seconds=2) <= times[-1] < paused_at
    assert len(times) >= EVERY_SECOND_FOR_S - 2
    # The pause may overtake the fire of its own second, never an earlier one.
    others = [f for f in fires if f["status"] != "started"]
    assert all((f["status"], f["reason"]) == ("skipped", "paused") for f in others), others
    assert all(instant(f["scheduled_at"]) > times[-1] for f in others), others
    assert all(f["missed"] == 0 and f["trigger"] == "schedule" for f in fires)
    assert_one_completed_run_per_started_fire(fires, runs)
    assert_each_run_claimed_once(processes, runs)
    for process in processes:
        assert process.errors() == [], process.describe()


# -- a restart across fire times ------------------------------------------------------------


def stop(process: CorralProcess, how: str) -> None:
    """SIGKILL, or SIGTERM and wait: a crash, or the clean stop of an operator."""
    if how == "kill":
        process.kill()
        return
    process.popen.send_signal(signal.SIGTERM)
    # uvicorn ends by raising the signal again once the app has shut down.
    assert process.popen.wait(timeout=10) in (0, -signal.SIGTERM), process.describe()
    assert process.actions("worker.stopped"), process.describe()


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def started_fires(
    client: httpx.AsyncClient, routine: dict[str, Any], *, after: datetime, count: int
) -> list[datetime]:
    """Times after `after` the routine fired, once it has started runs for `count` of them."""

    async def enough() -> list[datetime] | None:
        times = [t for t in started_at(await fires_of(client, routine)) if t > after]
        return times if len(times) >= count else None

    return list(await eventually(enough, timeout_s=15, interval_s=0.2))


# A clean stop on one database and a crash on the other: how the server went down changes
# nothing about what is owed, and each pair costs half a minute.
@pytest.mark.parametrize(
    ("database", "how"),
    [
        pytest.param("sqlite", "term", id="sqlite-term"),
        pytest.param("postgres", "kill", id="postgres-kill", marks=pytest.mark.postgres),
    ],
)
async def test_times_passed_while_the_server_was_down_are_skipped_or_fired_once_as_asked(
    cluster: Cluster, database: str, how: str
) -> None:
    settings: dict[str, Any] = {"routine_misfire_grace_s": 1}
    if database == "postgres":
        env = await cluster.postgres_env(**settings)
    else:
        env = cluster.sqlite_env(**settings)
    first = await cluster.serve(env)
    async with first.client() as client:
        await create(client, "/v1/agents", {"name": "echo", "model": "test"})
        skip, once = [
            await scheduled_routine(client, f"every-5s-{c}", "*/5 * * * * *", catch_up=c)
            for c in ("skip", "once")
        ]
        begun = datetime.now(UTC) - EVERY_5_S
        latest = max(
            [(await started_fires(client, r, after=begun, count=1))[-1] for r in (skip, once)]
        )
        for routine in (skip, once):  # both fired the latest time and started its run
            await started_fires(client, routine, after=latest - EVERY_5_S, count=1)
        await sleep_until(latest + timedelta(seconds=2))
    stop(first, how)
    stopped_at = datetime.now(UTC)

    # Down while two times pass (and more than the 1 s grace after the second).
    await sleep_until(latest + 2 * EVERY_5_S + timedelta(seconds=1.2))
    second = await cluster.serve(env)
    back_at = datetime.now(UTC)
    async with second.client() as client:
        for routine in (skip, once):
            await started_fires(client, routine, after=back_at, count=2)
        for routine in (skip, once):
            response = await client.post(f"/v1/routines/{routine['id']}/pause")
            assert response.status_code == 200, response.text
        histories = {r["id"]: await settled(client, r) for r in (skip, once)}
        runs = {r["id"]: await runs_of(client, r) for r in (skip, once)}

    assert latest < stopped_at < latest + EVERY_5_S
    for routine in (skip, once):
        fires = [f for f in histories[routine["id"]] if f["reason"] != "paused"]
        times = [instant(f["scheduled_at"]) for f in fires]
        overtaken = [f for f in histories[routine["id"]] if f["reason"] == "paused"]
        assert all(instant(f["scheduled_at"]) > times[-1] for f in overtaken), overtaken
        assert len(set(times)) == len(times) and times == sorted(times), times
        before = [f for f, t in zip(fires, times, strict=True) if t <= latest]
        [returned, *regular] = fires[len(before) :]
        returned_at = instant(returned["scheduled_at"])
        passed = int((returned_at - latest) / EVERY_5_S)  # the times since the last before
        assert latest + 2 * EVERY_5_S <= returned_at <= back_at, (latest, returned, back_at)
        if routine is skip:
            assert (returned["status"], returned["reason"]) == ("skipped", "missed"), returned
            assert (returned["missed"], returned["run_id"]) == (passed, None), returned
        else:
            assert (returned["status"], returned["missed"]) == ("started", passed - 1), returned
        assert len(regular) >= 2
        for fire in [*before, *regular]:
            assert (fire["status"], fire["missed"]) == ("started", 0), fire
        for series in (times[: len(before)], times[len(before) :]):
            assert all(b - a == EVERY_5_S for a, b in pairwise(series))
        assert_one_completed_run_per_started_fire(fires, runs[routine["id"]])
    assert_each_run_claimed_once([first, second], runs[skip["id"]] + runs[once["id"]])
    for process in (first, second):
        assert process.errors() == [], process.describe()


# -- an inbound webhook ---------------------------------------------------------------------


def signed(
    payload: dict[str, Any], message_id: str, *, secret: str = HOOK_SECRET, age_s: float = 0
) -> tuple[bytes, dict[str, str]]:
    """A Standard Webhooks delivery of `payload`, signed `age_s` seconds ago."""
    body = orjson.dumps(payload)
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    headers = {
        "content-type": "application/json",
        "x-source": "e2e",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body.decode()),
    }
    return body, headers


@pytest.mark.parametrize("database", DATABASES)
async def test_a_webhook_delivery_to_a_real_server_is_verified_answered_at_once_and_fires(
    cluster: Cluster, database: str
) -> None:
    if database == "postgres":
        env = await cluster.postgres_env()
        server, worker = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    else:
        server = worker = await cluster.serve(cluster.sqlite_env())
    async with server.client() as client:
        await create(client, "/v1/agents", {"name": "echo", "model": "test"})
        await create(client, "/v1/secrets", {"name": "HOOK_SECRET", "value": HOOK_SECRET})
        routine = await create(
            client,
            "/v1/routines",
            {
                "name": "triage",
                "agent": "echo",
                # The run takes 2 s: a delivery answered within 1 s did not wait for it.
                "input": "[[delay 2s]] {{ payload.action }} #{{ payload.id }} from "
                "{{ headers['x-source'] }}",
                "overlap": "allow",
                "triggers": [
                    {
                        "type": "webhook",
                        "verify": {"scheme": "standard_webhooks", "secret": "HOOK_SECRET"},
                        "filter": "$[?@.action == 'opened']",
                        "dedupe": {"key": "$.id", "window_s": 600},
                    }
                ],
            },
        )
        path = routine["triggers"][0]["path"]

        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as sender:
            body, headers = signed({"action": "opened", "id": 7}, "msg_1")
            unsigned = {k: v for k, v in headers.items() if not k.startswith("webhook-")}
            forged = signed({"action": "opened", "id": 7}, "msg_1", secret="whsec_b3RoZXI=")
            stale = signed({"action": "opened", "id": 7}, "msg_1", age_s=600)
            for bad_body, bad_headers in [
                (body, unsigned),
                forged,
                stale,
                (body.replace(b"7", b"8"), headers),  # tampered with after signing
            ]:
                refused = await sender.post(path, content=bad_body, headers=bad_headers)
                assert_error(refused, 401, "invalid_signature")

            deliveries = {
                "opened": (body, headers),
                "closed": signed({"action": "closed", "id": 8}, "msg_2"),
                "same key": signed({"action": "opened", "id": 7}, "msg_3"),
                "sent again": (body, headers),
                "other": signed({"action": "opened", "id": 9}, "msg_4"),
            }
            answered: dict[str, str] = {}
            for name, (content, sent_headers) in deliveries.items():
                sent_at = time.monotonic()
                response = await sender.post(path, content=content, headers=sent_headers)
                elapsed_s = time.monotonic() - sent_at
                assert response.status_code == 202, response.text
                assert response.json()["status"] == "accepted"
                assert elapsed_s < 1.0, f"{name} answered after {elapsed_s:.2f} s"
                answered[name] = response.json()["fire_id"]

        fires = {f["id"]: f for f in await settled(client, routine)}
        assert fires.keys() == set(answered.values())  # the refused ones left no fire
        statuses = {name: fires[fire_id]["status"] for name, fire_id in answered.items()}
        assert statuses == {
            "opened": "started",
            "closed": "filtered",
            "same key": "duplicate",
            "sent again": "duplicate",
            "other": "started",
        }
        assert all(f["trigger"] == "webhook" and f["scheduled_at"] is None for f in fires.values())
        for name, text in (("opened", "opened #7 from e2e"), ("other", "opened #9 from e2e")):
            run = await wait(client, fires[answered[name]]["run_id"])
            assert run["input"] == f"[[delay 2s]] {text}"
            assert (run["status"], run["output"]) == ("completed", text)
            assert run["metadata"] == {"routine": routine["id"], "routine_fire": answered[name]}
        assert len(await runs_of(client, routine)) == 2
    for process in {server, worker}:
        assert process.errors() == [], process.describe()
