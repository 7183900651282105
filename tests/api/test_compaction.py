"""Context compaction end to end, with a test model of a small window (`test-4096`).

The test model refuses a prompt larger than its window and tool results that answer no call of
the message before them, as providers do, so a compaction that overflowed or cut the
conversation in the wrong place would fail these runs.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from corral.domain.compaction import Window, chunks
from corral.domain.conversation import input_messages
from corral.settings import Settings
from corral.storage import sessions as session_store
from corral.storage.database import Database
from tests.api.test_client_tools import wait_for_status
from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait

SMALL = {"model": "test-4096", "include_builtin_tools": False}
"""The builtin tools' schemas alone take 1,800 tokens of every request, which the estimate counts
(providers do) but the test model does not: the runs that measure things go without them."""
WINDOW = 4_096
THRESHOLD = int((WINDOW - WINDOW // 4) * 0.8)
"""Past this estimate a request to `test-4096` is compacted (no output limit: a quarter of the
window is kept for the answer)."""


@pytest.fixture
def settings(make_settings: Any, tmp_path: Any) -> Settings:
    """A server whose catalog has the test model with a window of 4,096 tokens."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        f"models:\n  - {{id: test-4096, provider: corral, context_window: {WINDOW}}}\n"
    )
    return make_settings(model_catalog=catalog)


LOOKUP = {
    "type": "client",
    "name": "lookup",
    "description": "Look something up",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def history(count: int, last: str, tag: str = "") -> list[dict[str, str]]:
    """`count` messages of chat, user and assistant in turn, ending with the user's `last`."""
    said = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{tag}message {i} on topic"}
        for i in range(count - 1)
    ]
    return [*said, {"role": "user", "content": last}]


def of_type(log: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in log if event["type"] == kind]


def assert_calls_fit_the_window(log: list[dict[str, Any]]) -> None:
    assert all(usage["input_tokens"] <= WINDOW for usage in of_type(log, "usage"))


async def test_a_run_whose_conversation_outgrows_the_window_is_compacted_and_completes(client):
    run = await submit(client, history(400, "and what now?"), agent_spec={"model": "test-4096"})

    ended = await wait(client, run["id"])
    log = await events(client, run["id"])

    assert ended["status"] == "completed", ended["error"]
    assert ended["output"] == "and what now?"
    [compacted] = of_type(log, "context.compacted")
    assert compacted["trigger"] == "threshold"
    assert compacted["messages_total"] == 400
    assert 0 < compacted["messages_summarized"] == compacted["messages_newly_summarized"] < 400
    assert compacted["summary_calls"] >= 1
    assert 0 < compacted["summary_chars"] < 1_000
    assert compacted["estimated_tokens_after"] < THRESHOLD < compacted["estimated_tokens_before"]
    # The summarization calls are paid for like the answer: one `usage` event each.
    usage = of_type(log, "usage")
    assert len(usage) == compacted["summary_calls"] + 1
    assert sum(u["input_tokens"] for u in usage) == ended["usage"]["input_tokens"]
    assert_calls_fit_the_window(log)
    types = [event["type"] for event in log]
    assert types.index("context.compacted") < types.index("message.delta")


async def test_a_conversation_within_the_window_is_sent_whole(client):
    run = await submit(client, history(400, "and what now?"), agent_spec={"model": "test"})

    ended = await wait(client, run["id"])

    assert ended["status"] == "completed"
    assert of_type(await events(client, run["id"]), "context.compacted") == []


async def next_call(client: httpx.AsyncClient, run_id: str, answered: set[str]) -> dict[str, Any]:
    """The run's next client tool call, once it waits for it."""
    for _ in range(500):
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        fresh = [c for c in run["pending_tool_calls"] if c["call_id"] not in answered]
        if run["status"] == "waiting" and fresh:
            return dict(fresh[0])
        assert run["status"] in ("queued", "running", "waiting"), run
        await asyncio.sleep(0.02)
    raise AssertionError(f"no new tool call: {run}")


async def test_a_long_tool_loop_is_compacted_between_rounds_with_calls_and_results_paired(client):
    spec = {**SMALL, "instructions": "[[loop]]", "tools": [LOOKUP], "limits": {"max_turns": 12}}
    run = await submit(client, "look it all up", agent_spec=spec)

    answered: set[str] = set()
    for round_ in range(12):
        call = await next_call(client, run["id"], answered)
        answered.add(call["call_id"])
        output = f"result {round_}: " + "lorem ipsum " * 170
        posted = await client.post(
            f"/v1/runs/{run['id']}/tool-results",
            json={"call_id": call["call_id"], "output": output},
        )
        assert posted.status_code == 200, posted.text
    ended = await wait(client, run["id"])
    log = await events(client, run["id"])

    # It ends at its turn limit, as `[[loop]]` means it to: never for want of room.
    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "max_turns_exceeded"
    compactions = of_type(log, "context.compacted")
    assert len(compactions) >= 2
    assert all(c["trigger"] == "threshold" for c in compactions)
    summarized = [c["messages_summarized"] for c in compactions]
    assert summarized == sorted(set(summarized))  # each folds in more, none starts over
    assert_calls_fit_the_window(log)


async def test_a_request_the_provider_refuses_as_too_long_is_compacted_harder_and_retried(client):
    # The first call reports far fewer tokens than it took (`[[tokens]]`), so the estimate of the
    # second one, based on it, is short of the truth: the provider refuses it.
    last = "[[tokens 10 5]] [[call lookup]] look it up"
    run = await submit(client, history(180, last), agent_spec={**SMALL, "tools": [LOOKUP]})
    waiting = await wait_for_status(client, run["id"], "waiting")
    [call] = waiting["pending_tool_calls"]
    await client.post(
        f"/v1/runs/{run['id']}/tool-results",
        json={"call_id": call["call_id"], "output": "found " * 1_300},
    )

    ended = await wait(client, run["id"])
    log = await events(client, run["id"])

    assert ended["status"] == "completed", ended["error"]
    assert ended["output"].startswith("lookup returned: found found")
    [compacted] = of_type(log, "context.compacted")
    assert compacted["trigger"] == "overflow"
    assert compacted["messages_total"] == 182
    assert compacted["messages_summarized"] == 180  # all but the call and its result
    assert compacted["estimated_tokens_before"] < THRESHOLD
    assert_calls_fit_the_window(log)


async def test_a_piece_of_transcript_the_provider_refuses_is_summarized_in_smaller_pieces(client):
    # The test model counts its prompt as JSON, where each quote takes two characters: pieces of
    # quotes are twice as long to it as estimated.
    quoted = [{**message, "content": '"' * 60} for message in history(300, "")[:-1]]
    said = [*quoted, {"role": "user", "content": "and now?"}]
    run = await submit(client, said, agent_spec=SMALL)

    ended = await wait(client, run["id"])
    log = await events(client, run["id"])

    assert ended["status"] == "completed", ended["error"]
    [compacted] = of_type(log, "context.compacted")
    summarized = input_messages(said)[: compacted["messages_summarized"]]
    planned = chunks(summarized, Window.of(WINDOW, None).transcript_bytes())
    assert compacted["summary_calls"] > len(planned)
    assert len(of_type(log, "usage")) == compacted["summary_calls"] + 1  # refused calls: none
    assert_calls_fit_the_window(log)


async def test_a_run_that_cannot_be_made_to_fit_fails_with_context_length_exceeded(client):
    run = await submit(client, "x" * 20_000, agent_spec=SMALL)

    ended = await wait(client, run["id"])

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "context_length_exceeded"
    assert of_type(await events(client, run["id"]), "context.compacted") == []


async def open_session(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/sessions", json={"agent_spec": SMALL})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def say(client: httpx.AsyncClient, session_id: str, said: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/sessions/{session_id}/messages", json={"input": said})
    assert response.status_code == 202, response.text
    return await wait(client, response.json()["id"], timeout_s=60)


async def stored_summary(settings: Settings, session_id: str) -> Any:
    database = Database(settings.effective_database_url, schema=settings.database_schema)
    await database.connect()
    try:
        return await database.read(session_store.summary, session_id)
    finally:
        await database.close()


async def test_a_session_that_talks_for_thousands_of_messages_keeps_working(client, settings):
    session_id = await open_session(client)
    runs = []
    # Three thousand messages of history, a thousand at a time (the most one run takes)...
    for part in range(3):
        runs.append(await say(client, session_id, history(999, f"part {part}", f"p{part} ")))
    # ...then a conversation that goes on and on.
    for i in range(150):
        runs.append(await say(client, session_id, f"message {i}"))

    assert [run["status"] for run in runs] == ["completed"] * len(runs)
    assert runs[-1]["output"] == "message 149"
    logs = await asyncio.gather(*(events(client, run["id"]) for run in runs))
    compactions = [c for log in logs for c in of_type(log, "context.compacted")]
    summarizing = [c for c in compactions if c["summary_calls"]]
    assert len(summarizing) >= 5
    for log in logs:
        assert_calls_fit_the_window(log)
    # Past the first run, no compaction summarizes the history again: each run starts from the
    # summary the session kept, and folds in only what came after it.
    for compacted in compactions[1:]:
        assert compacted["messages_newly_summarized"] <= 1_100
        assert compacted["messages_summarized"] > 1_000
    per_run = [of_type(log, "context.compacted") for log in logs[3:]]
    # Every run starts from the kept summary (a loaded machine may add one more compaction: an
    # attempt taken over, or a request the estimate let through and the model refused)...
    assert all(1 <= len(compacted) <= 2 for compacted in per_run)
    later = [c for compacted in per_run for c in compacted]
    assert 2 <= sum(c["summary_calls"] for c in later) < 10  # ...and now and then another
    # The session keeps every original message.
    session = (await client.get(f"/v1/sessions/{session_id}")).json()
    messages = session["messages"]
    assert len(messages) == 3 * 1_000 + 150 * 2
    said = [m["content"] for m in messages if m["role"] == "user"]
    assert said[:3] == ["p0 message 0 on topic", "p0 message 2 on topic", "p0 message 4 on topic"]
    assert said[-150:] == [f"message {i}" for i in range(150)]
    # The test model's summaries count what they stand for: folded in one piece after another,
    # no message was summarized twice or left out.
    summary = await stored_summary(settings, session_id)
    assert summary is not None
    assert re.match(rf"Summary of {summary.covers} messages\.", summary.text), summary.text


async def test_a_failed_runs_summary_is_not_used_by_the_next_run(client, settings):
    session_id = await open_session(client)
    first = await say(client, session_id, history(999, "first"))
    kept = await stored_summary(settings, session_id)
    # This run summarizes its own messages too, then fails: they never join the session.
    failed = await say(client, session_id, history(999, "[[fail provider_error boom]] second"))
    after = await say(client, session_id, "third")

    assert first["status"] == "completed" and after["status"] == "completed"
    assert failed["status"] == "failed"
    assert of_type(await events(client, failed["id"]), "context.compacted")
    [compacted] = of_type(await events(client, after["id"]), "context.compacted")
    assert compacted["messages_summarized"] == kept.covers
    assert compacted["summary_calls"] == 0
    session = (await client.get(f"/v1/sessions/{session_id}")).json()
    assert len(session["messages"]) == 1_000 + 2
    assert (await stored_summary(settings, session_id)) == kept


async def test_a_run_taken_over_after_its_compaction_goes_on_from_the_summary(settings):
    # The worker stops during the call after the compaction was checkpointed: the worker that
    # takes the run over goes on from the summary, and summarizes nothing again.
    said = history(400, "[[delay 1s]] and what now?")
    async with running_app(settings) as app, api_client(app) as client:
        run = await submit(client, said, agent_spec=SMALL)
        for _ in range(200):
            if of_type(await events(client, run["id"]), "context.compacted"):
                break
            await asyncio.sleep(0.02)
    async with running_app(settings) as app, api_client(app) as client:
        ended = await wait(client, run["id"])
        log = await events(client, run["id"])

    assert ended["status"] == "completed", ended["error"]
    assert ended["output"] == "and what now?"
    [compacted] = of_type(log, "context.compacted")
    usage = of_type(log, "usage")
    assert len(usage) == compacted["summary_calls"] + 1
    assert sum(u["input_tokens"] for u in usage) == ended["usage"]["input_tokens"]
    assert len(of_type(log, "run.started")) == 1
