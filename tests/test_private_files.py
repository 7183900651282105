"""The data directory, its keys and the SQLite database are readable by the server's user only."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import private_files
from corral.settings import Settings
from tests.conftest import running_app

PRIVATE = ["admin.key", "secret.key", "corral.db", "corral.db-wal", "corral.db-shm"]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The umask most systems start with: files 0644 and folders 0755 unless told otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A server with every default: its SQLite database and a random admin key in `data_dir`."""
    return Settings(data_dir=tmp_path / "corral-data", shutdown_grace_s=0.0)


async def test_a_first_start_makes_the_data_directory_and_its_files_private(settings):
    async with running_app(settings):
        modes = {name: mode_of(settings.data_dir / name) for name in PRIVATE}
        folder_mode = mode_of(settings.data_dir)

    assert folder_mode == 0o700
    assert modes == dict.fromkeys(PRIVATE, 0o600)


async def test_a_start_tightens_what_an_earlier_start_left_readable_by_others(settings):
    async with running_app(settings):
        pass
    settings.data_dir.chmod(0o755)
    for name in PRIVATE:
        path = settings.data_dir / name
        path.touch()  # the -wal and -shm files a crash left behind
        path.chmod(0o644)

    async with running_app(settings):
        modes = {name: mode_of(settings.data_dir / name) for name in PRIVATE}
        folder_mode = mode_of(settings.data_dir)

    assert folder_mode == 0o700
    assert modes == dict.fromkeys(PRIVATE, 0o600)


async def test_a_database_outside_the_data_directory_is_private_too(settings, tmp_path):
    elsewhere = tmp_path / "db" / "corral.db"
    settings = Settings(data_dir=settings.data_dir, database_url=f"sqlite:///{elsewhere}")

    async with running_app(settings):
        modes = [mode_of(elsewhere.with_name(elsewhere.name + s)) for s in ("", "-wal", "-shm")]

    assert mode_of(elsewhere.parent) == 0o700
    assert modes == [0o600] * 3


async def test_a_new_admin_key_never_reaches_a_file_others_opened_while_it_was_readable(
    settings,
):
    settings.data_dir.mkdir(0o755)
    stale = settings.data_dir / "admin.key"
    stale.write_text("crl_key_of_a_database_since_deleted\n")
    stale.chmod(0o644)

    with stale.open() as opened_by_another_user:
        async with running_app(settings):
            key = stale.read_text().strip()
        seen_through_the_old_handle = opened_by_another_user.read()

    assert key.startswith("crl_") and key not in seen_through_the_old_handle
    assert mode_of(stale) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
async def test_a_file_of_another_user_is_left_as_it_is_with_one_warning_line(settings, caplog):
    async with running_app(settings):
        pass
    secret = settings.data_dir / "secret.key"
    secret.chmod(0o644)
    os.chown(secret, 65534, 65534)

    with caplog.at_level(logging.WARNING, logger="corral.private_files"):
        async with running_app(settings):
            pass

    [record] = [r for r in caplog.records if r.name == "corral.private_files"]
    assert mode_of(secret) == 0o644
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert str(secret) in record.getMessage()
    assert "uid 65534" in record.getMessage() and "chmod 600" in record.getMessage()


def test_a_mode_that_cannot_be_changed_is_one_warning_line(tmp_path, caplog, monkeypatch):
    path = tmp_path / "corral.db"
    path.touch(0o644)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(private_files.os, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="corral.private_files"):
        private_files.tighten(path)

    [record] = caplog.records
    assert record.exc_info is None
    assert "mode 644" in record.getMessage() and "Operation not permitted" in record.getMessage()


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_file_already_private_is_left_alone(tmp_path, mode):
    path = tmp_path / "admin.key"
    path.touch(mode)

    private_files.tighten(path)

    assert mode_of(path) == mode
