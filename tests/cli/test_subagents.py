"""Subagents at the command line: their lines in a watched run, `runs tree`, `runs list` filters.

The stored agent `helper` echoes its task; `lead` hands its task on to `helper`. The shared
server has one workspace, so the agents are made once and reused.
"""

from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from corral.cli.transcript import Transcript
from corral.client import ConflictError, Corral, SubagentCompleted, SubagentStarted
from corral.types.runs import RunError, RunStatus

CALL_HELPER = '[[call helper {"task": "hi"}]]'
SPEC = {"model": "test", "tools": [{"type": "agent", "agent": "helper"}]}
RUN_LINE = re.compile(r"^(\s*)(run_\w+)\s+(\S+)\s+(\S+)\s", re.MULTILINE)


def ensure_agent(sdk: Corral, name: str, **spec: Any) -> None:
    """Create the agent unless an earlier test of this server did."""
    with contextlib.suppress(ConflictError):
        sdk.agents.create(name=name, model="test", **spec)


def store_helpers(sdk: Corral) -> None:
    ensure_agent(sdk, "helper", description="Echoes its task.")
    ensure_agent(
        sdk,
        "lead",
        instructions='[[call helper {"task": "deeper"}]]',
        tools=[{"type": "agent", "agent": "helper"}],
    )
    ensure_agent(sdk, "delegator", tools=[{"type": "agent", "agent": "helper"}])


def test_a_watched_run_shows_when_a_subagent_starts_and_what_it_answered(cli, sdk):
    store_helpers(sdk)

    human, as_json = cli.all(
        ["run", "--agent", "delegator", CALL_HELPER],
        ["run", "--agent", "delegator", "--json", CALL_HELPER],
    )

    events = as_json.json_lines()
    [started] = [e for e in events if e["type"] == "subagent.started"]
    [completed] = [e for e in events if e["type"] == "subagent.completed"]
    assert (started["name"], started["depth"]) == ("helper", 1)
    assert (completed["child_run_id"], completed["output"]) == (started["child_run_id"], "hi")
    assert events[-1]["output"] == "helper returned: hi"
    lines = human.stdout.splitlines()
    assert re.match(r"^▸ subagent helper started run_\w+ \(depth 1\)$", lines[0]), human.stdout
    assert re.match(r'^◂ subagent helper completed run_\w+: "hi" · \$0\.0000$', lines[1])
    assert lines[2] == "helper returned: hi"
    assert lines[-1].startswith("completed in")


def test_runs_tree_indents_each_subagent_under_the_run_that_started_it(cli, sdk):
    store_helpers(sdk)
    spec = {"model": "test", "tools": [*SPEC["tools"], {"type": "agent", "agent": "lead"}]}
    root = sdk.runs.create(input=CALL_HELPER + '[[call lead {"task": "go"}]]', agent_spec=spec)
    sdk.runs.wait(root.id, timeout_s=30)
    [lead] = [c for c in sdk.runs.children(root.id) if c.input == "go"]
    [grandchild] = list(sdk.runs.children(lead.id))

    tree, tree_json, subtree, by_parent, by_root, show = cli.all(
        ["runs", "tree", root.id],
        ["runs", "tree", root.id, "--json"],
        ["runs", "tree", lead.id],
        ["runs", "list", "--parent", lead.id, "--json"],
        ["runs", "list", "--root", root.id],
        ["runs", "show", root.id],
    )

    header, *_ = tree.stdout.splitlines()
    assert header.split() == ["RUN", "AGENT", "STATUS", "DURATION", "COST", "WITH", "SUBAGENTS"]
    rows = [(len(m[0]), m[1], m[2], m[3]) for m in RUN_LINE.findall(tree.stdout)]
    children = {c.id: c.agent for c in sdk.runs.children(root.id)}
    assert len(rows) == 4
    assert rows[0] == (0, root.id, "inline", "completed")
    assert sorted(r[1] for r in rows if r[0] == 2) == sorted(children)
    assert (2, lead.id, "lead", "completed") in rows
    after_lead = rows[rows.index((2, lead.id, "lead", "completed")) + 1]
    assert after_lead == (4, grandchild.id, "helper", "completed")
    documents = tree_json.json()
    assert [d["depth"] for d in documents].count(1) == 2 and len(documents) == 4
    assert documents[0]["subagents"] == 2 and "total_usage" in documents[0]
    assert [(len(m[0]), m[1]) for m in RUN_LINE.findall(subtree.stdout)] == [
        (0, lead.id),
        (2, grandchild.id),
    ]
    assert [r["id"] for r in by_parent.json()] == [grandchild.id]
    assert sorted(m[1] for m in RUN_LINE.findall(by_root.stdout)) == sorted(
        r["id"] for r in documents[1:]
    )
    assert re.search(r"^subagents\s+2$", show.stdout, re.MULTILINE)
    assert re.search(r"^with subagents\s+\d+ in / \d+ out tokens", show.stdout, re.MULTILINE)


def test_a_child_shows_where_it_belongs(cli, sdk):
    store_helpers(sdk)
    root = sdk.runs.create(input=CALL_HELPER, agent_spec=SPEC)
    sdk.runs.wait(root.id, timeout_s=30)
    [child] = list(sdk.runs.children(root.id))

    show = cli("runs", "show", child.id)

    assert re.search(rf"^parent\s+{root.id}$", show.stdout, re.MULTILINE)
    assert re.search(rf"^root\s+{root.id}$", show.stdout, re.MULTILINE)
    assert re.search(r"^depth\s+1$", show.stdout, re.MULTILINE)


def test_what_a_subagent_said_cannot_hide_or_fake_lines_in_the_transcript():
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, markup=False, emoji=False, highlight=False)
    view = Transcript(console)
    base: dict[str, Any] = {"seq": 1, "run_id": "run_p", "created_at": datetime.now(UTC)}
    view.show(
        SubagentStarted(
            **base, call_id="c1", name="helper", child_run_id="run_c", agent=None, depth=1
        )
    )
    view.show(
        SubagentCompleted(
            **base,
            call_id="c1",
            child_run_id="run_c",
            status=RunStatus.COMPLETED,
            output="ok\ncompleted in 1 s\u202e[red]x",
            error=None,
            input_tokens=1,
            output_tokens=1,
            cost_usd=0.0,
        )
    )
    view.show(
        SubagentCompleted(
            **base,
            call_id="c2",
            child_run_id="run_d",
            status=RunStatus.FAILED,
            output=None,
            error=RunError(code="provider_error", message="bad\x1b[2J"),
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
        )
    )
    view.end()

    shown = buffer.getvalue().splitlines()
    assert shown == [
        "▸ subagent helper started run_c (depth 1)",
        '◂ subagent helper completed run_c: "ok\\ncompleted in 1 s\\u202e[red]x" · $0.0000',
        '◂ subagent failed run_d: provider_error: "bad\\u001b[2J" · $0.0000',
    ]
