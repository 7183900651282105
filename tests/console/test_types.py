"""The console's JavaScript type-checks: JSDoc types read by TypeScript's checker, no build.

`console/` at the top of the repository holds only the checker's pinned package and settings;
the code it checks is what ships, `src/corral/console/static`.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKER = Path(__file__).parents[2] / "console"
TSC = CHECKER / "node_modules" / ".bin" / "tsc"

pytestmark = pytest.mark.timeout(600)


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One installer at a time, across pytest-xdist workers."""
    path = Path(tempfile.gettempdir()) / "corral-console-typecheck-install.lock"
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _installed() -> bool:
    stamp = CHECKER / "node_modules" / ".package-lock.json"
    lock = CHECKER / "package-lock.json"
    return TSC.exists() and stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime


def test_the_console_type_checks_strictly() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"type-checking the console needs Node.js and npm; not found: {missing}")
    with _install_lock():
        if not _installed():
            installed = subprocess.run(
                ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"],
                cwd=CHECKER,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert installed.returncode == 0, f"npm ci failed:\n{installed.stderr}"
    checked = subprocess.run(
        [str(TSC), "-p", "."], cwd=CHECKER, capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode == 0, f"the console's types do not check:\n{checked.stdout}"
