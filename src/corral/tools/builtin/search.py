"""Finding files and text in the workspace: glob and grep.

The walks run in a thread (a large tree must not stall the event loop), never follow symlinks
out of the workspace, skip binary and very large files, and stop at a bounded number of hits.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from corral.tools.base import ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool, workdir_of

MAX_HITS = 500
MAX_FILE_BYTES = 5_000_000
SKIPPED_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv"})


def _walk(root: Path) -> list[Path]:
    """Regular files under `root`, in a stable order, not entering symlinked directories."""
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(directory) / name
            if not path.is_symlink():
                found.append(path)
    return found


def _matching_lines(path: Path, regex: re.Pattern[str]) -> list[tuple[int, str]]:
    """The numbered lines of a text file that match; none for binary or very large files."""
    if path.stat().st_size > MAX_FILE_BYTES:
        return []
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return [(number, line) for number, line in enumerate(lines, 1) if regex.search(line)]


class GlobArgs(Arguments):
    """Arguments of `glob`."""

    pattern: Annotated[str, Field(min_length=1, max_length=1_000)]
    """Glob such as `**/*.py` or `src/*.md`, relative to `path`."""
    path: str = "."
    """Directory to search, relative to the workspace."""


class Glob(BuiltinTool[GlobArgs]):
    """Finds files by pattern."""

    name: ClassVar[str] = "glob"
    description: ClassVar[str] = "Find files of the workspace whose path matches a glob pattern."
    arguments = GlobArgs

    async def call(self, args: GlobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        root = workdir.resolve(args.path)
        if not root.is_dir():
            raise ToolFailure(f"no such directory: {args.path}")

        def search() -> list[str]:
            pattern = args.pattern.removeprefix("./")
            hits = []
            for path in _walk(root):
                relative = str(path.relative_to(root))
                if fnmatch.fnmatch(relative, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:])
                ):
                    hits.append(workdir.relative(path))
            return hits

        hits = await asyncio.to_thread(search)
        if not hits:
            return f"no file matches {args.pattern}"
        more = f"\n[... {len(hits) - MAX_HITS} more]" if len(hits) > MAX_HITS else ""
        return "\n".join(hits[:MAX_HITS]) + more


class GrepArgs(Arguments):
    """Arguments of `grep`."""

    pattern: Annotated[str, Field(min_length=1, max_length=1_000)]
    """Regular expression (Python syntax) to look for."""
    path: str = "."
    """File or directory to search, relative to the workspace."""
    glob: str | None = None
    """Only files whose name matches this glob, e.g. `*.py`."""
    ignore_case: bool = False
    """Match regardless of case."""


class Grep(BuiltinTool[GrepArgs]):
    """Searches text files for a regular expression."""

    name: ClassVar[str] = "grep"
    description: ClassVar[str] = (
        "Search the workspace's text files for a regular expression; prints file:line: text."
    )
    arguments = GrepArgs

    async def call(self, args: GrepArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        try:
            regex = re.compile(args.pattern, re.IGNORECASE if args.ignore_case else 0)
        except re.error as error:
            raise ToolFailure(f"invalid regular expression: {error}") from None
        root = workdir.resolve(args.path)
        if not root.exists():
            raise ToolFailure(f"no such file or directory: {args.path}")

        def search() -> tuple[list[str], int]:
            files = [root] if root.is_file() else _walk(root)
            hits: list[str] = []
            total = 0
            for path in files:
                if args.glob and not fnmatch.fnmatch(path.name, args.glob):
                    continue
                for number, line in _matching_lines(path, regex):
                    total += 1
                    if len(hits) < MAX_HITS:
                        hits.append(f"{workdir.relative(path)}:{number}: {line[:500]}")
            return hits, total

        hits, total = await asyncio.to_thread(search)
        if not hits:
            return f"no match for {args.pattern!r}"
        more = f"\n[... {total - len(hits)} more matches]" if total > len(hits) else ""
        return "\n".join(hits) + more
