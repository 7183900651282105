"""Reading and changing the workspace's files: read, write, edit, ls, head, tail.

They run in the tool server itself (no process to start), so each one is bounded: only regular
files are opened for reading, without blocking (a FIFO or a device is refused, never waited on),
and no call reads more than a fixed number of bytes, whatever size a file claims to be.
"""

from __future__ import annotations

import os
import stat

from corral.sandbox.inside.errors import Failure

MAX_READ_BYTES = 10_000_000
MAX_LINE_CHARS = 2_000
MAX_SLICE_BYTES = 10_000_000
"""Most bytes head and tail look at; a longer line is cut."""
LS_LIMIT = 1_000
MAX_LISTED = 100_000
"""Most directory entries ls looks at."""
_CHUNK = 1 << 20


class Workspace:
    """The agent's files, and the rule that keeps every path inside them."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def resolve(self, given: str) -> str:
        """`given` (relative, or absolute inside) as a real path in the workspace."""
        if "\x00" in given:
            raise Failure(f"{given!r} is not a valid path")
        path = given if os.path.isabs(given) else os.path.join(self.root, given)
        real = os.path.realpath(path)
        if real != self.root and not real.startswith(self.root + "/"):
            raise Failure(f"{given!r} is outside the workspace")
        return real

    def relative(self, path: str) -> str:
        """How the agent names `path`."""
        return os.path.relpath(path, self.root)


def open_regular(path: str, shown: str) -> int:
    """A read descriptor of the regular file at `path`; other kinds are refused, not opened."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Failure(f"no such file: {shown}") from None
    except IsADirectoryError:
        raise Failure(f"{shown} is a directory (use ls)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory (use ls)" if stat.S_ISDIR(mode) else "not a regular file"
        raise Failure(f"{shown} is {kind}")
    return fd


def read_bounded(fd: int, limit: int) -> bytes:
    """At most `limit` bytes from the start of `fd`."""
    parts = []
    while limit > 0:
        chunk = os.read(fd, min(limit, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        limit -= len(chunk)
    return b"".join(parts)


def text_of(path: str, shown: str) -> str:
    """A whole text file, refusing binary files and files over the read limit."""
    fd = open_regular(path, shown)
    try:
        if os.fstat(fd).st_size > MAX_READ_BYTES:
            raise Failure(
                f"{shown} is larger than {MAX_READ_BYTES:,} bytes; read it with head or tail"
            )
        data = read_bounded(fd, MAX_READ_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_READ_BYTES:
        raise Failure(f"{shown} is larger than {MAX_READ_BYTES:,} bytes; read it with head or tail")
    if b"\0" in data[:8192]:
        raise Failure(f"{shown} is a binary file")
    return data.decode("utf-8", errors="replace")


def numbered(lines: list[str], first: int) -> str:
    """Lines with their numbers, long lines cut."""
    width = len(str(first + len(lines) - 1)) if lines else 1
    out = []
    for number, line in enumerate(lines, start=first):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " [... line truncated]"
        out.append(f"{number:>{width}}\t{line}")
    return "\n".join(out)


def read(workspace: Workspace, path: str, offset: int, limit: int) -> str:
    """Lines `offset`.. of a text file, numbered."""
    lines = text_of(workspace.resolve(path), path).splitlines()
    chosen = lines[offset - 1 : offset - 1 + limit]
    if not chosen:
        return f"{path} has {len(lines)} lines; nothing from line {offset}"
    footer = ""
    if offset - 1 + len(chosen) < len(lines):
        footer = f"\n[... {len(lines) - (offset - 1 + len(chosen))} more lines]"
    return numbered(chosen, offset) + footer


def write(workspace: Workspace, path: str, content: bytes) -> str:
    """Create or replace a file, and the folders on its way."""
    target = workspace.resolve(path)
    if os.path.isdir(target):
        raise Failure(f"{path} is a directory")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    replace(target, path, content)
    return f"wrote {len(content):,} bytes to {path}"


def replace(target: str, shown: str, content: bytes) -> None:
    """Write `content` over the regular file `target` (created if missing), never blocking."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as error:
        raise Failure(f"cannot write {shown}: {error.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Failure(f"{shown} is not a regular file")
        os.ftruncate(fd, 0)
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def edit(workspace: Workspace, path: str, old: str, new: str, replace_all: bool) -> str:
    """Replace an exact string, refusing ambiguous or missing matches."""
    target = workspace.resolve(path)
    content = text_of(target, path)
    count = content.count(old)
    if count == 0:
        raise Failure(f"old_string was not found in {path}; nothing changed")
    if count > 1 and not replace_all:
        raise Failure(
            f"old_string occurs {count} times in {path}; give more context to make it "
            "unique, or set replace_all; nothing changed"
        )
    replace(target, path, content.replace(old, new).encode("utf-8", "surrogatepass"))
    return f"replaced {count} occurrence{'s' if count > 1 else ''} in {path}"


def ls(workspace: Workspace, path: str, show_all: bool) -> str:
    """A directory's entries with their kind and size."""
    directory = workspace.resolve(path)
    if not os.path.isdir(directory):
        raise Failure(f"no such directory: {path}")
    entries = []
    with os.scandir(directory) as listing:
        for count, entry in enumerate(listing):
            if count >= MAX_LISTED:
                break
            if show_all or not entry.name.startswith("."):
                entries.append(entry)
    entries.sort(key=lambda e: e.name)
    lines = []
    for entry in entries[:LS_LIMIT]:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            lines.append(f"{entry.name}/")
        elif stat.S_ISLNK(info.st_mode):
            lines.append(f"{entry.name} -> {os.readlink(entry.path)}")
        else:
            lines.append(f"{entry.name}  {info.st_size:,} bytes")
    if len(entries) > LS_LIMIT:
        lines.append(f"[... {len(entries) - LS_LIMIT} more entries]")
    return "\n".join(lines) if lines else f"{path} is empty"


def head(workspace: Workspace, path: str, count: int) -> str:
    """The first lines of a file of any size."""
    fd = open_regular(workspace.resolve(path), path)
    try:
        data = b""
        while data.count(b"\n") < count and len(data) < MAX_SLICE_BYTES:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    lines = data[:MAX_SLICE_BYTES].decode("utf-8", "replace").split("\n")[:count]
    if lines and lines[-1] == "" and data.count(b"\n") < count:
        lines.pop()
    return numbered(lines, 1)


def tail(workspace: Workspace, path: str, count: int) -> str:
    """The last lines of a file of any size, numbered from its start."""
    fd = open_regular(workspace.resolve(path), path)
    try:
        size = os.fstat(fd).st_size
        end = size
        data = b""
        while end > 0 and data.count(b"\n") <= count and len(data) < MAX_SLICE_BYTES:
            start = max(0, end - _CHUNK)
            data = os.pread(fd, end - start, start) + data
            end = start
        total = _count_lines(fd, end) + data.count(b"\n")
    finally:
        os.close(fd)
    if data.endswith(b"\n"):
        data = data[:-1]
    elif data:
        total += 1
    lines = data[-MAX_SLICE_BYTES:].decode("utf-8", "replace").split("\n")[-count:] if data else []
    return numbered(lines, total - len(lines) + 1)


def _count_lines(fd: int, end: int) -> int:
    """Newlines in the first `end` bytes of `fd`."""
    total, offset = 0, 0
    while offset < end:
        chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
        if not chunk:
            break
        total += chunk.count(b"\n")
        offset += len(chunk)
    return total
