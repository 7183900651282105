"""Opening and writing paths inside a workspace the agent controls, without leaving it.

The workspace is treated as hostile: a path is checked, then opened one directory at a time
relative to a descriptor with symlinks refused, so no link the agent planted (even one pointing
inside) is ever followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from corral.types.files import check_workspace_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(ValueError):
    """A path that would leave the workspace (absolute, `..`, or through a symlink)."""


def path_parts(relative: str) -> list[str]:
    """The components of a workspace-relative path, once checked.

    Raises:
        UnsafePath: the path is absolute, holds `..` or is otherwise not a workspace path.
    """
    try:
        return check_workspace_path(relative).split("/")
    except ValueError as error:
        raise UnsafePath(f"{relative!r}: {error}") from None


def open_root(root: Path) -> int:
    """A descriptor of the workspace's root, the anchor for every other open."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def descend(dir_fd: int, parts: Sequence[str], *, create: bool) -> int:
    """A new descriptor of the directory `parts` below `dir_fd`; symlinks are refused."""
    current = os.dup(dir_fd)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=current)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=current)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(f"{part!r} is a symlink or not a directory") from None
                raise
            os.close(current)
            current = child
    except BaseException:
        os.close(current)
        raise
    return current


def open_file(dir_fd: int, parts: Sequence[str], flags: int, *, create_dirs: bool) -> int:
    """Open the file `parts` below `dir_fd`, refusing a symlink anywhere on the way."""
    parent = descend(dir_fd, parts[:-1], create=create_dirs)
    try:
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePath(f"{parts[-1]!r} is a symlink") from None
        raise
    finally:
        os.close(parent)


def write_file(dir_fd: int, parts: Sequence[str], content: bytes, mode: int = 0o644) -> None:
    """Write `content` to the file `parts` below `dir_fd`, creating folders on the way."""
    fd = open_file(dir_fd, parts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, create_dirs=True)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        os.fchmod(handle.fileno(), mode)
