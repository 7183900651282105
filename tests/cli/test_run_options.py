"""`corral run` in a new user's first hour: its id at once, keys, files, skills, metadata.

The live tests run the real `corral` executable against the package's shared server.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer

from corral.cli import run_inputs
from tests.cli.conftest import COMMAND_TIMEOUT_S, CORRAL, Cli

RUN_LINE = re.compile(r"^run (run_\w+) queued$")


def tag() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@contextmanager
def started(
    cli: Cli, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """`corral ARGS` in the background; interrupted (and then killed) if still running."""
    process = subprocess.Popen(
        [CORRAL, *args],
        env={**cli.env, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=COMMAND_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def test_the_run_id_is_on_stderr_before_the_run_ends_and_stdout_stays_the_answer(cli, sdk):
    with started(cli, "run", "--json", "[[delay 2s]] slow answer") as process:
        assert process.stderr is not None
        first = process.stderr.readline().strip()
        still_running = process.poll() is None
        stdout, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)

    announced = RUN_LINE.match(first)
    assert announced and still_running, first
    events = [json.loads(line) for line in stdout.splitlines()]
    assert {e["run_id"] for e in events} == {announced.group(1)}
    assert events[-1]["output"] == "slow answer"
    plain = cli("run", "plain answer")
    assert plain.stdout.startswith("plain answer\n")
    assert RUN_LINE.match(plain.stderr.splitlines()[0])
    assert "run_" not in plain.stdout.splitlines()[0]


def test_a_command_that_fails_is_shown_failed_and_one_that_succeeds_is_not(cli):
    failing, passing = cli.all(
        ["run", '[[call bash {"command": "echo oops; exit 3"}]]'],
        ["run", '[[call bash {"command": "echo fine"}]]'],
    )

    assert "bash ✗" in failing.stdout and "bash ✓" not in failing.stdout, failing
    assert "[exit code 3]" in failing.stdout
    assert "bash ✓" in passing.stdout and "bash ✗" not in passing.stdout, passing


def test_a_provider_key_from_the_environment_reaches_the_run_and_is_never_shown(cli):
    secret = f"sk-ant-{uuid.uuid4().hex}"
    keyless = cli("run", "--model", "claude-haiku-4-5", "hi", ok=False)
    with started(
        cli,
        "run",
        "--json",
        "--model",
        "claude-haiku-4-5",
        "--provider-key",
        "anthropic",
        "hi",
        env={"ANTHROPIC_API_KEY": secret},
    ) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_S)

    assert keyless.stderr.startswith("error: missing_provider_key:"), keyless
    assert RUN_LINE.match(first.strip()), first + stderr
    assert secret not in first + stdout + stderr


def test_provider_key_sources(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("MY_OPENAI", "sk-mine")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)

    keys = run_inputs.provider_keys(
        ["anthropic", "openai=env:MY_OPENAI", "vllm=secret:VLLM_KEY", "ollama=sk-literal"]
    )

    assert keys == {
        "anthropic": "sk-env",
        "openai": "sk-mine",
        "vllm": "${secret:VLLM_KEY}",
        "ollama": "sk-literal",
    }
    assert run_inputs.key_variable("open-router.ai") == "OPEN_ROUTER_AI_API_KEY"
    with pytest.raises(typer.BadParameter, match="DEEPSEEK_API_KEY is not set"):
        run_inputs.provider_keys(["deepseek"])
    with pytest.raises(typer.BadParameter) as bad:
        run_inputs.provider_keys(["Not A Provider=sk-secret-value"])
    assert "sk-secret-value" not in str(bad.value)


def skill_zip(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("SKILL.md", f"---\nname: {name}\ndescription: Takes notes.\n---\nWrite.\n")
    return buffer.getvalue()


def test_files_and_skills_are_uploaded_and_given_to_the_run(cli, sdk, tmp_path: Path):
    data = tmp_path / f"data-{tag()}.txt"
    data.write_text("the answer is 42\n")
    skill = tmp_path / "notes.zip"
    skill.write_bytes(skill_zip("notes"))
    read_both = (
        f'[[call read {{"path": "{data.name}"}}]] '
        '[[call read {"path": ".skills/notes/SKILL.md"}]]'
    )

    result = cli("run", "--file", str(data), "--skill", str(skill), read_both)

    assert "the answer is 42" in result.stdout
    assert "Takes notes." in result.stdout
    assert f"uploaded {data}" in result.stderr
    uploaded = sdk.files.create(skill_zip("kept"), name=f"kept-{tag()}.zip")
    by_name, by_id = cli.all(
        ["run", "--skill", uploaded.name, '[[call read {"path": ".skills/kept/SKILL.md"}]]'],
        [
            "run",
            "--file",
            sdk.files.create(b"hello", name="hello.txt").id,
            '[[call read {"path": "hello.txt"}]]',
        ],
    )
    assert "Takes notes." in by_name.stdout
    assert "hello" in by_id.stdout
    nowhere = cli("run", "--skill", f"no-such-skill-{tag()}", "hi", ok=False)
    assert nowhere.returncode == 2 and "--skill" in nowhere.stderr


def test_metadata_takes_the_apis_key_value_syntax_and_the_equals_sign_too(cli, sdk):
    test = tag()

    ran = cli("run", "--json", "-M", f"test:{test}", "-M", "url=http://x:1", "hi")
    listed, filtered_out = cli.all(
        ["runs", "list", "--json", "-M", f"test:{test}", "-M", "url:http://x:1"],
        ["runs", "list", "--json", "-M", f"test={test}", "-M", "url:other"],
    )
    bad = cli("runs", "list", "-M", "novalue", ok=False)

    run_id = ran.json_lines()[-1]["run_id"]
    assert sdk.runs.retrieve(run_id).metadata == {"test": test, "url": "http://x:1"}
    assert [r["id"] for r in listed.json()] == [run_id]
    assert filtered_out.json() == []
    assert bad.returncode == 2 and "expected key:value" in bad.stderr


WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _waiting_call(sdk) -> tuple[str, str]:
    """A new run waiting for its client tool's result: its id and the call's."""
    run = sdk.runs.create(input="weather?", model="test", tools=[WEATHER])
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while time.monotonic() < deadline:
        found = sdk.runs.retrieve(run.id)
        if found.pending_tool_calls:
            return run.id, found.pending_tool_calls[0].call_id
        time.sleep(0.05)
    raise AssertionError("the run never called its client tool")


def test_tool_result_answers_a_client_tool_call(cli, sdk, tmp_path: Path):
    first_run, first_call = _waiting_call(sdk)
    second_run, second_call = _waiting_call(sdk)
    third_run, third_call = _waiting_call(sdk)
    answer = tmp_path / "answer.json"
    answer.write_text('{"temp": 4}')

    unknown = cli("runs", "tool-result", third_run, "call_unknown", "--output", "x", ok=False)
    answered, failed, from_file = cli.all(
        ["runs", "tool-result", first_run, first_call, "--output", '{"temp": 3}'],
        ["runs", "tool-result", second_run, second_call, "--error", "no network", "--json"],
        ["runs", "tool-result", third_run, third_call, "--file", str(answer)],
    )
    both = cli(
        "runs", "tool-result", first_run, "call_x", "--output", "a", "--error", "b", ok=False
    )

    assert answered.stdout.strip() == f"answered {first_call} of {first_run}"
    assert failed.json() == {"run_id": second_run, "call_id": second_call, "accepted": True}
    assert from_file.stdout.strip() == f"answered {third_call} of {third_run}"
    ended = [sdk.runs.wait(r, timeout_s=20) for r in (first_run, second_run, third_run)]
    assert [r.status for r in ended] == ["completed"] * 3
    assert '"temp": 3' in (ended[0].output or "") and '"temp": 4' in (ended[2].output or "")
    assert both.returncode == 2 and "exactly one of" in both.stderr
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown_tool_call:")
    assert "`corral runs show RUN_ID`" in unknown.stderr
