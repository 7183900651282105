"""The `anthropic` webhook format: deliveries the SDK's `client.beta.webhooks.unwrap()` accepts.

A receiver checks each message with the endpoint's secret and gets the API's session events:
the session requiring action, idle again, at its budget. Runs outside any session send nothing
in this format. The translation itself is tested as plain calls at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from anthropic import Anthropic
from anthropic.types.beta import BetaWebhookSessionStatusIdledEventData
from standardwebhooks import WebhookVerificationError

from corral.compat.anthropic import webhook_events
from corral.domain import webhook_formats
from corral.domain.webhook_formats import Outgoing
from tests.conftest import ADMIN_KEY, LiveServer, api_client, running_app
from tests.helpers import assert_error, submit, wait
from tests.managed_agents.conftest import sdk_clients
from tests.managed_agents.test_actions import LOOKUP, say
from tests.managed_agents.test_turns import make_session, until_idle

pytestmark = pytest.mark.timeout(90)

SESSION_EVENTS = [
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.timed_out",
    "approval.requested",
    "client_tool.call",
    "session.stopped",
]
"""Every Corral event the `anthropic` format carries."""
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def server(make_settings: Callable[..., Any]) -> AsyncIterator[LiveServer]:
    """A live server that may deliver to 127.0.0.1 (the operator lists it)."""
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with LiveServer(settings) as live:
        yield live


@pytest.fixture
async def corral(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the server's own API, for what the Managed Agents API cannot do."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
        yield client


async def register(corral: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "format": "anthropic", "event_types": SESSION_EVENTS, **fields}
    response = await corral.post("/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def settled(corral: httpx.AsyncClient, webhook_id: str, count: int) -> list[dict[str, Any]]:
    """The endpoint's deliveries once `count` of them are delivered and none is pending."""
    for _ in range(200):
        found = (await corral.get(f"/v1/webhooks/{webhook_id}/deliveries")).json()["data"]
        if [d["status"] for d in found] == ["delivered"] * count:
            return list(found)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deliveries did not settle: {found}")


async def test_a_session_turn_reaches_the_receiver_as_the_api_s_events(server, corral, receiver):
    created = await register(corral, receiver.url)
    assert created["format"] == "anthropic"
    sync, client = sdk_clients(server)
    try:
        alone = await submit(corral, "no session")  # nothing to say of it in this format
        await wait(corral, alone["id"])
        session_id, _ = await make_session(client, tools=[LOOKUP])

        stream = await client.beta.sessions.events.stream(session_id)
        await say(client, session_id, "look it up")
        first = await until_idle(stream)
        call = next(e for e in first if e.type == "agent.custom_tool_use")
        await receiver.until(1)
        await client.beta.sessions.events.send(
            session_id,
            events=[
                {
                    "type": "user.custom_tool_result",
                    "custom_tool_use_id": call.id,
                    "content": [{"type": "text", "text": "a small bird"}],
                }
            ],
        )
        await until_idle(stream)
        await receiver.until(2)
        deliveries = await settled(corral, created["id"], 2)

        secret = created["secret"]
        events = [
            sync.beta.webhooks.unwrap(body.decode(), headers=headers, key=secret)
            for headers, body in receiver.received
        ]
        workspace_id = (await corral.get("/v1/whoami")).json()["workspace"]["id"]
    finally:
        sync.close()
        await client.close()

    assert [(e.type, e.data.type, e.data.id) for e in events] == [
        ("event", "session.requires_action", session_id),
        ("event", "session.status_idled", session_id),
    ]
    idled = events[1]
    assert isinstance(idled.data, BetaWebhookSessionStatusIdledEventData)
    assert idled.data.workspace_id == idled.data.organization_id == workspace_id
    assert [e.id for e in events] == [h["webhook-id"] for h, _ in receiver.received]
    assert {d["message_id"] for d in deliveries} == {e.id for e in events}
    assert alone["id"] not in {d["run_id"] for d in deliveries}


async def test_a_tampered_message_or_a_wrong_key_is_refused(server, corral, receiver):
    created = await register(corral, receiver.url, event_types=["run.completed"])
    sync, client = sdk_clients(server)
    try:
        session_id, _ = await make_session(client)
        stream = await client.beta.sessions.events.stream(session_id)
        await say(client, session_id, "hello")
        await until_idle(stream)
        await receiver.until(1)
        [(headers, body)] = receiver.received
        text = body.decode()
        unwrap = sync.beta.webhooks.unwrap

        assert unwrap(text, headers=headers, key=created["secret"]).data.id == session_id
        with pytest.raises(WebhookVerificationError):
            unwrap(
                text.replace(session_id, "sesn_elsewhere"), headers=headers, key=created["secret"]
            )
        with pytest.raises(WebhookVerificationError):
            unwrap(text, headers=headers, key="whsec_" + "A" * 32)
    finally:
        sync.close()
        await client.close()


@pytest.fixture
async def priced(make_settings, priced_catalog) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose `test` model costs $10 per million output tokens, delivering to 127.0.0.1."""
    settings = make_settings(
        model_catalog=priced_catalog, network_private_hosts=["127.0.0.1"], poll_interval_s=0.1
    )
    async with running_app(settings) as app, api_client(app) as client:
        yield client


async def test_a_session_at_its_spend_cap_reaches_its_budget_then_idles(priced, receiver):
    created = await register(priced, receiver.url)
    made = await priced.post(
        "/v1/sessions", json={"agent_spec": {"model": "test"}, "max_spend_usd": 0.5}
    )
    session_id = made.json()["id"]
    # $0.60 in a turn that calls a tool: over the cap, so the run stops there and fails.
    turn = await priced.post(
        f"/v1/sessions/{session_id}/messages",
        json={"input": "[[tokens 10 60000]] [[call get_weather]]", "tools": [WEATHER]},
    )
    assert (await wait(priced, turn.json()["id"]))["status"] == "failed"
    await receiver.until(2)
    await settled(priced, created["id"], 2)

    with Anthropic(api_key="unused") as sdk:
        events = [
            sdk.beta.webhooks.unwrap(body.decode(), headers=headers, key=created["secret"])
            for headers, body in receiver.received
        ]
    assert sorted((e.data.type, e.data.id) for e in events) == [
        ("session.budget_reached", session_id),
        ("session.status_idled", session_id),
    ]


async def test_a_process_without_the_format_says_so_on_the_delivery(
    make_settings, receiver, monkeypatch
):
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with running_app(settings) as app, api_client(app) as client:
        created = await register(client, receiver.url, event_types=["run.completed"])
        monkeypatch.delitem(
            webhook_formats._FORMATS, "anthropic"
        )  # a process that never registered it
        session = (await client.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
        turn = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "hi"})
        await wait(client, turn.json()["id"])
        url = f"/v1/webhooks/{created['id']}/deliveries"
        for _ in range(200):
            [delivery] = (await client.get(url)).json()["data"]
            if delivery["last_error"]:
                break
            await asyncio.sleep(0.05)
        endpoint = (await client.get(f"/v1/webhooks/{created['id']}")).json()

    assert "'anthropic' is not registered in this process" in delivery["last_error"]
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", None)
    assert delivery["next_attempt_at"] is not None
    assert endpoint["enabled"] is True
    assert receiver.received == []


async def test_an_endpoint_s_events_must_be_ones_its_format_carries(app):
    async with api_client(app) as client:
        await _refusals(client)


async def _refusals(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        "/v1/webhooks",
        json={
            "url": "https://hooks.example.com/in",
            "format": "anthropic",
            "event_types": ["run.completed", "routine.fired"],
        },
    )
    assert_error(refused, 400, "invalid_request", "/event_types/1")
    unknown = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/in", "format": "mantyx", "event_types": ["x"]},
    )
    assert_error(unknown, 400, "invalid_request")

    created = await client.post(
        "/v1/webhooks",
        json={
            "url": "https://hooks.example.com/in",
            "format": "anthropic",
            "event_types": ["run.completed"],
        },
    )
    webhook_id = created.json()["id"]
    assert_error(
        await client.patch(f"/v1/webhooks/{webhook_id}", json={"event_types": ["budget.warning"]}),
        400,
        "invalid_request",
        "/event_types/0",
    )
    assert_error(
        await client.patch(f"/v1/webhooks/{webhook_id}", json={"format": "corral"}),
        400,
        "invalid_request",
    )
    plain = await client.post(
        "/v1/webhooks",
        json={"url": "https://hooks.example.com/in", "event_types": ["routine.fired"]},
    )
    assert plain.json()["format"] == "corral"


def outgoing(event_type: str, session_id: str | None = "sesn_1") -> Outgoing:
    return Outgoing(
        message_id="msg_run_1_4",
        event_type=event_type,
        created_at="2026-11-23T17:56:20.536771Z",
        event=f'{{"type": "{event_type}"}}',
        workspace_id="ws_1",
        session_id=session_id,
    )


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("run.completed", "session.status_idled"),
        ("run.failed", "session.status_idled"),
        ("run.cancelled", "session.status_idled"),
        ("run.timed_out", "session.status_idled"),
        ("approval.requested", "session.requires_action"),
        ("client_tool.call", "session.requires_action"),
        ("session.stopped", "session.budget_reached"),
    ],
    ids=lambda value: value,
)
def test_a_session_run_s_event_becomes_the_api_s(event_type, expected):
    event = webhook_events.translate(outgoing(event_type))

    assert event is not None
    assert (event.type, event.id, event.data.type, event.data.id) == (
        "event",
        "msg_run_1_4",
        expected,
        "sesn_1",
    )
    assert event.data.organization_id == event.data.workspace_id == "ws_1"
    assert event.created_at.isoformat() == "2026-11-23T17:56:20.536771+00:00"


@pytest.mark.parametrize(
    "case",
    [outgoing("run.completed", session_id=None), outgoing("budget.warning")],
    ids=["a run outside any session", "an event the API has no counterpart of"],
)
def test_what_the_api_has_no_event_for_is_not_sent(case):
    assert webhook_events.translate(case) is None
    assert webhook_events.FORMAT.render(case) is None


def test_the_body_is_what_the_sdk_parses():
    body = webhook_events.FORMAT.render(outgoing("run.completed"))
    assert body is not None
    with Anthropic(api_key="unused") as sdk:
        parsed = sdk.beta.webhooks.parse_unverified(body.decode())
    assert isinstance(parsed.data, BetaWebhookSessionStatusIdledEventData)
    assert parsed.data.id == "sesn_1"


def test_the_format_registers_once_and_an_unknown_one_is_named():
    webhook_formats.register(webhook_events.FORMAT)
    webhook_formats.register(webhook_events.FORMAT)  # again: nothing changes
    assert webhook_formats.find("anthropic") is webhook_events.FORMAT
    assert webhook_formats.unsupported(webhook_events.FORMAT, ["run.completed", "usage"]) == 1
    with pytest.raises(webhook_formats.UnregisteredFormat, match=r"corral\.compat\.register\(\)"):
        webhook_formats.find("elsewhere")
    with pytest.raises(ValueError, match="another webhook format"):
        webhook_formats.register(
            webhook_formats.WebhookFormat(
                name="anthropic", event_types=frozenset(), render=lambda _: None
            )
        )
