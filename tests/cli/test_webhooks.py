"""`corral webhooks …` as real processes against the shared `corral serve`.

That server may not deliver to 127.0.0.1, so deliveries go to `localhost`: a name passes at
registration and fails when the sender connects, which leaves a pending delivery to list and
resend. Every test deletes the endpoints it made, so other tests' runs are not sent to them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from corral.client import Corral, Delivery
from tests.cli.conftest import Cli

UNREACHABLE = "http://localhost:9/hook"


@pytest.fixture
def made(sdk: Corral) -> Iterator[list[str]]:
    """Ids of the endpoints a test made, deleted after it."""
    ids: list[str] = []
    yield ids
    for webhook_id in ids:
        if webhook_id in {w.id for w in sdk.webhooks.list()}:
            sdk.webhooks.delete(webhook_id)


def unique_url() -> str:
    return f"https://example.com/{uuid.uuid4().hex[:8]}"


def test_create_prints_the_secret_alone_and_the_endpoint_is_listed_and_shown(cli, sdk, made):
    url = unique_url()
    created = cli(
        "webhooks", "create", url, "--event", "run.completed", "--event", "run.failed",
        "--description", "CI alerts",
    )  # fmt: skip
    [webhook] = [w for w in sdk.webhooks.list() if w.url == url]
    made.append(webhook.id)
    as_json = cli("webhooks", "create", unique_url(), "--event", "run.failed", "--json").json()
    made.append(as_json["id"])
    listed, listed_json, shown, shown_json = cli.all(
        ["webhooks", "list"],
        ["webhooks", "list", "--json"],
        ["webhooks", "show", webhook.id],
        ["webhooks", "show", webhook.id, "--json"],
    )

    assert created.stdout.strip() == sdk.webhooks.secret(webhook.id).secret
    assert created.stdout.startswith("whsec_")
    assert f"webhook {webhook.id} created for {url} (run.completed, run.failed)" in created.stderr
    assert "Store the secret" in created.stderr
    assert as_json["secret"].startswith("whsec_") and as_json["event_types"] == ["run.failed"]
    [row] = [line for line in listed.stdout.splitlines() if webhook.id in line]
    assert row.split()[1:4] == [url, "run.completed,run.failed", "enabled"]
    assert row.endswith("CI alerts")
    assert {w["id"] for w in listed_json.json()} >= {webhook.id, as_json["id"]}
    assert all("secret" not in w for w in listed_json.json())
    assert f"url          {url}" in shown.stdout and "CI alerts" in shown.stdout
    assert shown_json.json()["enabled"] is True and "secret" not in shown_json.json()


def test_disable_enable_and_delete(cli, sdk, made):
    webhook = sdk.webhooks.create(url=unique_url(), event_types=["run.completed"])
    made.append(webhook.id)

    disabled = cli("webhooks", "disable", webhook.id)
    shown = cli("webhooks", "show", webhook.id)
    enabled = cli("webhooks", "enable", webhook.id, "--json")
    unconfirmed = cli("webhooks", "delete", webhook.id, ok=False)
    deleted = cli("webhooks", "delete", webhook.id, "--yes", "--json")
    gone = cli("webhooks", "show", webhook.id, ok=False)

    assert disabled.stdout.strip() == f"disabled webhook {webhook.id} ({webhook.url})"
    assert "disabled" in shown.stdout
    assert enabled.json()["enabled"] is True
    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.startswith("error: confirmation_required:")
    assert deleted.json() == {"id": webhook.id, "deleted": True}
    assert gone.returncode == 1
    assert gone.stderr.startswith(f"error: not_found: no webhook '{webhook.id}'")
    assert "`corral webhooks list`" in gone.stderr


def pending(sdk: Corral, webhook_id: str, run_id: str) -> Delivery:
    """The endpoint's delivery of the run, once an attempt has failed."""
    for _ in range(200):
        found = [d for d in sdk.webhooks.deliveries(webhook_id) if d.run_id == run_id]
        if found and found[0].last_error:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no attempt was made")


def test_deliveries_show_why_an_attempt_failed_and_resend_sends_again(cli: Cli, sdk, made):
    webhook = sdk.webhooks.create(url=UNREACHABLE, event_types=["run.completed"])
    made.append(webhook.id)
    run = sdk.run(model="test", input="hello")
    delivery = pending(sdk, webhook.id, run.id)

    listed = cli("webhooks", "deliveries", webhook.id, "-n", "100")
    listed_json = cli("webhooks", "deliveries", webhook.id, "--json").json()
    resent = cli("webhooks", "resend", webhook.id, delivery.message_id)
    resent_json = cli("webhooks", "resend", webhook.id, delivery.message_id, "--json").json()
    missing = cli("webhooks", "resend", webhook.id, "msg_nope", ok=False)

    [row] = [line for line in listed.stdout.splitlines() if delivery.message_id in line]
    assert row.split()[:5] == [delivery.message_id, "run.completed", run.id, "pending", "1"]
    assert "blocked by network policy" in row
    assert [d["message_id"] for d in listed_json if d["run_id"] == run.id] == [delivery.message_id]
    assert resent.stdout.strip() == (f"resending {delivery.message_id} (run.completed of {run.id})")
    assert resent_json["message_id"] == delivery.message_id
    assert missing.returncode == 1 and missing.stderr.startswith("error: not_found:")
    assert "`corral webhooks deliveries WEBHOOK_ID`" in missing.stderr


def test_a_bad_event_or_private_address_names_the_field(cli):
    bad_event = cli("webhooks", "create", unique_url(), "--event", "message.delta", ok=False)
    private = cli("webhooks", "create", "http://10.0.0.1/x", "--event", "run.failed", ok=False)
    no_event = cli("webhooks", "create", unique_url(), ok=False)

    assert bad_event.returncode == 1 and "(field: /event_types/0)" in bad_event.stderr
    assert private.returncode == 1 and "(field: /url)" in private.stderr
    assert bad_event.stdout == private.stdout == ""
    assert no_event.returncode == 2 and "--event" in no_event.stderr
