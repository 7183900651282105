"""Inbound webhooks: a delivery to a trigger's URL is verified, filtered, deduped, and fires.

The URL needs no API key; the trigger's secret, kept in the vault, proves the sender. The
request answers 202 at once; the filter, the dedupe key and the template are applied by a
worker, and the fire's history says what became of each delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import urllib.parse
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, wait

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="
GITHUB_SECRET = "it's a secret to everybody"


@pytest.fixture
async def served(make_settings: Callable[..., Any]) -> AsyncIterator[tuple[Any, Any]]:
    settings = make_settings(poll_interval_s=0.1, hook_requests_per_minute=20)
    async with running_app(settings) as app, api_client(app) as client:
        await client.post("/v1/agents", json={"name": "echo", "model": "test"})
        for name, value in (("HOOK_SECRET", SECRET), ("GITHUB_SECRET", GITHUB_SECRET)):
            response = await client.post("/v1/secrets", json={"name": name, "value": value})
            assert response.status_code == 201, response.text
        yield app, client


@pytest.fixture
def api(served: tuple[Any, Any]) -> Any:
    return served[1]


@pytest.fixture
def anonymous(served: tuple[Any, Any]) -> Any:
    return api_client(served[0], key=None)


async def routine_with(api: Any, trigger: dict[str, Any], **body: Any) -> dict[str, Any]:
    payload = {
        "name": "triage",
        "agent": "echo",
        "input": "{{ payload.action }} #{{ payload.id }} from {{ headers['x-source'] }}",
        "overlap": "allow",
        "triggers": [{"type": "webhook", **trigger}],
        **body,
    }
    response = await api.post("/v1/routines", json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


def signed(body: dict[str, Any], message_id: str, secret: str = SECRET) -> tuple[bytes, dict]:
    raw = orjson.dumps(body)
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "x-source": "tests",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, raw.decode()),
    }
    return raw, headers


async def fire_of(api: Any, routine: dict[str, Any], fire_id: str) -> dict[str, Any]:
    """The fire once a worker handled it."""
    for _ in range(200):
        response = await api.get(f"/v1/routines/{routine['id']}/fires/{fire_id}")
        fire = response.json()
        if fire["status"] not in ("pending", "queued"):
            return dict(fire)
        await asyncio.sleep(0.05)
    raise AssertionError(f"fire {fire_id} was never handled")


async def test_a_signed_delivery_fires_once_when_it_passes_the_filter(api, anonymous):
    routine = await routine_with(
        api,
        {
            "verify": {"scheme": "standard_webhooks", "secret": "HOOK_SECRET"},
            "filter": "$[?@.action == 'opened']",
            "dedupe": {"key": "$.id", "window_s": 600},
        },
    )
    path = routine["triggers"][0]["path"]
    assert path.startswith("/v1/hooks/hook_") and len(path) > 50
    async with anonymous as sender:
        raw, headers = signed({"action": "opened", "id": 7}, "msg_1")
        unsigned = {k: v for k, v in headers.items() if not k.startswith("webhook-")}
        assert_error(
            await sender.post(path, content=raw, headers=unsigned), 401, "invalid_signature"
        )
        forged, forged_headers = signed({"action": "opened", "id": 7}, "msg_1", "whsec_b3RoZXI=")
        assert_error(
            await sender.post(path, content=forged, headers=forged_headers),
            401,
            "invalid_signature",
        )
        tampered = raw.replace(b"7", b"8")
        assert_error(
            await sender.post(path, content=tampered, headers=headers), 401, "invalid_signature"
        )

        accepted = await sender.post(path, content=raw, headers=headers)
        assert accepted.status_code == 202, accepted.text
        closed_raw, closed_headers = signed({"action": "closed", "id": 8}, "msg_2")
        closed = await sender.post(path, content=closed_raw, headers=closed_headers)
        again_raw, again_headers = signed({"action": "opened", "id": 7}, "msg_3")
        again = await sender.post(path, content=again_raw, headers=again_headers)
        other_raw, other_headers = signed({"action": "opened", "id": 9}, "msg_4")
        other = await sender.post(path, content=other_raw, headers=other_headers)

    fire = await fire_of(api, routine, accepted.json()["fire_id"])
    assert (fire["status"], fire["trigger"]) == ("started", "webhook")
    assert (await wait(api, fire["run_id"]))["input"] == "opened #7 from tests"
    assert (await fire_of(api, routine, closed.json()["fire_id"]))["status"] == "filtered"
    assert (await fire_of(api, routine, again.json()["fire_id"]))["status"] == "duplicate"
    assert (await fire_of(api, routine, other.json()["fire_id"]))["status"] == "started"


async def test_a_github_style_signature_and_form_body_are_understood(api, anonymous):
    routine = await routine_with(api, {"verify": {"scheme": "github", "secret": "GITHUB_SECRET"}})
    path = routine["triggers"][0]["path"]
    body = urllib.parse.urlencode({"payload": orjson.dumps({"action": "push", "id": 1})}).encode()
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/x-www-form-urlencoded", "x-source": "github"}
    async with anonymous as sender:
        wrong = {**headers, "x-hub-signature-256": "sha256=" + "0" * 64}
        assert_error(await sender.post(path, content=body, headers=wrong), 401, "invalid_signature")
        good = {**headers, "x-hub-signature-256": f"sha256={digest}"}
        accepted = await sender.post(path, content=body, headers=good)
    assert accepted.status_code == 202, accepted.text
    fire = await fire_of(api, routine, accepted.json()["fire_id"])
    assert (await wait(api, fire["run_id"]))["input"] == "push #1 from github"


async def test_deliveries_that_cannot_be_taken_get_clear_codes(api, anonymous, served):
    routine = await routine_with(api, {})
    path = routine["triggers"][0]["path"]
    async with anonymous as sender:
        assert_error(await sender.post("/v1/hooks/hook_nothing"), 404, "not_found")
        assert_error(await sender.post("/v1/hooks/anything"), 404, "not_found")
        too_big = b'{"x": "' + b"a" * 300_000 + b'"}'
        assert_error(await sender.post(path, content=too_big), 413, "payload_too_large")
        assert_error(await sender.post(path, content=b"not json"), 400, "invalid_request")
        nul = b'{"text": "a\\u0000b"}'
        assert_error(await sender.post(path, content=nul), 400, "invalid_request", "/text")
        assert (await sender.post(path, json={"action": "a"})).status_code == 202
        await api.post(f"/v1/routines/{routine['id']}/pause")
        assert_error(await sender.post(path, json={"action": "b"}), 409, "routine_paused")
        await api.post(f"/v1/routines/{routine['id']}/resume")
        statuses = [(await sender.post(path, json={})).status_code for _ in range(20)]
    assert 429 in statuses and statuses.index(429) > 0


async def test_a_kept_trigger_keeps_its_url_and_a_removed_one_stops_answering(api, anonymous):
    routine = await routine_with(api, {})
    [kept] = routine["triggers"]
    updated = await api.patch(
        f"/v1/routines/{routine['id']}",
        json={"triggers": [{"type": "webhook", "id": kept["id"]}, {"type": "webhook"}]},
    )
    assert updated.status_code == 200, updated.text
    paths = [t["path"] for t in updated.json()["triggers"]]
    assert paths[0] == kept["path"] and paths[1] != kept["path"]
    await api.patch(f"/v1/routines/{routine['id']}", json={"triggers": []})
    async with anonymous as sender:
        for path in paths:
            assert_error(await sender.post(path, json={}), 404, "not_found")
