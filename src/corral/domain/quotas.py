"""Workspace quotas: how many runs execute at once, and how many bytes of files are kept.

Each quota is the operator's override for the workspace (`WorkspaceLimits`, kept in
`workspaces.limits`), else the server's setting; 0 means unlimited in both. Runs over a
concurrency cap wait `queued` (the claim enforces the caps, see `storage.queue`); an upload
over the stored-bytes limit is refused, and outputs over it are left out of the run's outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_CONCURRENT_RUNS = "max_concurrent_runs"
"""Runs of one workspace held by workers at once (running or waiting)."""
MAX_CONCURRENT_RUNS_PER_AGENT = "max_concurrent_runs_per_agent"
"""Runs of one stored agent (any version) held at once; inline agents have no such cap."""
MAX_STORED_BYTES = "max_stored_bytes"
"""Bytes of a workspace's uploaded files and run outputs together."""


def effective(overrides: Mapping[str, float], name: str, default: int) -> int | None:
    """The workspace's quota `name`: its override, else the server's; None when unlimited."""
    value = int(overrides.get(name, default))
    return value if value > 0 else None


def fits(stored: int, adding: int, limit: int | None) -> bool:
    """Whether `adding` more bytes may be kept beside the `stored` ones."""
    return limit is None or stored + adding <= limit


def keep_within(
    files: Sequence[tuple[str, bytes]], stored: int, limit: int | None
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The `(path, content)` files that fit beside `stored` bytes, and the paths of the rest.

    Files are taken in order; one that does not fit is skipped, not those after it, since a
    smaller one may still fit.
    """
    kept: list[tuple[str, bytes]] = []
    left_out: list[str] = []
    for path, content in files:
        if fits(stored, len(content), limit):
            kept.append((path, content))
            stored += len(content)
        else:
            left_out.append(path)
    return kept, left_out
