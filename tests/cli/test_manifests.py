"""Agent manifests are checked before any request, and problems name the file and the field."""

from __future__ import annotations

import pytest

from corral.cli import manifests
from corral.cli.errors import CommandError

FULL = """\
name: weather
model: test
instructions: Be brief.
tools:
  - type: client
    name: get_weather
limits:
  max_turns: 4
metadata:
  team: infra
"""


def test_a_manifest_is_the_whole_spec_with_defaults_filled_in(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("name: weather\nmodel: test\n")

    manifest = manifests.load(path)

    assert manifest.name == "weather"
    assert manifest.spec == {
        "description": "",
        "model": "test",
        "instructions": "",
        "tools": [],
        "limits": {},
        "model_settings": {},
        "include_builtin_tools": True,
        "environment": {
            "networking": {"mode": "open", "allowed_hosts": []},
            "variables": {},
            "runtime": "small",
            "setup": [],
        },
        "skills": [],
        "metadata": {},
        "spend_limits": {},
        "permissions": {"tools": {}, "rules": []},
    }


def test_every_field_of_a_manifest_is_kept(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text(FULL)

    spec = manifests.load(path).spec

    assert spec["instructions"] == "Be brief."
    assert spec["tools"][0]["name"] == "get_weather"
    assert spec["limits"] == {"max_turns": 4}
    assert spec["metadata"] == {"team": "infra"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "name: x\nmodel: test\nlimits:\n  max_turns: 0\n",
            "/limits/max_turns: Input should be greater than or equal to 1",
        ),
        ("name: x\nmodl: test\n", "/model: missing: this field is required; /modl: unknown field"),
        ("name: x\nmodel: test\nlimits:\n  turns: 3\n", "/limits/turns: unknown field"),
        (
            "name: x\nmodel: test\ntools:\n  - type: client\n    name: bad name\n",
            "/tools/0/name: String should match pattern",
        ),
        ("name: x\nmodel: test\ntools:\n  - name: t\n", "/tools/0: Unable to extract tag"),
        ("name: x\nmodel: test\nmetadata:\n  tier: 1\n", "/metadata/tier: Input should be a"),
        ("- name: x\n", "expected a mapping of name, description, model"),
        ("", "expected a mapping of name, description, model, instructions, tools"),
        ("name: x\n  model: [test\n", "invalid YAML at line 2, column 8"),
    ],
    ids=[
        "out-of-range",
        "misspelt",
        "unknown-nested",
        "bad-tool-name",
        "tool-without-type",
        "number-as-metadata",
        "not-a-mapping",
        "empty",
        "not-yaml",
    ],
)
def test_a_bad_manifest_names_the_file_and_the_field(tmp_path, content, expected):
    path = tmp_path / "agent.yaml"
    path.write_text(content)

    with pytest.raises(CommandError) as raised:
        manifests.load(path)

    assert raised.value.code == "invalid_manifest"
    assert raised.value.message.startswith(f"{path}: ")
    assert expected in raised.value.message


def test_an_unreadable_manifest_is_refused_clearly(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_bytes(b"\xff\xfe not utf-8")

    with pytest.raises(CommandError, match="cannot read it"):
        manifests.load(path)
