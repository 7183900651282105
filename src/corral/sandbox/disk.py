"""An environment's files on the host: a file system image of its own size, or a folder.

With disk quotas, each workspace is an ext4 image as large as its runtime allows, mounted only
inside its environment's private mount namespace: the agent cannot write more than that, and
no host mount is left behind when a worker dies. Without them, a folder holds the same layout.
Either way the top level belongs to root and holds only the folders of `launch.DISK_DIRS`, so
the agent can never swap one of them for a link. A lock file (`LOCK`, taken by the first process
of an environment and held by all of them) keeps two environments, on any host sharing the
directory, from using one workspace at once: two ext4 mounts of one image would corrupt it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from corral.sandbox.launch import DiskSource

__all__ = ["IMAGE", "LOCK", "DiskUnavailable", "prepare", "remove", "workspaces"]

IMAGE = "disk.img"
FOLDER = "disk"
LOCK = "disk.lock"
_DIR_MODES = {"workspace": 0o755, "home": 0o700, "tmp": 0o1777, ".corral": 0o700}


class DiskUnavailable(RuntimeError):
    """A workspace's file system could not be made."""


async def prepare(root: Path, *, quota_mb: int | None, uid: int, gid: int) -> DiskSource:
    """The workspace's disk under `root`, created on first use.

    Args:
        root: the workspace's host folder (`<workspaces>/<run or session id>`).
        quota_mb: the size of its image; None for a plain folder (no quota).
        uid: the environment's user, who owns a new folder's subfolders.
        gid: its group.
    """
    await asyncio.to_thread(root.mkdir, mode=0o700, parents=True, exist_ok=True)
    image = root / IMAGE
    if quota_mb is not None:
        if not image.exists():
            await _make_image(image, quota_mb, uid, gid)
        return DiskSource(path=image, is_image=True)
    folder = root / FOLDER
    if not folder.is_dir():
        await asyncio.to_thread(_make_folder, folder, uid, gid)
    return DiskSource(path=folder, is_image=False)


def _make_folders(parent: Path, uid: int, gid: int) -> None:
    """The folders of a disk, the environment's own; the top stays root's."""
    for name, mode in _DIR_MODES.items():
        os.mkdir(parent / name)
        os.chmod(parent / name, mode)
        if os.geteuid() == 0:
            os.chown(parent / name, uid, gid)


def _make_folder(folder: Path, uid: int, gid: int) -> None:
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o755)
    _make_folders(partial, uid, gid)
    partial.rename(folder)


async def _make_image(image: Path, quota_mb: int, uid: int, gid: int) -> None:
    mkfs = shutil.which("mkfs.ext4")
    if mkfs is None:
        raise DiskUnavailable("mkfs.ext4 is not installed")
    partial = image.with_name(f".{image.name}.partial")
    with tempfile.TemporaryDirectory(prefix="corral-disk-") as template:
        _make_folders(Path(template), uid, gid)  # mkfs -d copies owners and modes
        with partial.open("wb") as handle:
            handle.truncate(quota_mb << 20)
        process = await asyncio.create_subprocess_exec(
            mkfs, "-q", "-F", "-m", "0", "-d", template, "-L", "corral",
            "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
            str(partial),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await process.communicate()
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DiskUnavailable(f"mkfs.ext4 failed: {stderr.decode(errors='replace').strip()}")
    partial.rename(image)


def workspaces(base: Path) -> list[str]:
    """The workspace keys under `base` (none when it does not exist yet)."""
    if not base.is_dir():
        return []
    return [
        entry.name for entry in base.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    ]


def remove(root: Path) -> bool:
    """Delete a workspace (image or folder, and its state); False when there was none."""
    if not root.is_dir():
        return False
    shutil.rmtree(root, ignore_errors=True)
    return True
