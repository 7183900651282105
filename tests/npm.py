"""Installing a folder's pinned npm packages (`npm ci`) once, whichever test process asks first."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["installed"]


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """One installer at a time, across pytest-xdist workers."""
    path = Path(tempfile.gettempdir()) / f"corral-npm-{name}.lock"
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _current(folder: Path, binary: Path) -> bool:
    """Whether `node_modules` holds what the lock file pins (npm writes its own copy there)."""
    stamp = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    return binary.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime


def installed(folder: Path, binary: str, *, why: str, timeout_s: float = 600) -> Path:
    """`folder`'s packages, installed if they are missing or stale; the path of `binary`.

    Skips the test, saying `why` Node.js is needed, when `node` or `npm` is not on PATH.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{why} needs Node.js and npm; not found: {', '.join(missing)}")
    path = folder / "node_modules" / ".bin" / binary
    with _lock(folder.name):
        if not _current(folder, path):
            result = subprocess.run(
                ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
            assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return path
