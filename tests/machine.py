"""What this machine lacks for some tests, and a line for each at the end saying how to get it.

On a fresh machine without PostgreSQL, Redis, bubblewrap, Node.js or Chromium, the tests that
need a missing part skip instead of failing with connection errors, and the summary says what
to install or start (`.ci/run` installs and starts all of them).
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from corral.sandbox.capabilities import probe

__all__ = ["Part", "missing_parts"]


@dataclass(frozen=True)
class Part:
    """Something some tests need, which this machine does not have."""

    name: str
    marker: str | None
    """Tests with this marker skip when the part is missing; the others skip on their own."""
    why: str
    enable: str


def _reachable(url: str, default_port: int) -> str | None:
    """None when a TCP connection to the URL's host and port opens; otherwise why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as error:
        return f"nothing answers at {host}:{port} ({error.strerror or error})"


@functools.cache
def missing_parts() -> tuple[Part, ...]:
    """The parts this machine lacks, probed once per process."""
    from tests.conftest import PG_URL, REDIS_URL

    found: list[Part] = []
    if (why := _reachable(PG_URL, 5432)) is not None:
        found.append(
            Part(
                "PostgreSQL",
                "postgres",
                why,
                "start PostgreSQL with trust auth for 127.0.0.1 and a database `test` (.ci/run "
                "does), or point CORRAL_TEST_PG_URL at one",
            )
        )
    if (why := _reachable(REDIS_URL, 6379)) is not None:
        found.append(
            Part(
                "Redis",
                "redis",
                why,
                "start redis-server on 127.0.0.1:6379 (.ci/run does), or set CORRAL_TEST_REDIS_URL",
            )
        )
    sandbox = probe()
    if not sandbox.enforced:
        found.append(
            Part("The sandbox", None, sandbox.detail, sandbox.fix or "apt-get install bubblewrap")
        )
    if missing := [tool for tool in ("node", "npm") if shutil.which(tool) is None]:
        found.append(
            Part("Node.js", None, f"no {' or '.join(missing)} on PATH", "apt-get install npm")
        )
    if not (os.environ.get("CORRAL_TEST_CHROMIUM") or shutil.which("chromium")):
        found.append(
            Part(
                "Chromium",
                None,
                "no chromium on PATH",
                "apt-get install chromium, or set CORRAL_TEST_CHROMIUM to its path",
            )
        )
    return tuple(found)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need a missing server skip, instead of failing to connect."""
    for part in missing_parts():
        if part.marker is None:
            continue
        skip = pytest.mark.skip(reason=f"{part.name}: {part.why}")
        for item in items:
            if item.get_closest_marker(part.marker) is not None or _on(item, part.marker):
                item.add_marker(skip)


def _on(item: pytest.Item, backend: str) -> bool:
    """Whether the test runs on this database (a `backend` parameter of its own)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("backend") == backend


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per missing part, saying how to run the tests that skipped for it."""
    parts = missing_parts()
    if not parts:
        return
    skipped = len(terminalreporter.stats.get("skipped", []))
    terminalreporter.section("missing on this machine", sep="-", yellow=True)
    terminalreporter.write_line(f"{skipped} tests skipped; to run them:")
    for part in parts:
        terminalreporter.write_line(f"  {part.name}: {part.why}. Fix: {part.enable}.")
