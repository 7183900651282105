"""`corral files`, `corral outputs` and `corral download` against real servers.

Workers do not collect outputs yet, so the outputs tests write them into the database of a
server of their own, as a worker would.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corral.storage import files as file_store
from corral.storage.database import Database
from tests.cli.conftest import CORRAL, Cli, _wait_ready, clean_environ
from tests.conftest import ADMIN_KEY, free_port

BLOB = bytes(range(256)) * 4
OUTPUTS = [("report.md", b"# Done\n"), ("out/data.bin", BLOB)]
WEATHER = {
    "type": "client",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {}},
}


def test_files_upload_list_and_delete(cli, sdk, tmp_path):
    path = tmp_path / "weather.csv"
    path.write_bytes(b"city,temp\nOslo,4\n")

    uploaded = cli("files", "upload", str(path))
    file_id = uploaded.stdout.strip()
    renamed = cli("files", "upload", str(path), "--name", "renamed.csv", "--json").json()
    content = sdk.files.content(file_id)
    listed, table = cli.all(["files", "list", "--json"], ["files", "list"])
    deleted = cli("files", "delete", file_id)
    missing = cli("files", "upload", str(tmp_path / "nope.csv"), ok=False)

    assert file_id.startswith("file_")
    assert "weather.csv" in uploaded.stderr and "text/csv" in uploaded.stderr
    assert content == path.read_bytes()
    assert renamed["name"] == "renamed.csv"
    ids = [f["id"] for f in listed.json()]
    assert ids.index(renamed["id"]) < ids.index(file_id)
    assert "weather.csv" in table.stdout and "17 B" in table.stdout
    assert deleted.stdout.strip() == f"deleted {file_id}"
    assert file_id not in [f.id for f in sdk.files.list(limit=100)]
    assert missing.returncode == 2


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, Path]]:
    """`corral serve` whose database this module writes outputs into; (cli, database file)."""
    workdir = tmp_path_factory.mktemp("cli-outputs")
    port = free_port()
    env = {
        **clean_environ(),
        "CORRAL_DATA_DIR": str(workdir / "data"),
        "CORRAL_PORT": str(port),
        "CORRAL_BOOTSTRAP_KEY": ADMIN_KEY,
        "CORRAL_POLL_INTERVAL_S": "0.2",
        "CORRAL_LOG_LEVEL": "warning",
    }
    base_url = f"http://127.0.0.1:{port}"
    with (workdir / "server.log").open("w") as log:
        process = subprocess.Popen(
            [CORRAL, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
        try:
            _wait_ready(base_url, process, workdir / "server.log")
            cli = Cli(
                base_url=base_url,
                env={**clean_environ(), "CORRAL_BASE_URL": base_url, "CORRAL_API_KEY": ADMIN_KEY},
            )
            yield cli, workdir / "data" / "corral.db"
        finally:
            process.terminate()
            process.wait(10)


def save_outputs(database_file: Path, run_id: str) -> None:
    async def write() -> None:
        database = Database(f"sqlite:///{database_file}")
        await database.connect()
        try:
            now = datetime.now(UTC)
            await database.write(file_store.save_outputs, run_id, OUTPUTS, now)
        finally:
            await database.close()

    asyncio.run(write())


def test_outputs_and_download_of_one_file_or_all(own_server, tmp_path):
    cli, database_file = own_server
    with cli.sdk() as sdk:
        run = sdk.runs.run(input="done", model="test")
    save_outputs(database_file, run.id)

    table, listed = cli.all(["outputs", run.id], ["outputs", run.id, "--json"])
    one = cli("download", run.id, "out/data.bin", "-o", str(tmp_path / "one.bin"))
    into_folder = cli("download", run.id, "report.md", "-o", str(tmp_path))
    every = cli("download", run.id, "-o", str(tmp_path / "all"), "--json")
    missing = cli("download", run.id, "nope.txt", ok=False)

    assert [line.split()[0] for line in table.stdout.splitlines()] == [
        "PATH",
        "out/data.bin",
        "report.md",
    ]
    assert [(o["path"], o["size"]) for o in listed.json()] == [
        ("out/data.bin", 1024),
        ("report.md", 7),
    ]
    assert (tmp_path / "one.bin").read_bytes() == BLOB
    assert str(tmp_path / "one.bin") in one.stdout
    assert (tmp_path / "report.md").read_bytes() == b"# Done\n"
    assert into_folder.returncode == 0
    assert (tmp_path / "all/out/data.bin").read_bytes() == BLOB
    assert (tmp_path / "all/report.md").read_bytes() == b"# Done\n"
    assert sorted(saved["path"] for saved in every.json()) == ["out/data.bin", "report.md"]
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: not_found:")


def test_an_active_run_has_no_outputs_to_list_or_download_yet(own_server, tmp_path):
    cli, _ = own_server
    with cli.sdk() as sdk:
        run = sdk.runs.create(input="hi", agent_spec={"model": "test", "tools": [WEATHER]})
        try:
            listed = cli("outputs", run.id)
            refused = cli("download", run.id, "-o", str(tmp_path / "all"), ok=False)
        finally:
            sdk.runs.cancel(run.id)

    assert listed.stdout == ""
    assert "outputs are collected when it ends" in listed.stderr
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: run_active:")
    assert not (tmp_path / "all").exists()
