"""`GET /v1/runs?created_after=&created_before=`: listing runs by when they were created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_usage import backdate
from tests.helpers import assert_error, submit, wait

TEN = datetime(2030, 1, 1, 10, tzinfo=UTC)
"""When the first run of `runs_an_hour_apart` was created; the others follow an hour apart."""


async def runs_an_hour_apart(app, client, *teams: str) -> list[str]:
    """Ended runs created at 10:00, 11:00, … UTC on TEN's day, tagged `team`; their ids."""
    ids = []
    for hour, team in enumerate(teams):
        run = await wait(client, (await submit(client, team, metadata={"team": team}))["id"])
        await backdate(app, run["id"], TEN + timedelta(hours=hour))
        ids.append(run["id"])
    return ids


async def listed(client, **params: Any) -> list[str]:
    response = await client.get("/v1/runs", params=params)
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["data"]]


def at(hour: int, microsecond: int = 0) -> str:
    """That hour of TEN's day, in UTC, as RFC 3339."""
    return TEN.replace(hour=hour, microsecond=microsecond).isoformat()


async def test_created_after_is_inclusive_and_created_before_exclusive(app, client):
    ten, eleven, twelve, one = await runs_an_hour_apart(app, client, "red", "blue", "red", "red")

    between = await listed(client, created_after=at(11), created_before=at(13))
    just_after = await listed(client, created_after=at(11, microsecond=1))
    just_before = await listed(client, created_before=at(11, microsecond=1))
    unbounded = await listed(client)

    assert between == [twelve, eleven]
    assert just_after == [one, twelve]
    assert just_before == [eleven, ten]
    assert unbounded == [one, twelve, eleven, ten]


async def test_a_time_without_a_zone_is_utc_and_offsets_are_honoured(app, client):
    ten, eleven, twelve = await runs_an_hour_apart(app, client, "red", "blue", "red")

    naive = await listed(client, created_after="2030-01-01T11:00:00")
    naive_before = await listed(client, created_before="2030-01-01T11:00:00")
    offset = await listed(
        client, created_after="2030-01-01T12:00:00+01:00", created_before="2030-01-01T07:00-05:00"
    )

    assert naive == [twelve, eleven]
    assert naive_before == [ten]
    assert offset == [eleven]


async def test_the_range_combines_with_metadata_filters_and_cursor_paging(app, client):
    ten, eleven, twelve, _one = await runs_an_hour_apart(app, client, "red", "blue", "red", "red")
    params = {"metadata": "team:red", "created_after": at(10), "created_before": at(13)}

    first = (await client.get("/v1/runs", params={**params, "limit": 1})).json()
    cursor = first["next_cursor"]
    second = (await client.get("/v1/runs", params={**params, "limit": 1, "cursor": cursor})).json()

    assert [run["id"] for run in first["data"]] == [twelve]
    assert cursor is not None
    assert [run["id"] for run in second["data"]] == [ten]
    assert second["next_cursor"] is None
    assert await listed(client, status="completed", created_before=at(12)) == [eleven, ten]


async def test_an_empty_or_inverted_range_is_refused_naming_created_before(client):
    empty = await client.get("/v1/runs", params={"created_after": at(11), "created_before": at(11)})
    inverted = await client.get(
        "/v1/runs", params={"created_after": at(12), "created_before": at(11)}
    )
    # The same instant written in two zones is still an empty range.
    zoned = await client.get(
        "/v1/runs",
        params={"created_after": at(11), "created_before": "2030-01-01T12:00:00+01:00"},
    )

    for response in (empty, inverted, zoned):
        assert_error(response, 400, "invalid_request", field="created_before")
