"""`corral webhooks listen`: deliveries printed as they arrive, through a temporary endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from corral.cli.webhook_listen import signature_valid
from tests.cli.conftest import CORRAL, clean_environ
from tests.conftest import ADMIN_KEY, LiveServer
from tests.helpers import submit, wait

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_server_that_refuses_local_addresses_gets_a_hint(cli):
    refused = cli("webhooks", "listen", "--count", "1", ok=False)
    assert refused.returncode == 1
    assert "listener_refused" in refused.stderr
    assert "CORRAL_NETWORK_PRIVATE_HOSTS=127.0.0.1" in refused.stderr


def test_the_signature_check_is_the_specification_s():
    from standardwebhooks import Webhook  # the specification's own library, server-side

    body = b'{"type":"run.completed"}'
    now = 1_800_000_000
    signature = Webhook(SECRET).sign("msg_1", _at(now), body.decode())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert signature_valid(SECRET, headers, body, now + 10)
    assert not signature_valid(SECRET, headers, body + b" ", now)
    assert not signature_valid(SECRET, headers, body, now + 600)
    assert not signature_valid(SECRET, {**headers, "webhook-id": "msg_2"}, body, now)


def _at(seconds: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


async def test_listen_prints_a_run_s_end_and_removes_its_endpoint(
    make_settings: Callable[..., Any],
):
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with LiveServer(settings) as server, server.client() as api:
        env = {**clean_environ(), "CORRAL_BASE_URL": server.base_url, "CORRAL_API_KEY": ADMIN_KEY}
        listener = await asyncio.create_subprocess_exec(
            CORRAL, "webhooks", "listen", "--event", "run.completed", "--count", "1", "--json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert listener.stderr is not None
        started = await asyncio.wait_for(listener.stderr.readline(), 30)
        assert b"listening on http://127.0.0.1:" in started, started
        [webhook] = (await api.get("/v1/webhooks")).json()["data"]
        assert webhook["event_types"] == ["run.completed"]

        run = await submit(api, "hello")
        await wait(api, run["id"])
        stdout, stderr = await asyncio.wait_for(listener.communicate(), 30)

        assert listener.returncode == 0, stderr
        [printed] = [json.loads(line) for line in stdout.splitlines()]
        assert printed["type"] == "run.completed"
        assert printed["data"]["run_id"] == run["id"]
        assert printed["webhook_id"].startswith("msg_")
        assert f"webhook {webhook['id']} removed" in stderr.decode()
        assert (await api.get("/v1/webhooks")).json()["data"] == []
