"""Files only the server's user may read: the data directory, its keys and the SQLite database.

They hold the admin key, the secret that seals provider keys, and every conversation, so they are
created with their final mode rather than tightened after their content is written, and modes an
earlier start left looser are tightened at start. Modes are given per file instead of through a
process-wide umask, which would also change what the sandbox creates in run workspaces.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_SHARED_BITS = 0o077
"""Permission bits of the group and of other users."""


def make_dir(path: Path) -> None:
    """Create the directory (missing parents too) private to this user, or tighten it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tighten(path)


def create_file(path: Path) -> bool:
    """Create `path` empty and private unless it exists; whether it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_file(path: Path, text: str) -> None:
    """Replace `path` with a private file holding `text`, in one rename.

    The content goes to a new file created with mode 0600, so it is never readable by others,
    even when `path` existed with a looser mode.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def tighten(path: Path) -> None:
    """Take the group's and other users' access to `path` away, if there is any.

    Only the owner may change a mode: for a file of another user, or when the change fails, one
    warning line says so and the file is left as it is.
    """
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(status.st_mode)
    if not mode & _SHARED_BITS:
        return
    private_mode = DIR_MODE if stat.S_ISDIR(status.st_mode) else FILE_MODE
    if status.st_uid != os.geteuid():
        reason = f"it belongs to uid {status.st_uid}, and this process runs as uid {os.geteuid()}"
    else:
        try:
            os.chmod(path, private_mode)
        except OSError as error:
            reason = error.strerror or type(error).__name__
        else:
            return
    logger.warning(
        "%s is readable by other users (mode %03o) and cannot be made private: %s; "
        "its owner should run `chmod %03o %s`",
        path,
        mode,
        reason,
        private_mode,
        path,
        extra={"action": "private_files.not_private", "path": str(path), "mode": f"{mode:03o}"},
    )
