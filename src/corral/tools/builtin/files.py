"""Reading and changing files of the workspace: read, write, edit, ls, head, tail.

Each is one request to the run's environment, where the tool server does the file work with the
agent's own rights (see `corral.sandbox.inside.files`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from corral.tools.base import ToolContext
from corral.tools.builtin._tool import Arguments, BuiltinTool, ask


class ReadArgs(Arguments):
    """Arguments of `read`."""

    path: str
    """File to read, relative to the workspace."""
    offset: Annotated[int, Field(ge=1)] = 1
    """First line to read (1-based)."""
    limit: Annotated[int, Field(ge=1, le=10_000)] = 2_000
    """How many lines to read."""


class Read(BuiltinTool[ReadArgs]):
    """Reads a text file with line numbers."""

    name: ClassVar[str] = "read"
    description: ClassVar[str] = (
        "Read a text file of the workspace, with line numbers. Use offset and limit for long files."
    )
    arguments = ReadArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: ReadArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        return await ask(
            context, "read", {"path": args.path, "offset": args.offset, "limit": args.limit}
        )


class WriteArgs(Arguments):
    """Arguments of `write`."""

    path: str
    """File to write, relative to the workspace (parent directories are created)."""
    content: Annotated[str, Field(max_length=10_000_000)]
    """The whole new content."""


class Write(BuiltinTool[WriteArgs]):
    """Creates or replaces a file."""

    name: ClassVar[str] = "write"
    description: ClassVar[str] = "Create or overwrite a file of the workspace with this content."
    arguments = WriteArgs

    async def call(self, args: WriteArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        content = args.content.encode("utf-8", "surrogatepass")
        return await ask(context, "write", {"path": args.path}, payload=content)


class EditArgs(Arguments):
    """Arguments of `edit`."""

    path: str
    """File to change, relative to the workspace."""
    old_string: Annotated[str, Field(min_length=1)]
    """Exact text to replace (whitespace included)."""
    new_string: str
    """Text to put in its place."""
    replace_all: bool = False
    """Replace every occurrence instead of exactly one."""


class Edit(BuiltinTool[EditArgs]):
    """Replaces an exact string, refusing ambiguous or missing matches."""

    name: ClassVar[str] = "edit"
    description: ClassVar[str] = (
        "Replace an exact string in a file. It must occur exactly once unless replace_all is set."
    )
    arguments = EditArgs

    async def call(self, args: EditArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        fields = {
            "path": args.path,
            "old": args.old_string,
            "new": args.new_string,
            "replace_all": args.replace_all,
        }
        return await ask(context, "edit", fields)


class LsArgs(Arguments):
    """Arguments of `ls`."""

    path: str = "."
    """Directory to list, relative to the workspace."""
    all: bool = False
    """Include entries whose name starts with a dot."""


class Ls(BuiltinTool[LsArgs]):
    """Lists a directory."""

    name: ClassVar[str] = "ls"
    description: ClassVar[str] = "List a directory of the workspace: names, types and sizes."
    arguments = LsArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: LsArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        return await ask(context, "ls", {"path": args.path, "all": args.all})


class SliceArgs(Arguments):
    """Arguments of `head` and `tail`."""

    path: str
    """File, relative to the workspace."""
    lines: Annotated[int, Field(ge=1, le=10_000)] = 20
    """How many lines."""


class Head(BuiltinTool[SliceArgs]):
    """The first lines of a file."""

    name: ClassVar[str] = "head"
    description: ClassVar[str] = "The first lines of a file of the workspace (any size)."
    arguments = SliceArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: SliceArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        return await ask(context, "head", {"path": args.path, "lines": args.lines})


class Tail(BuiltinTool[SliceArgs]):
    """The last lines of a file."""

    name: ClassVar[str] = "tail"
    description: ClassVar[str] = "The last lines of a file of the workspace (any size)."
    arguments = SliceArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: SliceArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        return await ask(context, "tail", {"path": args.path, "lines": args.lines})
