"""The outbox: a wanted event queues a delivery per endpoint that wants it, in its commit.

A delivery that fails every attempt disables its endpoint.
"""

from __future__ import annotations

from datetime import timedelta

from corral.domain.webhooks import RETRY_DELAYS, next_attempt
from corral.storage import events as event_log
from corral.storage import webhooks as webhook_store
from tests.storage.conftest import NOW


async def endpoint(database, webhook_id: str, *types: str) -> None:
    row = {
        "id": webhook_id,
        "workspace_id": "ws_1",
        "url": "https://example.com/hook",
        "secret": "sealed",
        "created_at": NOW,
    }
    await database.write(webhook_store.insert, row, list(types))


async def complete(database, run: str) -> None:
    """Log the run's `run.completed`, as its worker would."""
    await database.write(
        event_log.commit,
        run_id=run,
        events=[("run.completed", {"output": "x"})],
        now=NOW,
        values={"status": "completed"},
    )


async def test_a_wanted_event_queues_one_delivery_per_endpoint_in_its_commit(database, make_run):
    await endpoint(database, "whk_a", "run.completed")
    await endpoint(database, "whk_b", "run.completed", "run.failed")
    await endpoint(database, "whk_c", "run.failed")
    run = await make_run(status="running")

    committed = await database.write(
        event_log.commit,
        run_id=run,
        events=[("message.delta", {"text": "x"}), ("run.completed", {"output": "x"})],
        now=NOW,
        values={"status": "completed"},
    )

    assert committed.deliveries == 2
    due = await database.write(webhook_store.claim_due, now=NOW, lease_s=30, limit=10)
    assert sorted((d.webhook_id, d.event_type, d.attempts) for d in due) == [
        ("whk_a", "run.completed", 1),
        ("whk_b", "run.completed", 1),
    ]
    assert due[0].message_id == due[1].message_id == f"msg_{run}_2"
    assert '"output":"x"' in (due[0].event or "")
    # Leased: another sender finds nothing until the lease lapses.
    assert await database.write(webhook_store.claim_due, now=NOW, lease_s=30, limit=10) == []
    later = NOW + timedelta(seconds=31)
    assert len(await database.write(webhook_store.claim_due, now=later, lease_s=30, limit=10)) == 2


async def test_a_delivery_that_fails_every_attempt_disables_its_endpoint(database, make_run):
    await endpoint(database, "whk_a", "run.completed")
    run = await make_run(status="running")
    await complete(database, run)
    now = NOW
    for attempt in range(1, len(RETRY_DELAYS) + 2):
        [due] = await database.write(webhook_store.claim_due, now=now, lease_s=30, limit=10)
        assert due.attempts == attempt
        retry_at = next_attempt(due.attempts, now)
        await database.write(
            webhook_store.record_attempt,
            due,
            now=now,
            status_code=500,
            error="the endpoint answered HTTP 500",
            retry_at=retry_at,
        )
        if retry_at is None:
            break
        now = retry_at
    assert now - NOW > timedelta(days=1), "retried for at least a day"

    found = await database.read(webhook_store.get, "ws_1", "whk_a")
    assert found is not None and found["disabled_at"] is not None
    assert "HTTP 500" in found["disabled_reason"]
    [delivery] = await database.read(webhook_store.deliveries, "ws_1", "whk_a", limit=10)
    assert (delivery["status"], delivery["attempts"]) == ("failed", len(RETRY_DELAYS) + 1)
    # A disabled endpoint gets nothing more.
    other = await make_run(status="running")
    committed = await database.write(
        event_log.commit,
        run_id=other,
        events=[("run.completed", {"output": "y"})],
        now=now,
        values={"status": "completed"},
    )
    assert committed.deliveries == 0


async def test_an_endpoint_turned_off_holds_its_queued_deliveries_until_turned_on(
    database, make_run
):
    await endpoint(database, "whk_a", "run.completed")
    run = await make_run(status="running")
    await complete(database, run)
    await database.write(webhook_store.update, "ws_1", "whk_a", {"disabled_at": NOW}, None)
    assert await database.write(webhook_store.claim_due, now=NOW, lease_s=30, limit=10) == []
    await database.write(webhook_store.update, "ws_1", "whk_a", {"disabled_at": None}, None)
    [due] = await database.write(webhook_store.claim_due, now=NOW, lease_s=30, limit=10)
    assert (due.webhook_id, due.event_type) == ("whk_a", "run.completed")
