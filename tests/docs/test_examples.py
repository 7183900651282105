"""Every example of `docs/*.md` runs, in order, against a live server on a fresh database.

Each page runs as one reader would follow it: in a fresh directory holding the quickstart's
`corral-data/admin.key`, with `CORRAL_BASE_URL` and `CORRAL_API_KEY` exported (the README's
Python SDK setup), its `sh` blocks in bash and its `python` blocks in one interpreter, each block
seeing what the blocks above it made. The documented address `127.0.0.1:7070` is the test
server's. What a page takes for granted besides (files of the reader's, agents made on another
page, a variable the reader has) is made by its entries in `SETUPS` and `ENVIRONMENT`. `corral`
commands run through `tests/docs/commands.py`, which spares each the import of the command line.
The conventions (`<!-- not run: … -->`,
`<!-- needs: sandbox -->`, `# →` promises) are in `tests/docs/markdown.py`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from pathlib import Path

import pytest

from corral.sandbox.capabilities import Capabilities, probe
from corral.settings import Settings
from tests.conftest import ADMIN_KEY, LiveServer
from tests.docs.commands import CommandServer
from tests.docs.examples import Page, reader_environment
from tests.docs.markdown import (
    DOCS,
    NEEDS,
    Block,
    blocks,
    doc_pages,
    markers,
    missing_promises,
    sample_after,
    section_text,
)

Setup = Callable[[LiveServer, Path], Awaitable[None]]


async def _agents(server: LiveServer, *bodies: dict[str, object]) -> None:
    async with server.client() as client:
        for body in bodies:
            answer = await client.post("/v1/agents", json=body)
            if answer.status_code == 409:
                changes = {k: v for k, v in body.items() if k != "name"}
                answer = await client.patch(f"/v1/agents/{body['name']}", json=changes)
            assert answer.status_code in (200, 201), answer.text


def _skill_archive(name: str, description: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"{name}/SKILL.md", f"---\nname: {name}\ndescription: {description}\n---\nUse Python.\n"
        )
    return buffer.getvalue()


async def _api_setup(server: LiveServer, cwd: Path) -> None:
    """The reader's data file and skill archive, which the files examples upload."""
    (cwd / "weather.csv").write_text("day,celsius\nmon,3\ntue,5\n")
    (cwd / "csv-tools.zip").write_bytes(_skill_archive("csv-tools", "Read and sum CSV files."))


async def _cli_setup(server: LiveServer, cwd: Path) -> None:
    """The reader's files, their agents (`weather` at version 2), a vault secret, `$TOKEN`."""
    (cwd / "weather.csv").write_text("day,celsius\nmon,3\ntue,5\n")
    (cwd / "report.bin").write_bytes(bytes(range(256)))
    (cwd / "data.json").write_text('{"rows": 3}\n')
    (cwd / "token.txt").write_text("ghp_from_a_file\n")
    (cwd / "triage.j2").write_text("Triage #{{ payload.issue.number }}: {{ payload.issue.title }}")
    text = (DOCS / "cli.md").read_text()
    [manifest] = [b.code for b in blocks(DOCS / "cli.md") if b.lang == "yaml"]
    assert manifest in section_text(text, "Agent manifests")
    (cwd / "agent.yaml").write_text(manifest)
    await _agents(
        server,
        {"name": "weather", "model": "test"},
        {"name": "weather", "model": "test", "description": "Answers about the weather."},
        {"name": "digest", "model": "test"},
        {"name": "triage", "model": "test"},
    )
    async with server.client() as client:
        answer = await client.post(
            "/v1/secrets", json={"name": "GITHUB_WEBHOOK_SECRET", "value": "a-shared-secret"}
        )
        assert answer.status_code == 201, answer.text


SETUPS: dict[str, Setup] = {"api.md": _api_setup, "cli.md": _cli_setup}
ENVIRONMENT = {"cli.md": {"TOKEN": "ghp_from_a_variable"}}
"""Variables a page's reader has exported besides the server's URL and key."""

PAGES = [page for page in doc_pages() if any(b.is_example for b in blocks(page))]


@cache
def sandbox() -> Capabilities:
    """What this machine's sandbox enforces (probed once, and only when a block needs it)."""
    return probe()


@pytest.fixture
def backend() -> str:
    """The examples exercise the API, SDK and CLI, not the storage: SQLite is enough."""
    return "sqlite"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with LiveServer(settings) as started:
        yield started


def test_every_marker_sits_on_a_fence_and_says_why():
    wrong = [
        f"{page.name}:{marker.line}"
        for page in [*doc_pages(), DOCS.parent / "README.md"]
        for marker in markers(page)
        if not marker.precedes_fence
        or not marker.value
        or (marker.kind == "needs" and marker.value not in NEEDS)
    ]
    assert wrong == []


def test_every_marked_block_is_an_example():
    marked = [
        block.where
        for page in doc_pages()
        for block in blocks(page)
        if (block.not_run or block.needs) and not block.is_example
    ]
    assert marked == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
async def test_the_page_s_examples_run_in_order(
    page: Path, server: LiveServer, tmp_path: Path
) -> None:
    cwd = tmp_path / "reader"
    (cwd / "corral-data").mkdir(parents=True)
    (cwd / "corral-data" / "admin.key").write_text(ADMIN_KEY + "\n")
    if page.name in SETUPS:
        await SETUPS[page.name](server, cwd)
    address = server.base_url.removeprefix("http://")
    env = {**reader_environment(server.base_url, ADMIN_KEY), **ENVIRONMENT.get(page.name, {})}
    replacements = {"127.0.0.1:7070": address, "localhost:7070": address}
    page_blocks = blocks(page)
    examples = [block for block in page_blocks if block.is_example]
    ran = 0
    async with CommandServer(tmp_path / "commands") as commands:
        reader = Page(cwd, commands.environment(env), replacements)
        try:
            for block in examples:
                if _why_not(block) is None:
                    await _run(reader, block, sample_after(block, page_blocks))
                    ran += 1
        finally:
            await reader.close()
    if ran == 0:
        pytest.skip("; ".join(f"{b.where}: {_why_not(b)}" for b in examples))


def _why_not(block: Block) -> str | None:
    if block.not_run:
        return block.not_run
    if block.needs == "sandbox" and not sandbox().enforced:
        return f"the sandbox cannot be enforced here: {sandbox().detail}"
    return None


async def _run(reader: Page, block: Block, sample: Block | None) -> None:
    try:
        if block.lang == "sh":
            output = await reader.shell(block.code, timeout=120)
            if sample is not None:
                header = sample.code.splitlines()[0].split()
                printed = [line.split() for line in output.splitlines()]
                assert header in printed, f"no line of the output is {header}:\n{output}"
        else:
            output = await reader.python(block.code, block.where, timeout=120)
            missing = missing_promises(block.code, output)
            assert missing == [], f"promised {missing}, printed:\n{output}"
    except AssertionError as failure:
        raise AssertionError(f"the example at {block.where} failed:\n{failure}") from None
