"""Finding files and text in the workspace: glob and grep.

Patterns are the agent's, so matching happens in a forked child of the tool server, in a group
of its own, killed at its deadline: a catastrophic regular expression or a huge tree costs only
that child. Walks never follow symlinks, skip binary, very large and non-regular files (a FIFO is
never opened), and stop at a bounded number of entries and hits.
"""

from __future__ import annotations

import marshal
import os
import stat
import time

from corral.sandbox.inside.errors import Failure
from corral.sandbox.inside.files import Workspace
from corral.sandbox.inside.groups import Groups
from corral.sandbox.inside.reactor import Drain, Reactor
from corral.sandbox.inside.spares import Spares

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_HITS = 500
MAX_FILE_BYTES = 5_000_000
MAX_WALKED = 200_000
"""Most directory entries one search looks at."""
SKIPPED_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv"})


def walk(root: str) -> list[str]:
    """Regular files under `root`, in a stable order, never entering symlinked directories."""
    found: list[str] = []
    seen = 0
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        seen += len(subdirectories) + len(files)
        if seen > MAX_WALKED:
            break
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                found.append(path)
    return found


def glob(workspace: Workspace, pattern: str, path: str) -> str:
    """Files whose path (relative to `path`) matches the glob `pattern`."""
    import fnmatch

    root = workspace.resolve(path)
    if not os.path.isdir(root):
        raise Failure(f"no such directory: {path}")
    pattern = pattern.removeprefix("./")
    hits = []
    for found in walk(root):
        relative = os.path.relpath(found, root)
        if fnmatch.fnmatch(relative, pattern) or (
            pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:])
        ):
            hits.append(workspace.relative(found))
    if not hits:
        return f"no file matches {pattern}"
    more = f"\n[... {len(hits) - MAX_HITS} more]" if len(hits) > MAX_HITS else ""
    return "\n".join(hits[:MAX_HITS]) + more


def grep(
    workspace: Workspace, pattern: str, path: str, name_glob: str | None, ignore_case: bool
) -> str:
    """Lines of text files matching the regular expression, as `file:line: text`."""
    import fnmatch
    import re

    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as error:
        raise Failure(f"invalid regular expression: {error}") from None
    root = workspace.resolve(path)
    if not os.path.exists(root):
        raise Failure(f"no such file or directory: {path}")
    files = [root] if not os.path.isdir(root) else walk(root)
    hits: list[str] = []
    total = 0
    for found in files:
        if name_glob and not fnmatch.fnmatch(os.path.basename(found), name_glob):
            continue
        for number, line in _matching_lines(found, regex):
            total += 1
            if len(hits) < MAX_HITS:
                hits.append(f"{workspace.relative(found)}:{number}: {line[:500]}")
    if not hits:
        return f"no match for {pattern!r}"
    more = f"\n[... {total - len(hits)} more matches]" if total > len(hits) else ""
    return "\n".join(hits) + more


def _matching_lines(path: str, regex: Any) -> list[tuple[int, str]]:
    """The numbered matching lines of a regular text file; none for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return []
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if b"\0" in data[:8192]:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return [(number, line) for number, line in enumerate(lines, 1) if regex.search(line)]


def in_spare(
    reactor: Reactor,
    spares: Spares,
    groups: Groups,
    function: str,
    args: tuple[Any, ...],
    *,
    timeout_s: float,
) -> str:
    """Run `function(*args)` of this module in a spare within `timeout_s`.

    Returns its text; its failure is raised here.
    """
    spare = spares.take()
    spare.call(__name__, function, args)
    child = spare.child
    parts: list[bytes] = []
    drain = Drain(reactor, spare.output, parts.append)
    deadline = time.monotonic() + timeout_s
    finished = reactor.run_until(lambda: child.exited and drain.closed, deadline)
    groups.kill(spare.group, child.pid)
    child.kill()
    reactor.run_until(lambda: child.exited)
    drain.close()
    groups.remove(spare.group, reactor)
    if not finished:
        raise Failure(f"the search took longer than {timeout_s:g} s and was stopped")
    return _result(b"".join(parts))


def glob_in(root: str, pattern: str, path: str) -> dict[str, str]:
    """`glob` for a spare: its text or its failure, as plain data."""
    return _outcome(lambda: glob(Workspace(root), pattern, path))


def grep_in(
    root: str, pattern: str, path: str, name_glob: str | None, ignore_case: bool
) -> dict[str, str]:
    """`grep` for a spare: its text or its failure, as plain data."""
    return _outcome(lambda: grep(Workspace(root), pattern, path, name_glob, ignore_case))


def _outcome(work: Callable[[], str]) -> dict[str, str]:
    try:
        return {"output": work()}
    except Failure as failure:
        return {"error": str(failure)}
    except OSError as error:
        return {"error": error.strerror or str(error)}


def _result(data: bytes) -> str:
    try:
        answer = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        raise Failure("the search ended without an answer (out of memory?)") from None
    if "error" in answer:
        raise Failure(answer["error"])
    return str(answer["output"])
