"""Files crossing the boundary: inputs and skills placed, the workspace listed, outputs read.

The worker never opens the workspace itself; it sends and receives contents through these
requests, which run with the agent's own rights and refuse paths that leave the workspace.
"""

from __future__ import annotations

import os
import stat

from corral.sandbox.inside.errors import Failure
from corral.sandbox.inside.files import Workspace, open_regular, read_bounded, replace

SKILLS_DIR = ".skills"


def put_files(workspace: Workspace, entries: list[dict[str, object]], payload: bytes) -> int:
    """Write each `{path, size}` entry's bytes (taken in order from `payload`)."""
    offset = 0
    for entry in entries:
        path, size = str(entry["path"]), int(str(entry["size"]))
        target = workspace.resolve(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        replace(target, path, payload[offset : offset + size])
        offset += size
    return len(entries)


def install_tree(
    workspace: Workspace, name: str, entries: list[dict[str, object]], payload: bytes
) -> str:
    """Install a skill as `.skills/<name>`, replacing an earlier one only once complete."""
    skills = workspace.resolve(SKILLS_DIR)
    if os.path.islink(skills) or (os.path.lexists(skills) and not os.path.isdir(skills)):
        raise Failure(f"{SKILLS_DIR} is a symlink or not a folder")
    os.makedirs(skills, exist_ok=True)
    staging = f"{skills}/.{name}.{os.getpid()}.partial"
    _remove_tree(staging)
    os.mkdir(staging, 0o755)
    offset = 0
    for entry in entries:
        target = f"{staging}/{entry['path']}"
        if entry.get("dir"):
            os.makedirs(target, exist_ok=True)
            continue
        size = int(str(entry["size"]))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        replace(target, str(entry["path"]), payload[offset : offset + size])
        os.chmod(target, 0o755 if entry.get("executable") else 0o644)
        offset += size
    final = f"{skills}/{name}"
    old = f"{skills}/.{name}.{os.getpid()}.old"
    if os.path.lexists(final):
        os.rename(final, old)
    os.rename(staging, final)
    _remove_tree(old)
    return f"{SKILLS_DIR}/{name}"


def snapshot(workspace: Workspace, max_entries: int) -> dict[str, list[int]]:
    """Every regular file: path → [size, mtime_ns]; no symlinks, `.git` or skills."""
    found: dict[str, list[int]] = {}
    seen = 0
    pending = [("", workspace.root)]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        return found
                    relative = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".git" and relative != SKILLS_DIR:
                            pending.append((relative + "/", entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        found[relative] = [info.st_size, info.st_mtime_ns]
        except OSError:
            continue  # vanished or unreadable: nothing to collect there
    return found


def read_files(
    workspace: Workspace, paths: list[str], max_files: int, max_total_bytes: int
) -> tuple[list[dict[str, object]], list[list[str]], bytes]:
    """The contents of these files, in order, within the bounds: (kept, dropped, payload)."""
    kept: list[dict[str, object]] = []
    dropped: list[list[str]] = []
    parts: list[bytes] = []
    total = 0
    for path in paths:
        if len(kept) >= max_files:
            dropped.append([path, f"over the limit of {max_files} files"])
            continue
        try:
            content = _read_plain(workspace, path, max_total_bytes - total)
        except Failure as failure:
            dropped.append([path, str(failure)])
            continue
        except OSError as error:
            dropped.append([path, error.strerror or str(error)])
            continue
        kept.append({"path": path, "size": len(content)})
        parts.append(content)
        total += len(content)
    return kept, dropped, b"".join(parts)


def _read_plain(workspace: Workspace, path: str, limit: int) -> bytes:
    """A regular file that is not behind a symlink, within `limit` bytes."""
    target = os.path.join(workspace.root, path)
    if os.path.realpath(target) != os.path.normpath(target):
        raise Failure("behind a symlink")
    fd = open_regular(target, path)
    try:
        content = read_bounded(fd, limit + 1)
    finally:
        os.close(fd)
    if len(content) > limit:
        raise Failure("over the size limit of the outputs")
    return content


def text_file(workspace: Workspace, path: str, max_bytes: int) -> str | None:
    """The start of a regular text file at `path`, or None when there is none."""
    target = os.path.join(workspace.root, path)
    try:
        if not stat.S_ISREG(os.lstat(target).st_mode):
            return None
        fd = open_regular(target, path)
    except (OSError, Failure):
        return None
    try:
        return read_bounded(fd, max_bytes).decode("utf-8", "replace")
    finally:
        os.close(fd)


def _remove_tree(path: str) -> None:
    """Delete `path` and everything below it, never following a symlink."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    for directory, subdirectories, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(directory, name))
        for name in subdirectories:
            child = os.path.join(directory, name)
            if os.path.islink(child):
                os.unlink(child)
            else:
                os.rmdir(child)
    os.rmdir(path)
