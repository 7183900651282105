"""The schedulers of several workers fire each schedule time once, and catch up as asked.

The routine is made through the API of a server without a worker; the tests then drive
schedulers themselves, as workers on several nodes would, against the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from corral.ids import new_id
from corral.services.firing import Firing
from corral.storage import routine_fires as fire_store
from corral.storage.tables import workspaces
from corral.storage.tables_routines import routine_fires, routine_triggers, routines
from corral.worker.scheduler import Scheduler
from tests.conftest import api_client, running_app

YEARLY = "0 0 1 1 *"


@pytest.fixture
async def served(make_settings: Callable[..., Any]) -> AsyncIterator[tuple[Any, Any]]:
    settings = make_settings(embedded_worker=False, routine_misfire_grace_s=1)
    async with running_app(settings) as app, api_client(app) as client:
        await client.post("/v1/agents", json={"name": "echo", "model": "test"})
        yield app.state.ctx, client


async def yearly_routine(client: Any, catch_up: str, since: datetime) -> dict[str, Any]:
    """A routine whose schedule was last seen at `since` (as if no server ran since then)."""
    response = await client.post(
        "/v1/routines",
        json={
            "name": f"yearly-{catch_up}",
            "agent": "echo",
            "input": "{{ fire.missed }} missed before {{ fire.scheduled_at }}",
            "catch_up": catch_up,
            "triggers": [{"type": "schedule", "cron": YEARLY}],
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def rewind(ctx: Any, routine: dict[str, Any], to: datetime) -> None:
    def tx(conn: sa.Connection) -> None:
        conn.execute(
            routine_triggers.update()
            .where(routine_triggers.c.routine_id == routine["id"])
            .values(next_fire_at=to)
        )

    await ctx.database.write(tx)


async def stored_fires(ctx: Any, routine: dict[str, Any]) -> list[Any]:
    def read(conn: sa.Connection) -> list[Any]:
        query = sa.select(routine_fires).where(routine_fires.c.routine_id == routine["id"])
        return list(conn.execute(query.order_by(routine_fires.c.id)))

    return await ctx.database.read(read)


def new_years_since(start: datetime) -> int:
    return sum(
        1
        for year in range(start.year, 2200)
        if start <= datetime(year, 1, 1, tzinfo=UTC) <= datetime.now(UTC)
    )


async def test_schedulers_racing_for_one_time_fire_it_once(served):
    ctx, client = served
    routine = await yearly_routine(client, "once", datetime(2024, 1, 1, tzinfo=UTC))
    await rewind(ctx, routine, datetime(2024, 1, 1, tzinfo=UTC))
    schedulers = [Firing(ctx, f"wrk_{n}") for n in range(4)]
    try:
        recorded = await asyncio.gather(*(s.fire_due_schedules() for s in schedulers))
        await asyncio.gather(*(s.handle_waiting() for s in schedulers))
    finally:
        for scheduler in schedulers:
            await scheduler.close()
    assert sorted(recorded) == [0, 0, 0, 1]
    [fire] = await stored_fires(ctx, routine)
    assert fire.status == "started"
    assert fire.missed == new_years_since(datetime(2024, 1, 1, tzinfo=UTC)) - 1
    run = (await client.get(f"/v1/runs/{fire.run_id}")).json()
    assert run["input"] == f"{fire.missed} missed before {fire.scheduled_at.isoformat()}"


async def test_skip_records_the_missed_times_once_and_starts_nothing(served):
    ctx, client = served
    routine = await yearly_routine(client, "skip", datetime(2024, 1, 1, tzinfo=UTC))
    await rewind(ctx, routine, datetime(2024, 1, 1, tzinfo=UTC))
    scheduler = Firing(ctx, "wrk_1")
    try:
        assert await scheduler.fire_due_schedules() == 1
        assert await scheduler.fire_due_schedules() == 0
        assert await scheduler.handle_waiting() == 0
    finally:
        await scheduler.close()
    [fire] = await stored_fires(ctx, routine)
    assert (fire.status, fire.reason, fire.run_id) == ("skipped", "missed", None)
    assert fire.missed == new_years_since(datetime(2024, 1, 1, tzinfo=UTC))
    found = (await client.get(f"/v1/routines/{routine['id']}")).json()
    assert found["triggers"][0]["next_fire_at"].startswith(f"{datetime.now(UTC).year + 1}-01-01")


async def test_an_unreadable_stored_schedule_pauses_its_routine(served):
    ctx, client = served
    routine = await yearly_routine(client, "skip", datetime(2024, 1, 1, tzinfo=UTC))
    await rewind(ctx, routine, datetime(2024, 1, 1, tzinfo=UTC))

    def corrupt(conn: sa.Connection) -> None:
        conn.execute(
            routine_triggers.update().values(config={"cron": "0 0 1 1 *", "timezone": "Gone/Away"})
        )

    await ctx.database.write(corrupt)
    scheduler = Firing(ctx, "wrk_1")
    try:
        assert await scheduler.fire_due_schedules() == 0
    finally:
        await scheduler.close()
    found = (await client.get(f"/v1/routines/{routine['id']}")).json()
    assert (found["status"], found["paused_reason"]["code"]) == ("paused", "invalid_schedule")
    resumed = await client.post(f"/v1/routines/{routine['id']}/resume")
    assert resumed.status_code == 400 and resumed.json()["field"] == "/triggers/0"


async def test_the_history_forgets_handled_fires_past_its_days(served):
    ctx, client = served
    routine = await yearly_routine(client, "skip", datetime(2024, 1, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    old_ms = int((now - timedelta(days=31)).timestamp() * 1000)
    fires = {
        "old-handled": (new_id("fire", now_ms=old_ms), "skipped"),
        "old-waiting": (new_id("fire", now_ms=old_ms + 1), "pending"),
        "recent": (new_id("fire"), "skipped"),
    }

    def insert(conn: sa.Connection) -> None:
        for fire_id, status in fires.values():
            conn.execute(
                routine_fires.insert().values(
                    id=fire_id,
                    routine_id=routine["id"],
                    workspace_id=routine_workspace(conn),
                    trigger_type="manual",
                    status=status,
                    created_at=now,
                )
            )

    def routine_workspace(conn: sa.Connection) -> str:
        return str(conn.execute(sa.select(routines.c.workspace_id)).scalar_one())

    await ctx.database.write(insert)
    scheduler = Scheduler(ctx, "wrk_1")
    try:
        await scheduler.prune()
    finally:
        await scheduler.close()
    kept = {fire.id for fire in await stored_fires(ctx, routine)}
    assert kept == {fires["old-waiting"][0], fires["recent"][0]}


async def test_a_fire_handled_again_after_a_crash_keeps_its_own_dedupe_key(served):
    ctx, _client = served
    now = datetime.now(UTC)

    def claims(conn: sa.Connection) -> list[bool]:
        conn.execute(routines.insert().values(
            id="rtn_1", workspace_id=conn.execute(sa.select(workspaces.c.id)).scalar(),
            name="r", agent_id="agt_1", input="x", session_mode="none", metadata={},
            catch_up="skip", overlap="skip", status="active", key_id="key_1",
            created_at=now, updated_at=now,
        ))  # fmt: skip
        conn.execute(routine_triggers.insert().values(
            id="trg_1", routine_id="rtn_1", workspace_id="ws", type="webhook", config={},
        ))  # fmt: skip
        return [
            fire_store.claim_dedupe(conn, "trg_1", "k", "fire_a", now, 60),
            fire_store.claim_dedupe(conn, "trg_1", "k", "fire_a", now, 60),
            fire_store.claim_dedupe(conn, "trg_1", "k", "fire_b", now, 60),
            fire_store.claim_dedupe(conn, "trg_1", "k", "fire_b", now + timedelta(seconds=61), 60),
        ]

    assert await ctx.database.write(claims) == [True, True, False, True]
