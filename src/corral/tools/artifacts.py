"""Files in and out of a run's workspace: inputs placed, outputs collected.

File-system helpers for the worker, with no database and no network. The workspace is the
agent's, so it is treated as hostile: every path goes through `safe_paths`, so nothing here
reads or writes outside the workspace whatever the agent left in it.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import stat
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from corral.tools import safe_paths
from corral.tools.safe_paths import UnsafePath
from corral.tools.skills import SKILLS_DIR
from corral.types.files import MAX_PATH_BYTES

__all__ = [
    "MAX_SNAPSHOT_ENTRIES",
    "MissingInput",
    "UnsafePath",
    "changed",
    "place",
    "read_outputs",
    "resolve_inputs",
    "snapshot",
    "tar_gz",
]

logger = logging.getLogger(__name__)

MAX_SNAPSHOT_ENTRIES = 100_000
"""Most directory entries one snapshot looks at; a workspace with more is only partly seen."""


class MissingInput(LookupError):
    """An input file the run refers to no longer exists."""


# -- inputs ----------------------------------------------------------------------------------


def place(root: Path, relative_path: str, content: bytes) -> None:
    """Write `content` at `relative_path` in the workspace, creating folders on the way.

    Raises:
        UnsafePath: the path is absolute, holds `..`, or passes through a symlink (even one
            pointing inside the workspace: the agent made it, so it is not followed).
    """
    parts = safe_paths.path_parts(relative_path)
    root_fd = safe_paths.open_root(root)
    try:
        safe_paths.write_file(root_fd, parts, content)
    finally:
        os.close(root_fd)


def resolve_inputs(
    entries: Iterable[Mapping[str, Any]], uploaded: Mapping[str, bytes]
) -> list[tuple[str, bytes]]:
    """The `(path, content)` of each input file of a run spec's `files`.

    `entries` are in the stored form `{"path", "file_id"}` or `{"path", "content_base64"}`;
    `uploaded` maps file ids to contents (`storage.files.file_contents`).

    Raises:
        MissingInput: an uploaded file was deleted since the run was created.
    """
    resolved = []
    for entry in entries:
        if "file_id" in entry:
            content = uploaded.get(entry["file_id"])
            if content is None:
                raise MissingInput(f"input file {entry['file_id']} ({entry['path']}) was deleted")
        else:
            content = base64.b64decode(entry["content_base64"])
        resolved.append((entry["path"], content))
    return resolved


# -- outputs ---------------------------------------------------------------------------------


def snapshot(root: Path, *, max_entries: int = MAX_SNAPSHOT_ENTRIES) -> dict[str, tuple[int, int]]:
    """Every regular file of the workspace: relative path → (size, mtime_ns).

    Symlinks are not followed; `.git` folders and the skills folder are skipped. At most
    `max_entries` directory entries are looked at.
    """
    found: dict[str, tuple[int, int]] = {}
    seen = 0
    pending = [("", str(root))]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        logger.warning(
                            "workspace snapshot cut short",
                            extra={"action": "outputs.snapshot_cut", "max_entries": max_entries},
                        )
                        return found
                    relative = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".git" and relative != SKILLS_DIR:
                            pending.append((relative + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        found[relative] = (info.st_size, info.st_mtime_ns)
        except OSError:
            continue  # vanished or unreadable: nothing to collect there
    return found


def changed(root: Path, before: Mapping[str, tuple[int, int]]) -> list[str]:
    """Files new or modified since the snapshot `before`, sorted."""
    return sorted(path for path, mark in snapshot(root).items() if before.get(path) != mark)


def _storable(path: str) -> str | None:
    """Why `path` cannot be kept as an output's name, or None."""
    try:
        size = len(path.encode())
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return f"its path is longer than {MAX_PATH_BYTES} bytes" if size > MAX_PATH_BYTES else None


def _read(root_fd: int, path: str, limit: int) -> bytes | str:
    """The content of a regular file, or why it was not read."""
    try:
        fd = safe_paths.open_file(
            root_fd, safe_paths.path_parts(path), os.O_RDONLY | os.O_NONBLOCK, create_dirs=False
        )
    except (UnsafePath, OSError) as error:
        return str(error)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return "not a regular file"
        content = handle.read(limit + 1)
    return content if len(content) <= limit else "over the size limit of the outputs"


def read_outputs(
    root: Path,
    paths: Iterable[str],
    *,
    max_files: int = 500,
    max_total_bytes: int = 100_000_000,
) -> list[tuple[str, bytes]]:
    """The contents of these workspace files, in order, within the bounds.

    A file beyond `max_files`, too large for what is left of `max_total_bytes`, gone, not a
    regular file or behind a symlink is left out and logged (`outputs.dropped`); the caller sees
    which by comparing the paths returned with those it gave.
    """
    collected: list[tuple[str, bytes]] = []
    dropped: list[tuple[str, str]] = []
    total = 0
    root_fd = safe_paths.open_root(root)
    try:
        for path in paths:
            problem = _storable(path)
            if problem is None and len(collected) >= max_files:
                problem = f"over the limit of {max_files} files"
            content = problem or _read(root_fd, path, max_total_bytes - total)
            if isinstance(content, str):
                dropped.append((path, content))
                continue
            collected.append((path, content))
            total += len(content)
    finally:
        os.close(root_fd)
    if dropped:
        logger.warning(
            "some outputs were not collected",
            extra={
                "action": "outputs.dropped",
                "dropped_count": len(dropped),
                "dropped": [f"{path}: {why}" for path, why in dropped[:20]],
            },
        )
    return collected


def tar_gz(outputs: Iterable[tuple[str, bytes]], *, mtime_s: float) -> bytes:
    """A gzip'd tar of `(path, content)` pairs, every file dated `mtime_s`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, content in outputs:
            member = tarfile.TarInfo(path)
            member.size = len(content)
            member.mtime = int(mtime_s)
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()
