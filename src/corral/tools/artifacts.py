"""Files in and out of a run's workspace: which inputs to place, which files are outputs.

Pure helpers for the worker, with no I/O: the files themselves cross into and out of the run's
environment through its channel (see `corral.sandbox.inside.transfer`); here they are only
decided on and packed, as data.
"""

from __future__ import annotations

import base64
import io
import tarfile
from collections.abc import Iterable, Mapping, Sequence

from corral.domain.run_spec import InputFile
from corral.types.files import MAX_PATH_BYTES

__all__ = [
    "MAX_OUTPUT_BYTES",
    "MAX_OUTPUT_FILES",
    "MAX_SNAPSHOT_ENTRIES",
    "MissingInput",
    "changed",
    "resolve_inputs",
    "storable",
    "tar_gz",
]

MAX_SNAPSHOT_ENTRIES = 100_000
"""Most directory entries one snapshot looks at; a workspace with more is only partly seen."""
MAX_OUTPUT_FILES = 500
MAX_OUTPUT_BYTES = 100_000_000
"""Bounds of the outputs collected from one run."""

Snapshot = Mapping[str, Sequence[int]]
"""A workspace listing: relative path → (size, mtime_ns)."""


class MissingInput(LookupError):
    """An input file the run refers to no longer exists."""


def resolve_inputs(
    entries: Iterable[InputFile], uploaded: Mapping[str, bytes]
) -> list[tuple[str, bytes]]:
    """The `(path, content)` of each input file of a run spec's `files`.

    `uploaded` maps file ids to contents (`storage.files.file_contents`).

    Raises:
        MissingInput: an uploaded file was deleted since the run was created.
    """
    resolved = []
    for entry in entries:
        if entry.file_id is not None:
            content = uploaded.get(entry.file_id)
            if content is None:
                raise MissingInput(f"input file {entry.file_id} ({entry.path}) was deleted")
        else:
            content = base64.b64decode(entry.content_base64 or "")
        resolved.append((entry.path, content))
    return resolved


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Files new or modified between two snapshots, sorted; names that cannot be kept excluded."""
    return sorted(
        path
        for path, mark in after.items()
        if list(before.get(path, ())) != list(mark) and storable(path) is None
    )


def storable(path: str) -> str | None:
    """Why `path` cannot be kept as an output's name, or None."""
    try:
        size = len(path.encode())
    except UnicodeEncodeError:
        return "its name is not valid UTF-8"
    return f"its path is longer than {MAX_PATH_BYTES} bytes" if size > MAX_PATH_BYTES else None


def tar_gz(outputs: Iterable[tuple[str, bytes]], *, mtime_s: float) -> bytes:
    """A gzip'd tar of `(path, content)` pairs, every file dated `mtime_s`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for path, content in outputs:
            member = tarfile.TarInfo(path)
            member.size = len(content)
            member.mtime = int(mtime_s)
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(content))
    return buffer.getvalue()
