"""`corral secrets …` as real processes: values come from stdin or a file, and never go out."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import uuid
from pathlib import Path
from typing import IO

import pytest

from corral.cli import secrets
from corral.cli.errors import CommandError, describe
from corral.client import NotFoundError
from tests.cli.conftest import COMMAND_TIMEOUT_S, CORRAL, Cli, Result

VALUE = "s3cr3t-value-that-must-not-leak"


def unique() -> str:
    return f"S_{uuid.uuid4().hex[:8].upper()}"


def fed(cli: Cli, *args: str, stdin: str | int, ok: bool = True) -> Result:
    """`corral ARGS` with `stdin` as its standard input: text, or a file descriptor."""
    completed = subprocess.run(
        [CORRAL, *args],
        env=cli.env,
        input=stdin if isinstance(stdin, str) else None,
        stdin=stdin if isinstance(stdin, int) else None,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    result = Result(args, completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in result.stderr, str(result)
    if ok:
        assert result.returncode == 0, str(result)
    return result


def test_set_creates_from_stdin_then_adds_a_version_from_a_file(cli, tmp_path):
    name = unique()
    value_file = tmp_path / "value.txt"
    value_file.write_text(VALUE + "-2\n")

    created = fed(cli, "secrets", "set", name, "--description", "CI token", stdin=VALUE + "\n")
    updated = fed(cli, "secrets", "set", name, "--value-file", str(value_file), "--json", stdin="")
    listed, listed_json, shown, shown_json = cli.all(
        ["secrets", "list"],
        ["secrets", "list", "--json"],
        ["secrets", "show", name],
        ["secrets", "show", name, "--json"],
    )

    assert created.stdout.strip() == f"secret {name} created (version 1)"
    document = updated.json()
    assert (document["result"], document["secret"]["version"]) == ("updated", 2)
    assert document["secret"]["description"] == "CI token"
    assert re.search(rf"^{name}\s+2\s+\S+ \S+\s+\S+ \S+\s+CI token$", listed.stdout, re.M)
    [entry] = [s for s in listed_json.json() if s["name"] == name]
    assert entry["version"] == 2 and entry.get("versions") is None
    assert re.search(r"^version\s+2$", shown.stdout, re.M)
    assert re.search(r"^description\s+CI token$", shown.stdout, re.M)
    assert re.findall(r"^([12])\s+\S+ \S+\s+key_\w+$", shown.stdout, re.M) == ["2", "1"]
    assert [v["version"] for v in shown_json.json()["versions"]] == [2, 1]
    everything = [created, updated, listed, listed_json, shown, shown_json]
    assert not any(VALUE in r.stdout + r.stderr for r in everything)


def test_a_terminal_on_stdin_is_refused_before_anything_is_sent(cli):
    name = unique()
    controller, terminal = pty.openpty()
    try:
        refused = fed(cli, "secrets", "set", name, stdin=terminal, ok=False)
    finally:
        os.close(terminal)
        os.close(controller)
    empty = fed(cli, "secrets", "set", name, stdin="\n", ok=False)
    missing = cli("secrets", "show", name, ok=False)

    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith("error: no_secret_value: the value is read from stdin")
    assert "--value-file" in refused.stderr
    assert empty.returncode == 1 and empty.stderr.startswith("error: no_secret_value: stdin ")
    assert missing.stderr.startswith(f"error: not_found: no secret '{name}'")
    assert "`corral secrets list`" in missing.stderr


def test_a_value_is_never_an_argument_and_a_missing_file_is_a_usage_error(cli, tmp_path):
    no_option = cli("secrets", "set", unique(), VALUE, ok=False)
    no_file = cli("secrets", "set", unique(), "--value-file", str(tmp_path / "nope"), ok=False)

    assert no_option.returncode == no_file.returncode == 2


def test_delete_asks_unless_yes_and_then_the_secret_is_gone(cli):
    name = unique()
    fed(cli, "secrets", "set", name, stdin=VALUE)

    unconfirmed = fed(cli, "secrets", "delete", name, stdin="y\n", ok=False)
    deleted = cli("secrets", "delete", name, "--yes")
    again = cli("secrets", "delete", name, "--yes", "--json", ok=False)
    listed = cli("secrets", "list", "--json")

    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.startswith("error: confirmation_required:")
    assert "pass --yes" in unconfirmed.stderr
    assert deleted.stdout.strip() == f"deleted secret {name}"
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.startswith(f"error: not_found: no secret '{name}'")
    assert name not in [s["name"] for s in listed.json()]


def test_delete_with_json_says_what_it_deleted(cli):
    name = unique()
    fed(cli, "secrets", "set", name, stdin=VALUE)

    result = cli("secrets", "delete", name, "-y", "--json")

    assert result.json() == {"name": name, "deleted": True}


def stdin_of(data: bytes) -> IO[str]:
    return io.TextIOWrapper(io.BytesIO(data))


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"v\n", "v"), (b"v\r\n", "v"), (b"v\n\n", "v\n"), (b"line 1\nline 2", "line 1\nline 2")],
)
def test_one_line_ending_is_dropped_from_the_value(monkeypatch, data, value, tmp_path):
    monkeypatch.setattr("sys.stdin", stdin_of(data))
    (tmp_path / "value").write_bytes(data)

    assert secrets._read_value(None) == secrets._read_value(tmp_path / "value") == value


def test_a_value_that_is_not_text_is_refused_without_showing_it(tmp_path):
    path = tmp_path / "value.bin"
    path.write_bytes(b"\xff\xfe" + VALUE.encode())

    with pytest.raises(CommandError) as refused:
        secrets._read_value(Path(path))

    assert (refused.value.code, refused.value.message) == (
        "no_secret_value",
        f"{path} is not UTF-8 text",
    )


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ("no secret 'TOKEN'", "`corral secrets list`"),
        ("no key 'key_01'", "`corral keys list`"),
        ("no live key 'key_01'", "`corral keys list`"),
        ("no workspace 'team'", "`corral workspaces list`, on the server"),
        ("no run 'run_01'", "`corral runs list`"),
        ("no agent 'weather'", "`corral agents list`"),
        ("run run_01 has no output 'a.txt'", "`corral outputs RUN_ID`"),
        ("no route /v1/nothing", "CORRAL_BASE_URL or --base-url"),
    ],
)
def test_a_not_found_hint_points_at_the_list_of_what_is_missing(message, where):
    error = NotFoundError(message, status=404, code="not_found", body={})

    assert describe(error).plain.endswith(f"({where})")
