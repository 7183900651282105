"""Finding files and text in the workspace: glob and grep.

The patterns are the agent's, so they are matched only inside the run's environment, in a child
process killed at `SEARCH_TIMEOUT_S` (see `corral.sandbox.inside.search`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from corral.tools.base import ToolContext
from corral.tools.builtin._tool import Arguments, BuiltinTool, ask

SEARCH_TIMEOUT_S = 60.0
"""How long one glob or grep may take before it is stopped."""


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
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: GlobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        fields = {"pattern": args.pattern, "path": args.path, "timeout_s": SEARCH_TIMEOUT_S}
        return await ask(context, "glob", fields, timeout_s=SEARCH_TIMEOUT_S)


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
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: GrepArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        fields = {
            "pattern": args.pattern,
            "path": args.path,
            "glob": args.glob,
            "ignore_case": args.ignore_case,
            "timeout_s": SEARCH_TIMEOUT_S,
        }
        return await ask(context, "grep", fields, timeout_s=SEARCH_TIMEOUT_S)
