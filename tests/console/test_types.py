"""The console's JavaScript type-checks: JSDoc types read by TypeScript's checker, no build.

`console/` at the top of the repository holds only the checker's pinned package and settings;
the code it checks is what ships, `src/corral/console/static`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.npm import installed

CHECKER = Path(__file__).parents[2] / "console"

pytestmark = pytest.mark.timeout(600)


def test_the_console_type_checks_strictly() -> None:
    tsc = installed(CHECKER, "tsc", why="type-checking the console")
    checked = subprocess.run(
        [str(tsc), "-p", "."], cwd=CHECKER, capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode == 0, f"the console's types do not check:\n{checked.stdout}"
