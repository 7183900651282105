"""A session's title and metadata, and archiving a session."""

from __future__ import annotations

from tests.api.test_sessions import open_session, send
from tests.helpers import assert_error, wait


async def test_a_session_s_title_is_kept_shown_changed_and_removed(client):
    session = await open_session(client, title="Fix the build")
    read = (await client.get(f"/v1/sessions/{session['id']}")).json()
    listed = (await client.get("/v1/sessions")).json()["data"]

    renamed = await client.patch(f"/v1/sessions/{session['id']}", json={"title": "Fixed"})
    untouched = await client.patch(f"/v1/sessions/{session['id']}", json={"max_spend_usd": None})
    removed = await client.patch(f"/v1/sessions/{session['id']}", json={"title": None})
    too_long = await client.post(
        "/v1/sessions", json={"agent_spec": {"model": "test"}, "title": "t" * 513}
    )

    assert session["title"] == "Fix the build"
    assert read["title"] == "Fix the build"
    assert [s["title"] for s in listed] == ["Fix the build"]
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Fixed"
    assert untouched.json()["title"] == "Fixed"
    assert removed.json()["title"] is None
    assert_error(too_long, 400, "invalid_request", field="/title")


async def test_new_metadata_replaces_the_session_s_and_tags_its_next_runs(client):
    session = await open_session(client, metadata={"customer": "acme", "tier": "gold"})

    changed = await client.patch(
        f"/v1/sessions/{session['id']}", json={"metadata": {"customer": "globex"}}
    )
    run = await send(client, session["id"], "hello")

    assert changed.json()["metadata"] == {"customer": "globex"}
    assert (await wait(client, run["id"]))["metadata"] == {"customer": "globex"}


async def test_archiving_a_session_ends_it_cancels_its_run_and_refuses_messages(client):
    session = await open_session(client, agent_spec={"model": "test"})
    active = await send(client, session["id"], "[[delay 30s]] long")

    archived = await client.post(f"/v1/sessions/{session['id']}/archive")
    again = await client.post(f"/v1/sessions/{session['id']}/archive")
    refused = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "more"})
    renamed = await client.patch(f"/v1/sessions/{session['id']}", json={"title": "late"})

    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "ended"
    assert archived.json()["archived_at"] is not None
    assert again.json()["archived_at"] == archived.json()["archived_at"]
    assert (await wait(client, active["id"], timeout_s=2))["status"] == "cancelled"
    assert_error(refused, 409, "session_ended")
    assert "archived" in refused.json()["message"]
    assert_error(renamed, 409, "session_ended")


async def test_an_ended_session_can_be_archived_and_archived_ones_left_out_of_lists(client):
    kept = await open_session(client)
    ended = await open_session(client)
    await client.delete(f"/v1/sessions/{ended['id']}")

    archived = await client.post(f"/v1/sessions/{ended['id']}/archive")
    everything = (await client.get("/v1/sessions")).json()["data"]
    current = (await client.get("/v1/sessions", params={"include_archived": "false"})).json()

    assert archived.json()["archived_at"] is not None
    assert [s["id"] for s in everything] == [ended["id"], kept["id"]]
    assert [s["archived_at"] is None for s in everything] == [False, True]
    assert [s["id"] for s in current["data"]] == [kept["id"]]


async def test_archiving_an_unknown_session_answers_not_found(client):
    assert_error(await client.post("/v1/sessions/ses_nope/archive"), 404, "not_found")
