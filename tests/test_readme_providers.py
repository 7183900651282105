"""The examples of README.md's "Model providers" section, run as written.

Each provider's block has `export` lines for the server and a `corral run` line for the user. The
server here gets those variables, with the provider's base URL pointed at a replay of that
provider's recorded traffic (`tests/providers/cassettes.py`); the `corral run` line runs in bash
as written, and must print the recorded answer.
"""

from __future__ import annotations

import json
import re

import pytest

from corral.settings import Settings
from tests.conftest import ADMIN_KEY, LiveServer
from tests.docs.examples import bash, reader_environment
from tests.docs.markdown import ROOT, blocks
from tests.providers.cassettes import replay

BLOCKS = [
    b.code for b in blocks(ROOT / "README.md") if b.section == "Model providers" and b.lang == "sh"
]
EXPORT = re.compile(r"^export (\w+)=(\S+)", re.MULTILINE)

# provider → (cassette, base URL variable and its value, what the recorded answer says)
REPLAYS = {
    "ANTHROPIC_API_KEY": ("anthropic/messages-stream-text", "ANTHROPIC_BASE_URL", "{url}", "Hello"),
    "OPENAI_API_KEY": (
        "openai/chat-stream-text-usage",
        "OPENAI_BASE_URL",
        "{url}/v1",
        '"This is a test."',
    ),
    "DEEPSEEK_API_KEY": (
        "deepseek/chat-reasoner-stream",
        "DEEPSEEK_BASE_URL",
        "{url}",
        "Hello there! 😊 How can I help you today?",
    ),
    "OLLAMA_BASE_URL": (
        "ollama/openai-compat-stream-text",
        "OLLAMA_BASE_URL",
        "{url}/v1",
        "Hello! How are you today?",
    ),
}


def block_for(variable: str) -> str:
    [block] = [b for b in BLOCKS if f"export {variable}=" in b]
    return block


@pytest.fixture
def backend() -> str:
    """The examples exercise the providers, not the storage: SQLite is enough."""
    return "sqlite"


def user_environment(server: LiveServer) -> dict[str, str]:
    return reader_environment(server.base_url, ADMIN_KEY)


def test_every_example_block_is_run_here():
    covered = [block for block in BLOCKS if any(f"export {v}=" in block for v in REPLAYS)]
    assert len(covered) == len(REPLAYS)
    assert len(BLOCKS) == len(REPLAYS) + 1  # and the bring-your-own-key request, below


@pytest.mark.parametrize("variable", list(REPLAYS))
async def test_the_provider_example_runs_the_model_and_prints_its_answer(
    variable, settings: Settings, monkeypatch
):
    cassette_name, url_variable, url_value, answer = REPLAYS[variable]
    block = block_for(variable)
    async with replay(cassette_name) as cassette:
        for name, value in EXPORT.findall(block):
            monkeypatch.setenv(name, value)  # as the reader exports them for the server
        monkeypatch.setenv(url_variable, url_value.format(url=cassette.base_url))
        async with LiveServer(settings) as server:
            commands = "\n".join(line for line in block.splitlines() if line.startswith("corral"))
            returncode, stdout, stderr = await bash(commands, user_environment(server))

    assert returncode == 0, stderr
    assert answer in stdout
    [sent] = cassette.sent
    model = re.search(r"--model (\S+)", block)
    assert model is not None
    assert sent.json()["model"] == model.group(1).split("/", 1)[-1]
    key = dict(EXPORT.findall(block)).get(variable)
    if variable.endswith("_API_KEY"):
        assert sent.headers["Authorization"] == f"Bearer {key}"


async def test_the_bring_your_own_key_request_runs_with_its_key(settings: Settings, monkeypatch):
    [block] = [b for b in BLOCKS if '"api_keys"' in b]
    async with replay("anthropic/messages-stream-text") as cassette:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", cassette.base_url)
        async with LiveServer(settings) as server:
            script = block.replace("localhost:7070", server.base_url.removeprefix("http://"))
            returncode, stdout, stderr = await bash(script, user_environment(server))
            run = json.loads(stdout)
            async with server.client() as client:
                ended = await client.get(f"/v1/runs/{run['id']}/wait", params={"timeout_s": 10})

    assert returncode == 0, stderr
    assert run["status"] == "queued"
    assert "api_keys" not in run
    assert ended.json()["status"] == "completed"
    assert ended.json()["output"] == "Hello"
    assert cassette.sent[0].headers["Authorization"] == "Bearer sk-ant-..."
