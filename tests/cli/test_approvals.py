"""`corral approvals …` and `corral run` on a run whose calls wait for a person, as real processes.

A run watched without a terminal on stdin prints the commands that decide and keeps waiting; with
one (a pseudo-terminal here) it asks, and posts the answer.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from corral.cli.approvals import age, prompt
from corral.client import Approval, ApprovalRequested, Corral, Decision
from tests.cli.conftest import COMMAND_TIMEOUT_S, CORRAL, Cli

WAIT = '[[call wait {"seconds": 0.01}]]'
SPEC = {"model": "test", "builtin_tools": ["wait"], "permissions": {"tools": {"wait": "ask"}}}
SPEC_RULE = {"tool": "wait", "policy": "deny", "command_prefix": ["never"]}
"""A rule no call of `wait` meets (it has no `command`): it only shows up in `agents show`."""


def tag() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def held(sdk: Corral, test: str) -> Approval:
    """The pending approval of this test's run, once there is one."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = sdk.approvals.list(status="pending", metadata={"test": test}).data
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no run tagged {test} asked for approval")


@contextmanager
def watched(
    cli: Cli, *args: str, stdin: int = subprocess.DEVNULL
) -> Iterator[subprocess.Popen[str]]:
    """`corral ARGS` running in the background; killed if the test leaves it running."""
    process = subprocess.Popen(
        [CORRAL, *args],
        env=cli.env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_run_without_a_terminal_names_the_commands_then_goes_on_once_allowed(cli, sdk):
    test = tag()

    with watched(cli, "run", "--ask", "wait", "-M", f"test={test}", WAIT) as process:
        approval = held(sdk, test)
        listed, listed_json = cli.all(
            ["approvals", "list", "-M", f"test={test}"],
            ["approvals", "list", "--run", approval.run_id, "--json"],
        )
        allowed = cli("approvals", "allow", approval.run_id, approval.call_id)
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)

    ids = f"{approval.run_id} {approval.call_id}"
    assert process.returncode == 0, stderr
    assert f"`corral approvals allow {ids}` or `corral approvals deny {ids}`" in stderr
    assert f"{approval.run_id} waits for approval of wait" in stderr
    assert "approval wait" in stdout and "asks for approval (tools.wait)" in stdout
    assert "allowed wait" in stdout
    assert "wait returned: waited 0.01 s" in stdout
    assert stdout.splitlines()[-1].startswith("completed in")
    row = rf"^{approval.id}\s+{approval.run_id}\s+{approval.call_id}\s+wait\s+"
    row += r'\{"seconds": 0\.01\}\s+tools\.wait\s+pending\s+\d+ (s|min)$'
    assert re.search(row, listed.stdout, re.M), listed.stdout
    assert listed.stdout.splitlines()[0].split() == [
        "ID", "RUN", "CALL", "TOOL", "INPUT", "POLICY", "STATUS", "AGE"
    ]  # fmt: skip
    [document] = listed_json.json()
    assert (document["id"], document["status"]) == (approval.id, "pending")
    assert allowed.stdout.strip() == f"allowed wait ({approval.call_id}) of {approval.run_id}"


def test_deny_with_a_message_and_allow_with_edited_input(cli, sdk):
    first_tag, second_tag = tag(), tag()
    first = sdk.runs.create(input=WAIT, agent_spec=SPEC, metadata={"test": first_tag})
    second = sdk.runs.create(input=WAIT, agent_spec=SPEC, metadata={"test": second_tag})
    denial, edit = held(sdk, first_tag), held(sdk, second_tag)

    denied = cli("approvals", "deny", first.id, denial.call_id, "--message", "not on a Friday")
    allowed = cli(
        "approvals", "allow", second.id, edit.call_id, "--input", '{"seconds": 0.02}', "--json"
    )
    conflict = cli("approvals", "allow", first.id, denial.call_id, ok=False)
    unknown = cli("approvals", "deny", first.id, "call_nope", ok=False)
    bad_input = cli("approvals", "allow", second.id, edit.call_id, "--input", "[1]", ok=False)
    any_status = cli("approvals", "list", "--status", "any", "--run", first.id)
    nothing = cli("approvals", "list", "--run", first.id)

    assert denied.stdout.strip() == f"denied wait ({denial.call_id}) of {first.id}"
    assert allowed.json()["decided_input"] == {"seconds": 0.02}
    assert "not on a Friday" in sdk.runs.wait(first.id).output
    assert sdk.runs.wait(second.id).output == "wait returned: waited 0.02 s"
    assert conflict.returncode == 1 and len(conflict.stderr.splitlines()) == 1
    assert conflict.stderr.startswith("error: approval_conflict:")
    assert "corral approvals list --status any" in conflict.stderr
    assert unknown.stderr.startswith("error: not_found:")
    assert "`corral approvals list`" in unknown.stderr
    assert bad_input.returncode == 2 and "expected a JSON object" in bad_input.stderr
    assert re.search(rf"^{denial.id}\s.*\sdenied\s", any_status.stdout, re.M)
    assert nothing.stdout == "" and nothing.stderr.strip() == "no pending approvals"


@pytest.mark.parametrize(
    ("args", "answers", "shown"),
    [
        ([], "maybe\nn\nnot today\n", "denied wait: not today"),
        (["--json"], "y\n", '"type":"approval.decided"'),
    ],
    ids=["deny", "allow_json"],
)
def test_run_at_a_terminal_asks_and_posts_the_answer(cli, sdk, args, answers, shown):
    test = tag()
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answers.encode())
        with watched(
            cli, "run", *args, "--ask", "wait", "-M", f"test={test}", WAIT, stdin=terminal
        ) as process:
            stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        os.close(terminal)
        os.close(controller)

    assert process.returncode == 0, stderr
    assert "allow wait? [y/n]" in stderr
    assert "corral approvals allow" not in stderr
    assert shown in stdout
    [approval] = sdk.approvals.list(metadata={"test": test})
    if args:
        assert 'wait asks for approval (tools.wait): {"seconds": 0.01}' in stderr
        assert approval.status == "allowed"
        assert '"output":"wait returned: waited 0.01 s"' in stdout
    else:
        assert "answer y (allow) or n (deny)" in stderr
        assert (approval.status, approval.message) == ("denied", "not today")


def test_run_takes_permissions_as_json_and_refuses_bad_json(cli):
    denied = cli("run", "--permissions", '{"tools": {"wait": "deny"}}', WAIT)
    by_flag = cli("run", "--deny", "wait", "--permissions", '{"default": "allow"}', WAIT)
    bad = cli("run", "--permissions", "{nope", WAIT, ok=False)

    assert "permission policy (tools.wait) does not allow this call" in denied.stdout
    assert "permission policy (tools.wait) does not allow this call" in by_flag.stdout
    assert bad.returncode == 2 and "--permissions" in bad.stderr


def request(**fields: Any) -> ApprovalRequested:
    values = {
        "seq": 3,
        "run_id": "run_1",
        "created_at": "2026-01-01T00:00:00Z",
        "approval_id": "apr_1",
        "call_id": "call_1",
        "name": "bash",
        "input": {"command": "rm -rf /tmp/x"},
        "policy": "tools.bash",
        "expires_at": None,
    }
    return ApprovalRequested.model_validate({**values, **fields})


@pytest.mark.parametrize(
    ("typed", "decision"),
    [
        ("y\n", Decision.allow()),
        ("allow\n", Decision.allow()),
        ("what\nno\nplease don't\n", Decision.deny("please don't")),
        ("d\n\n", Decision.deny()),
        ("", None),
    ],
)
def test_the_prompt_reads_an_answer_until_it_is_one(monkeypatch, typed, decision):
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    shown = io.StringIO()
    console = Console(file=shown, markup=False, highlight=False, width=200)

    answer = prompt(request(), describe=True, console=console)

    assert answer == decision
    assert shown.getvalue().startswith(
        'bash asks for approval (tools.bash): {"command": "rm -rf /tmp/x"}\nallow bash? [y/n] '
    )


def test_ages_read_in_the_unit_that_matters():
    now = datetime(2026, 1, 2, tzinfo=UTC)

    assert [age(now - timedelta(seconds=s), now) for s in (0, 59, 61, 7200, 200_000)] == [
        "0 s", "59 s", "1 min", "2 h", "2 d"
    ]  # fmt: skip


def test_sessions_and_agents_carry_permissions(cli, sdk):
    name = f"careful-{uuid.uuid4().hex[:8]}"
    sdk.agents.create(
        name=name,
        model="test",
        builtin_tools=["wait"],
        permissions={"default": "ask", "tools": {"wait": "deny"}, "rules": [SPEC_RULE]},
    )

    shown = cli("agents", "show", name)
    session_id = cli(
        "sessions", "create", "--agent", name, "--permissions", '{"tools": {"wait": "allow"}}'
    ).stdout.strip()
    sent = cli("sessions", "send", session_id, WAIT)

    assert re.search(r"^permissions\s+default=ask, wait=deny, 1 rule$", shown.stdout, re.M)
    assert "wait returned: waited 0.01 s" in sent.stdout
