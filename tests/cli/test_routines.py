"""`corral routines …` as real processes against the shared `corral serve`.

Every test makes its own agent and routines under unique names, and deletes the routines that
fire on a schedule, so other tests' workspace stays quiet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from corral.client import Corral
from tests.cli.conftest import Cli


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def agent(sdk: Corral) -> str:
    """A stored agent on the `test` model, which answers with its input."""
    return sdk.agents.create(name=unique("echo"), model="test").name


@pytest.fixture
def made(sdk: Corral) -> Iterator[list[str]]:
    """Names of the routines a test made, deleted after it."""
    names: list[str] = []
    yield names
    existing = {r.name for r in sdk.routines.list()}
    for name in names:
        if name in existing:
            sdk.routines.delete(name)


def test_create_with_schedules_then_list_and_show_them(cli: Cli, agent, made):
    name = unique("digest")
    made.append(name)
    created = cli(
        "routines", "create", name, "-a", agent, "--input", "Digest of {{ fire.scheduled_at }}",
        "--cron", "0 9 * * 1-5", "--cron", "30 17 * * 5", "--timezone", "Europe/Paris",
        "--catch-up", "once", "--description", "weekday digest", "-M", "team=infra",
    )  # fmt: skip
    listed, shown, shown_json = cli.all(
        ["routines", "list"], ["routines", "show", name], ["routines", "show", name, "--json"]
    )

    first, *nexts = created.stdout.splitlines()
    assert first.startswith(f"routine {name} created (rtn_") and first.endswith(", active)")
    assert [line.startswith("next fire: ") for line in nexts] == [True, True]
    assert nexts[0].endswith("(0 9 * * 1-5)") and nexts[1].endswith("(30 17 * * 5)")
    [row] = [line for line in listed.stdout.splitlines() if line.startswith(name + " ")]
    assert "active" in row and agent in row and "weekday digest" in row
    assert "0 9 * * 1-5 (Europe/Paris), 30 17 * * 5 (Europe/Paris)" in row
    routine = shown_json.json()
    assert (routine["catch_up"], routine["metadata"]) == ("once", {"team": "infra"})
    assert [t["timezone"] for t in routine["triggers"]] == ["Europe/Paris"] * 2
    assert "0 9 * * 1-5 (Europe/Paris) · trg_" in shown.stdout
    assert "next fires" in shown.stdout and "team=infra" in shown.stdout
    assert f"{agent} · {routine['agent']} (latest version)" in shown.stdout
    assert "Digest of {{ fire.scheduled_at }}" in shown.stdout


def test_a_webhook_routine_shows_its_full_url_and_fires_from_it(cli: Cli, sdk: Corral, agent):
    secret = unique("HOOK").replace("-", "_")
    sdk.secrets.create(name=secret, value="it's a secret")
    name = unique("triage")
    created = cli(
        "routines", "create", name, "--agent", agent, "--input", "{{ payload.action }}",
        "--webhook", "--verify", "github", "--secret", secret, "--filter", "$[?@.action]",
        "--dedupe-key", "$.id", "--dedupe-window", "60", "--paused", "--json",
    ).json()  # fmt: skip
    [hook] = created["triggers"]
    shown = cli("routines", "show", name)
    refused = httpx.post(cli.base_url + hook["path"], json={"action": "opened"})
    plain = cli("routines", "create", unique("plain"), "-a", agent, "-i", "x", "--webhook")
    resumed = cli("routines", "resume", name)
    paused = cli("routines", "pause", name, "--json")

    assert created["status"] == "paused"
    assert hook["verify"] == {"scheme": "github", "secret": secret}
    assert (hook["filter"], hook["dedupe"]) == ("$[?@.action]", {"key": "$.id", "window_s": 60})
    assert f"{cli.base_url}{hook['path']} · {hook['id']}" in shown.stdout
    assert f"github with secret {secret}" in shown.stdout
    assert "$.id within 60 s" in shown.stdout and "paused" in shown.stdout
    assert (refused.status_code, refused.json()["error"]) == (409, "routine_paused")
    assert f"webhook URL: {cli.base_url}/v1/hooks/hook_" in plain.stdout
    assert resumed.stdout.strip() == f"resumed routine {name}"
    assert paused.json()["paused_reason"]["code"] == "manual"


def test_run_prints_the_fire_and_its_run_and_a_key_answers_the_first(cli: Cli, sdk, agent):
    name = unique("hand")
    sdk.routines.create(name=name, agent=agent, input="Hello {{ payload.who }}", overlap="allow")

    first = cli("routines", "run", name, "--payload", '{"who": "Ada"}', "--idempotency-key", "k")
    again = cli("routines", "run", name, "--idempotency-key", "k", "--json").json()
    waited = cli("routines", "run", name, "-p", '{"who": "Bob"}', "--wait")
    waited_json = cli("routines", "run", name, "-p", '{"who": "Cy"}', "--wait", "--json")

    fire_id, run_id = first.stdout.split()[1], first.stdout.split()[-1]
    assert first.stdout.strip() == f"fire {fire_id} started: run {run_id}"
    assert (again["id"], again["run_id"]) == (fire_id, run_id)
    assert sdk.runs.wait(run_id).output == "Hello Ada"
    lines = waited.stdout.splitlines()
    assert lines[0].startswith("fire fire_") and "Hello Bob" in lines
    assert lines[-1].startswith("completed in")
    fire, *events = waited_json.json_lines()
    assert fire["status"] == "started" and events[0]["run_id"] == fire["run_id"]
    assert events[-1]["type"] == "run.completed" and events[-1]["output"] == "Hello Cy"
    assert "completed in" in waited_json.stderr


def test_a_skipped_fire_exits_1_and_fires_lists_why(cli: Cli, sdk, agent):
    name = unique("slow")
    sdk.routines.create(name=name, agent=agent, input="[[delay 8000ms]] {{ payload.n }}")
    started = cli("routines", "run", name, "-p", '{"n": 1}')
    skipped = cli("routines", "run", name, "-p", '{"n": 2}', ok=False)
    table, only_skipped, limited = cli.all(
        ["routines", "fires", name],
        ["routines", "fires", name, "--status", "skipped", "--json"],
        ["routines", "fires", name, "-n", "1", "--json"],
    )

    run_id = started.stdout.split()[-1]
    skipped_id = skipped.stdout.split()[1]
    assert skipped.returncode == 1
    assert skipped.stdout.strip() == f"fire {skipped_id} skipped: overlap"
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "TRIGGER", "STATUS", "REASON", "SCHEDULED", "CREATED", "RUN"]
    assert rows[0].split()[:4] == [skipped_id, "manual", "skipped", "overlap"]
    assert rows[1].split()[:3] == [started.stdout.split()[1], "manual", "started"]
    assert rows[1].endswith(run_id)
    assert [f["id"] for f in only_skipped.json()] == [skipped_id]
    assert [f["id"] for f in limited.json()] == [skipped_id]


def test_delete_asks_first_and_a_missing_routine_is_not_found(cli: Cli, sdk, agent):
    name = unique("gone")
    sdk.routines.create(name=name, agent=agent, input="x")

    unconfirmed = cli("routines", "delete", name, ok=False)
    deleted = cli("routines", "delete", name, "--yes", "--json")
    missing, no_fires = cli.all(["routines", "show", name], ["routines", "fires", name], ok=False)

    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.startswith("error: confirmation_required:")
    assert deleted.json() == {"routine": name, "deleted": True}
    assert missing.returncode == no_fires.returncode == 1
    assert missing.stderr.startswith("error: not_found:")


OPTIONS = ["--input", "--verify", "--webhook", "--timezone", "--payload"]


def test_bad_options_are_usage_errors_and_bad_values_name_the_field(cli: Cli, agent, tmp_path):
    template = tmp_path / "input.txt"
    template.write_text("From a file: {{ payload }}")
    usage = cli.all(
        ["routines", "create", "a", "-a", agent],
        ["routines", "create", "a", "-a", agent, "-i", "x", "--webhook", "--verify", "github"],
        ["routines", "create", "a", "-a", agent, "-i", "x", "--filter", "$[?@.a]"],
        ["routines", "create", "a", "-a", agent, "-i", "x", "--timezone", "UTC"],
        ["routines", "run", "a", "--payload", "{nope"],
        ["routines", "create", unique("bad"), "-a", agent, "-i", "x", "--cron", "61 * * * *"],
        ["routines", "create", unique("bad"), "-a", unique("nobody"), "-i", "x"],
        [
            "routines",
            "create",
            unique("filed"),
            "-a",
            agent,
            "--input-file",
            str(template),
            "--json",
        ],
        ok=False,
    )
    *usage, bad_cron, no_agent, from_file = usage

    assert [r.returncode for r in usage] == [2] * len(usage), [r.stderr for r in usage]
    assert [option in r.stderr for option, r in zip(OPTIONS, usage, strict=True)] == [True] * 5
    assert bad_cron.returncode == 1 and "(field: /triggers/0/cron)" in bad_cron.stderr
    assert no_agent.returncode == 1 and "(field: /agent)" in no_agent.stderr
    assert from_file.returncode == 0 and from_file.json()["input"] == "From a file: {{ payload }}"
