"""`corral agents …` as real processes: manifests applied idempotently, and the agent views."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

MANIFEST = """\
name: {name}
description: Answers questions about the weather.
model: test
instructions: |
  You are a weather assistant.
tools:
  - type: client
    name: get_weather
    description: Current weather in a city.
    parameters:
      type: object
      properties:
        city: {{type: string}}
limits:
  max_turns: 4
metadata:
  team: infra
"""


def test_apply_creates_then_leaves_unchanged_then_updates(cli, sdk, tmp_path):
    name = f"weather-{uuid.uuid4().hex[:8]}"
    manifest = tmp_path / "agent.yaml"
    manifest.write_text(MANIFEST.format(name=name))

    created = cli("agents", "apply", "-f", str(manifest))
    unchanged = cli("agents", "apply", "--file", str(manifest), "--json")
    manifest.write_text(MANIFEST.format(name=name).replace("max_turns: 4", "max_turns: 5"))
    updated = cli("agents", "apply", "-f", str(manifest))

    assert created.stdout.strip() == f"agent {name} created (version 1)"
    assert unchanged.json()["result"] == "unchanged"
    assert unchanged.json()["agent"]["version"] == 1
    assert updated.stdout.strip() == f"agent {name} updated to version 2"
    agent = sdk.agents.retrieve(name)
    assert agent.limits.max_turns == 5
    assert agent.metadata == {"team": "infra"}
    assert [t.name for t in agent.tools] == ["get_weather"]


def test_the_example_manifest_of_the_docs_applies(cli, sdk, tmp_path):
    [example] = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    name = f"documented-{uuid.uuid4().hex[:8]}"
    manifest = tmp_path / "agent.yaml"
    manifest.write_text(example.replace("name: weather", f"name: {name}"))

    result = cli("agents", "apply", "-f", str(manifest))

    assert result.stdout.strip() == f"agent {name} created (version 1)"
    agent = sdk.agents.retrieve(name)
    assert (agent.limits.max_turns, agent.metadata["tier"]) == (4, "1")


def test_agent_views_and_delete(cli, sdk, tmp_path):
    name = f"viewed-{uuid.uuid4().hex[:8]}"
    sdk.agents.create(name=name, model="test", instructions="Be brief.", description="first")
    sdk.agents.update(name, description="second")

    listed, listed_json, show, shown, versions, versions_json, old = cli.all(
        ["agents", "list"],
        ["agents", "list", "--json"],
        ["agents", "show", name],
        ["agents", "show", name, "--json"],
        ["agents", "versions", name],
        ["agents", "versions", name, "--json"],
        ["run", "--agent", name, "--agent-version", "1", "--json", "hello agent"],
    )
    deleted = cli("agents", "delete", name)
    gone = cli("agents", "show", name, ok=False)

    assert re.search(rf"^{name}\s+agt_\w+\s+2\s+test\s", listed.stdout, re.MULTILINE)
    assert name in [a["name"] for a in listed_json.json()]
    assert re.search(r"^instructions\s+Be brief\.", show.stdout, re.MULTILINE)
    assert re.search(r"^version\s+2$", show.stdout, re.MULTILINE)
    assert shown.json()["description"] == "second"
    assert [line.split()[0] for line in versions.stdout.splitlines()] == ["VERSION", "2", "1"]
    assert [v["description"] for v in versions_json.json()] == ["second", "first"]
    run = sdk.runs.retrieve(old.json_lines()[-1]["run_id"])
    assert (run.agent_version, run.output) == (1, "hello agent")
    assert deleted.stdout.strip() == f"deleted agent {name}"
    assert gone.returncode == 1
    assert gone.stderr.startswith("error: not_found:")


def test_a_bad_manifest_is_refused_in_one_line_naming_the_file_and_field(cli, tmp_path):
    manifest = tmp_path / "agent.yaml"
    manifest.write_text("name: x\nmodel: test\nlimits:\n  max_turns: 0\n")

    result = cli("agents", "apply", "-f", str(manifest), ok=False)

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: invalid_manifest: {manifest}: /limits/max_turns: ")
    assert "docs/cli.md" in result.stderr
    assert len(result.stderr.splitlines()) == 1
