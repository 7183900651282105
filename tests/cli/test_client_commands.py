"""The client commands (`corral run`, `runs`, `sessions`, `models`, `whoami`) as real processes.

Each test tags its runs with a unique metadata value so that lists show only its own runs.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
import uuid

from corral.client import Corral
from tests.cli.conftest import CORRAL
from tests.conftest import free_port

SUMMARY = re.compile(
    r"^completed in [\d.]+ m?s · 120 in / 40 out tokens · \$0\.0000 · run_\w+$", re.MULTILINE
)


def tag() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def test_run_streams_the_answer_then_a_summary_line(cli):
    result = cli("run", "[[tokens 120 40]] Hello there, Corral")

    assert result.stdout.startswith("Hello there, Corral\n")
    assert SUMMARY.search(result.stdout), result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("completed in")


def test_run_json_prints_only_the_events_as_json_lines(cli, sdk):
    test = tag()

    result = cli("run", "--json", "--metadata", f"test={test}", "-M", "via=cli", "Hi there")

    events = result.json_lines()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.started"
    assert events[-1] == {**events[-1], "type": "run.completed", "output": "Hi there"}
    assert "completed in" in result.stderr
    run = sdk.runs.retrieve(events[-1]["run_id"])
    assert run.metadata == {"test": test, "via": "cli"}


def test_a_failing_run_exits_1_with_its_error_code_in_the_last_line(cli):
    human, as_json = cli.all(
        ["run", "[[fail provider_error boom]] x"],
        ["run", "--json", "[[fail provider_error boom]] x"],
        ok=False,
    )

    assert human.returncode == 1
    assert human.stdout.splitlines()[-1].startswith("failed in")
    assert "provider_error: boom" in human.stdout.splitlines()[-1]
    assert as_json.returncode == 1
    assert as_json.json_lines()[-1]["type"] == "run.failed"
    assert "provider_error: boom" in as_json.stderr


def test_run_refuses_contradictory_options_as_a_usage_error(cli):
    [both] = cli.all(["run", "--agent", "a", "--model", "test", "hi"], ok=False)

    assert both.returncode == 2
    assert "--agent" in both.stderr


def test_ctrl_c_cancels_the_run_and_exits_130(cli, sdk):
    test = tag()
    process = subprocess.Popen(
        [CORRAL, "run", "-M", f"test={test}", "[[delay 30s]] never"],
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # The command must get SIGINT even if this test runs where it is ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        run_id = _wait_for_running(sdk, test, process)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.splitlines()[-1].startswith("cancelled in")
    assert sdk.runs.retrieve(run_id).status == "cancelled"


def _wait_for_running(sdk: Corral, test: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        found = list(sdk.runs.list(metadata={"test": test}, status="running"))
        if found:
            return found[0].id
        time.sleep(0.05)
    raise AssertionError("the run never started")


def test_runs_list_show_and_events_with_and_without_json(cli, sdk):
    test = tag()
    first = sdk.runs.create(input="first run", model="test", metadata={"test": test})
    second = sdk.runs.create(input="[[reply done]] x", model="test", metadata={"test": test})
    sdk.runs.wait(first.id, timeout_s=10)
    sdk.runs.wait(second.id, timeout_s=10)

    table, listed, show, shown, lines, documents = cli.all(
        ["runs", "list", "--metadata", f"test={test}"],
        [
            "runs",
            "list",
            "--metadata",
            f"test={test}",
            "--status",
            "completed",
            "--json",
            "-n",
            "1",
        ],
        ["runs", "show", second.id],
        ["runs", "show", second.id, "--json"],
        ["runs", "events", second.id],
        ["runs", "events", second.id, "--json", "--after", "1"],
    )

    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "MODEL"]
    assert [row.split()[:3] for row in rows] == [
        [second.id, "completed", "test"],
        [first.id, "completed", "test"],
    ]
    assert [r["id"] for r in listed.json()] == [second.id]
    assert re.search(r"^status\s+completed", show.stdout, re.MULTILINE)
    assert re.search(r"^output\s+done", show.stdout, re.MULTILINE)
    assert shown.json()["output"] == "done"
    types = [line.split()[2] for line in lines.stdout.splitlines()]
    assert types[0] == "run.started"
    assert types[-1] == "run.completed"
    assert [e["seq"] for e in documents.json_lines()] == list(range(2, len(types) + 1))


def test_runs_list_since_and_until_bound_the_creation_time(cli, sdk):
    test = tag()
    runs = [
        sdk.runs.create(input=f"run {i}", model="test", metadata={"test": test}) for i in range(3)
    ]
    for run in runs:
        sdk.runs.wait(run.id, timeout_s=10)
    first, second, third = runs
    mine = ["runs", "list", "-M", f"test={test}", "--json"]

    between, dates, before_2000, bad, inverted = cli.all(
        [*mine, "--since", second.created_at.isoformat(), "--until", third.created_at.isoformat()],
        [*mine, "--since", "2000-01-01", "--until", "2100-01-01"],
        [*mine, "--until", "2000-01-01T00:00:00Z"],
        [*mine, "--since", "yesterday"],
        [*mine, "--since", "2030-01-02", "--until", "2030-01-01"],
        ok=False,
    )

    assert between.returncode == dates.returncode == before_2000.returncode == 0
    assert [r["id"] for r in between.json()] == [second.id]
    assert [r["id"] for r in dates.json()] == [third.id, second.id, first.id]
    assert before_2000.json() == []
    assert bad.returncode == 2
    assert "--since" in bad.stderr and "ISO 8601" in bad.stderr
    assert inverted.returncode == 1
    assert inverted.stderr.startswith("error: invalid_request: ")
    assert len(inverted.stderr.splitlines()) == 1
    assert "(field: created_before)" in inverted.stderr


def test_runs_events_follow_streams_a_live_run_to_its_end(cli, sdk):
    run = sdk.runs.create(input="[[delay 500ms]] slowly", model="test")

    result = cli("runs", "events", run.id, "--follow", "--json")

    events = result.json_lines()
    assert events[0]["type"] == "run.started"
    assert events[-1] == {**events[-1], "type": "run.completed", "output": "slowly"}


def test_runs_cancel_and_delete(cli, sdk):
    active = sdk.runs.create(input="[[delay 30s]] x", model="test")
    ended = sdk.runs.create(input="x", model="test")
    sdk.runs.wait(ended.id, timeout_s=10)

    cancelled, refused = cli.all(["runs", "cancel", active.id], ["runs", "delete", ended.id])
    again, gone = cli.all(
        ["runs", "cancel", active.id, "--json"], ["runs", "show", ended.id], ok=False
    )
    deleted = cli("runs", "delete", active.id, "--json")

    assert cancelled.stdout.strip() == f"cancelled {active.id}"
    assert refused.stdout.strip() == f"deleted {ended.id}"
    assert again.returncode == 0
    assert again.json()["status"] == "cancelled"
    assert deleted.json() == {"id": active.id, "deleted": True}
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: not_found:")


def test_deleting_an_active_run_says_what_to_do(cli, sdk):
    active = sdk.runs.create(input="[[delay 30s]] x", model="test")
    try:
        result = cli("runs", "delete", active.id, ok=False)
    finally:
        sdk.runs.cancel(active.id)

    assert result.returncode == 1
    assert result.stderr.startswith("error: run_active:")
    assert "corral runs cancel" in result.stderr


def test_a_session_conversation(cli, sdk):
    created = cli("sessions", "create", "--model", "test", "-M", "team=cli")
    session_id = created.stdout.strip()
    assert session_id.startswith("ses_")

    first = cli("sessions", "send", session_id, "hello one")
    second = cli("sessions", "send", session_id, "--json", "[[reply two]] again")
    show, shown, listed = cli.all(
        ["sessions", "show", session_id],
        ["sessions", "show", session_id, "--json"],
        ["sessions", "list", "--json", "-n", "100"],
    )
    ended = cli("sessions", "end", session_id)
    refused = cli("sessions", "send", session_id, "more", ok=False)

    assert first.stdout.startswith("hello one\n")
    assert first.stdout.splitlines()[-1].startswith("completed in")
    assert second.json_lines()[-1]["output"] == "two"
    assert "user: hello one\nassistant: hello one\n" in show.stdout
    assert "assistant: two" in show.stdout
    assert [m["role"] for m in shown.json()["messages"]] == ["user", "assistant"] * 2
    assert shown.json()["metadata"] == {"team": "cli"}
    assert session_id in [s["id"] for s in listed.json()]
    assert ended.stdout.strip() == f"ended {session_id}"
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: session_ended:")
    assert sdk.sessions.retrieve(session_id).status == "ended"


def test_models_and_whoami_with_and_without_json(cli):
    models, models_json, whoami, whoami_json = cli.all(
        ["models"], ["models", "--json"], ["whoami"], ["whoami", "--json"]
    )

    assert re.search(r"^test\s+corral\s+1,000,000\s+free\s+free\s+yes", models.stdout, re.M)
    claude = r"^anthropic/claude-haiku-4-5\s+anthropic\s+200,000\s+1\s+5\s+api_keys"
    assert re.search(claude, models.stdout, re.M)
    assert "test" in [m["id"] for m in models_json.json()["models"]]
    assert re.search(r"^workspace\s+default \(ws_\w+\)", whoami.stdout, re.MULTILINE)
    assert re.search(r"^scopes\s+admin", whoami.stdout, re.MULTILINE)
    assert whoami_json.json()["key"]["scopes"] == ["admin"]


def test_errors_are_one_line_with_the_code_and_what_to_do(cli):
    down = f"http://127.0.0.1:{free_port()}"

    bad_key, unknown, no_server = cli.all(
        ["--api-key", "crl_not_a_key", "whoami"],
        ["runs", "show", "run_00000000000000000000000000"],
        ["--base-url", down, "models"],
        ok=False,
    )
    no_key = cli("whoami", env={"CORRAL_API_KEY": ""}, ok=False)

    for result in (bad_key, unknown, no_server, no_key):
        assert result.returncode == 1, str(result)
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, str(result)
    assert bad_key.stderr.startswith("error: unauthorized:")
    assert "set CORRAL_API_KEY or pass --api-key" in bad_key.stderr
    assert unknown.stderr.startswith("error: not_found:")
    assert no_server.stderr.startswith("error: connection_error:")
    assert f"is the server running at {down}?" in no_server.stderr
    assert no_key.stderr.startswith("error: no_api_key:")
