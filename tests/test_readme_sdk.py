"""Every Python example of README.md's "Python SDK" section, run as written against a live server.

Each block runs in its own interpreter with `CORRAL_BASE_URL` / `CORRAL_API_KEY` set, as a reader
would run it, on a fresh server. A `print(...)  # → text` line promises that `text` is a line of
the block's output. The setup block's `export` lines run in bash; its `pip install` line is
covered by `tests/client/test_standalone.py` (the base install is all the SDK needs).
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator

import pytest

from corral.settings import Settings
from tests.conftest import ADMIN_KEY, LiveServer
from tests.docs.examples import clean_environment, run
from tests.docs.markdown import PROMISE, ROOT, blocks, missing_promises

SECTION = [b for b in blocks(ROOT / "README.md") if b.section == "Python SDK"]
BLOCKS = [b.code for b in SECTION if b.lang == "python"]
[SETUP] = [b.code for b in SECTION if b.lang == "sh"]


def block_id(index: int, block: str) -> str:
    """The block's number and first call on a client, to name its test."""
    call = re.search(r"client\.([a-z_.]+)\(", block)
    return f"{index + 1}-{call.group(1) if call else 'example'}"


@pytest.fixture
def backend() -> str:
    """The examples exercise the SDK, not the storage: SQLite is enough."""
    return "sqlite"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with LiveServer(settings) as started:
        yield started


def test_the_section_has_examples_and_each_promises_some_output():
    assert len(BLOCKS) >= 6
    assert all(PROMISE.search(block) for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=[block_id(i, b) for i, b in enumerate(BLOCKS)])
async def test_the_example_runs_and_prints_what_it_promises(block, server, tmp_path):
    env = clean_environment()
    env.update(CORRAL_BASE_URL=server.base_url, CORRAL_API_KEY=ADMIN_KEY)

    returncode, stdout, stderr = await run([sys.executable, "-c", block], env, tmp_path)

    assert returncode == 0, stderr
    assert missing_promises(block, stdout) == [], stdout


async def test_the_setup_lines_configure_corral_from_the_quickstart_key_file(server, tmp_path):
    (tmp_path / "corral-data").mkdir()
    (tmp_path / "corral-data" / "admin.key").write_text(ADMIN_KEY + "\n")
    exports = [line for line in SETUP.splitlines() if not line.startswith("pip install")]
    script = "\n".join(exports).replace("http://127.0.0.1:7070", server.base_url)
    check = "from corral import Corral; print(Corral().whoami().key.name)"

    returncode, stdout, stderr = await run(
        ["bash", "-euo", "pipefail", "-c", f"{script}\n{sys.executable} -c '{check}'"],
        clean_environment(),
        tmp_path,
    )

    assert returncode == 0, stderr
    assert stdout.splitlines() == ["admin"]
