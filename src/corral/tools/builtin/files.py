"""Reading and changing files of the workspace: read, write, edit, ls, head, tail.

They run in the server process, confined to the workspace by path resolution (symlinks
included), which is faster than a sandboxed command for what is only file I/O.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field

from corral.tools.base import ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool, workdir_of

MAX_READ_BYTES = 10_000_000
MAX_LINE_CHARS = 2_000
LS_LIMIT = 1_000


def _regular_file(path: Path, shown: str) -> Path:
    if not path.exists():
        raise ToolFailure(f"no such file: {shown}")
    if path.is_dir():
        raise ToolFailure(f"{shown} is a directory (use ls)")
    if path.stat().st_size > MAX_READ_BYTES:
        raise ToolFailure(
            f"{shown} is larger than {MAX_READ_BYTES:,} bytes; read it with head or tail"
        )
    return path


def _text(path: Path, shown: str) -> str:
    data = _regular_file(path, shown).read_bytes()
    if b"\0" in data[:8192]:
        raise ToolFailure(f"{shown} is a binary file")
    return data.decode("utf-8", errors="replace")


def _numbered(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines) - 1)) if lines else 1
    out = []
    for number, line in enumerate(lines, start=first):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [... line truncated]"
        out.append(f"{number:>{width}}\t{line}")
    return "\n".join(out)


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

    async def call(self, args: ReadArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        lines = _text(workdir.resolve(args.path), args.path).splitlines()
        chosen = lines[args.offset - 1 : args.offset - 1 + args.limit]
        if not chosen:
            return f"{args.path} has {len(lines)} lines; nothing from line {args.offset}"
        footer = ""
        if args.offset - 1 + len(chosen) < len(lines):
            footer = f"\n[... {len(lines) - (args.offset - 1 + len(chosen))} more lines]"
        return _numbered(chosen, args.offset) + footer


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
        target = workdir_of(context).resolve(args.path)
        if target.is_dir():
            raise ToolFailure(f"{args.path} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(args.content)
        return f"wrote {len(args.content.encode()):,} bytes to {args.path}"


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
        target = workdir_of(context).resolve(args.path)
        content = _text(target, args.path)
        count = content.count(args.old_string)
        if count == 0:
            raise ToolFailure(f"old_string was not found in {args.path}; nothing changed")
        if count > 1 and not args.replace_all:
            raise ToolFailure(
                f"old_string occurs {count} times in {args.path}; give more context to make it "
                "unique, or set replace_all; nothing changed"
            )
        target.write_text(content.replace(args.old_string, args.new_string))
        return f"replaced {count} occurrence{'s' if count > 1 else ''} in {args.path}"


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

    async def call(self, args: LsArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        directory = workdir_of(context).resolve(args.path)
        if not directory.is_dir():
            raise ToolFailure(f"no such directory: {args.path}")
        entries = sorted(
            (e for e in os.scandir(directory) if args.all or not e.name.startswith(".")),
            key=lambda e: e.name,
        )
        lines = []
        for entry in entries[:LS_LIMIT]:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                lines.append(f"{entry.name}/")
            elif stat.S_ISLNK(info.st_mode):
                lines.append(f"{entry.name} -> {os.readlink(entry.path)}")
            else:
                lines.append(f"{entry.name}  {info.st_size:,} bytes")
        if len(entries) > LS_LIMIT:
            lines.append(f"[... {len(entries) - LS_LIMIT} more entries]")
        return "\n".join(lines) if lines else f"{args.path} is empty"


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

    async def call(self, args: SliceArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        target = workdir_of(context).resolve(args.path)
        if not target.is_file():
            raise ToolFailure(f"no such file: {args.path}")
        lines = []
        with target.open("r", errors="replace") as file:
            for _, line in zip(range(args.lines), file, strict=False):
                lines.append(line.rstrip("\n"))
        return _numbered(lines, 1)


class Tail(BuiltinTool[SliceArgs]):
    """The last lines of a file."""

    name: ClassVar[str] = "tail"
    description: ClassVar[str] = "The last lines of a file of the workspace (any size)."
    arguments = SliceArgs

    async def call(self, args: SliceArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        target = workdir_of(context).resolve(args.path)
        if not target.is_file():
            raise ToolFailure(f"no such file: {args.path}")
        total = 0
        last: deque[str] = deque(maxlen=args.lines)
        with target.open("r", errors="replace") as file:
            for line in file:
                total += 1
                last.append(line.rstrip("\n"))
        return _numbered(list(last), total - len(last) + 1)
