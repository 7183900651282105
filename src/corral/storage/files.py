"""FileStore: uploaded files of a workspace, and the outputs each run leaves behind.

Contents live in the database beside their metadata, so every node serves them and a deleted
workspace or run takes its files along.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import files, run_outputs, runs

_STORED_BYTES_LOCK = 0x66696C65
"""First key of the advisory locks on a workspace's stored bytes (`file` in ASCII)."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """An uploaded file; `content` only when it was asked for."""

    id: str
    workspace_id: str
    name: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """A file a run left behind, without its content."""

    path: str
    size: int
    sha256: str
    created_at: datetime


_FILE_FIELDS = (
    files.c.id,
    files.c.workspace_id,
    files.c.name,
    files.c.media_type,
    files.c.size,
    files.c.sha256,
    files.c.created_at,
)
_OUTPUT_FIELDS = (
    run_outputs.c.path,
    run_outputs.c.size,
    run_outputs.c.sha256,
    run_outputs.c.created_at,
)


def insert_file(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Store an uploaded file (`values` hold every column, content included)."""
    conn.execute(files.insert(), values)


def get_file(
    conn: sa.Connection, workspace_id: str, file_id: str, *, with_content: bool
) -> FileRecord | None:
    """The file, or None when it is not in the workspace."""
    columns = (*_FILE_FIELDS, files.c.content) if with_content else _FILE_FIELDS
    row = conn.execute(
        sa.select(*columns).where(files.c.id == file_id, files.c.workspace_id == workspace_id)
    ).first()
    return FileRecord(*row) if row else None


def list_files(
    conn: sa.Connection, workspace_id: str, limit: int, before_id: str | None = None
) -> list[FileRecord]:
    """Files newest first (ids sort by creation time), without their contents."""
    query = sa.select(*_FILE_FIELDS).where(files.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(files.c.id < before_id)
    rows = conn.execute(query.order_by(files.c.id.desc()).limit(limit))
    return [FileRecord(*row) for row in rows]


def delete_file(conn: sa.Connection, workspace_id: str, file_id: str) -> bool:
    """Delete the file; False when it is not in the workspace."""
    result = conn.execute(
        files.delete().where(files.c.id == file_id, files.c.workspace_id == workspace_id)
    )
    return result.rowcount == 1


def stored_bytes(conn: sa.Connection, workspace_id: str) -> int:
    """Bytes the workspace keeps: its uploads and its runs' outputs."""
    uploads = (
        sa.select(sa.func.coalesce(sa.func.sum(files.c.size), 0))
        .where(files.c.workspace_id == workspace_id)
        .scalar_subquery()
    )
    outputs = (
        sa.select(sa.func.coalesce(sa.func.sum(run_outputs.c.size), 0))
        .where(run_outputs.c.workspace_id == workspace_id)
        .scalar_subquery()
    )
    return int(conn.execute(sa.select(uploads + outputs)).scalar_one())


def hold_stored_bytes(conn: sa.Connection, workspace_id: str) -> None:
    """Make other writers that hold the workspace's stored bytes wait until this transaction ends.

    Then `stored_bytes` counts every file they added, and two uploads cannot both take the last
    room. On PostgreSQL a transaction-scoped advisory lock; SQLite serialises writers already.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(_STORED_BYTES_LOCK, sa.func.hashtext(workspace_id))
            )
        )


def existing_files(conn: sa.Connection, workspace_id: str, file_ids: Sequence[str]) -> set[str]:
    """Which of these ids name files of the workspace (contents are not read)."""
    if not file_ids:
        return set()
    query = sa.select(files.c.id).where(
        files.c.workspace_id == workspace_id, files.c.id.in_(set(file_ids))
    )
    return set(conn.execute(query).scalars())


def file_contents(
    conn: sa.Connection, workspace_id: str, file_ids: Sequence[str]
) -> dict[str, bytes]:
    """The contents of those of these files that exist in the workspace, by id."""
    if not file_ids:
        return {}
    rows = conn.execute(
        sa.select(files.c.id, files.c.content).where(
            files.c.workspace_id == workspace_id, files.c.id.in_(set(file_ids))
        )
    )
    return {file_id: bytes(content) for file_id, content in rows}


def save_outputs(
    conn: sa.Connection, run_id: str, outputs: Sequence[tuple[str, bytes]], now: datetime
) -> None:
    """Replace the run's outputs with these `(path, content)` pairs."""
    conn.execute(run_outputs.delete().where(run_outputs.c.run_id == run_id))
    if not outputs:
        return
    workspace_id = conn.execute(
        sa.select(runs.c.workspace_id).where(runs.c.id == run_id)
    ).scalar_one()
    conn.execute(
        run_outputs.insert(),
        [
            {
                "run_id": run_id,
                "workspace_id": workspace_id,
                "path": path,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "content": content,
                "created_at": now,
            }
            for path, content in outputs
        ],
    )


def list_outputs(conn: sa.Connection, run_id: str) -> list[OutputRecord]:
    """The run's outputs by path, without their contents."""
    rows = conn.execute(
        sa.select(*_OUTPUT_FIELDS)
        .where(run_outputs.c.run_id == run_id)
        .order_by(run_outputs.c.path)
    )
    return [OutputRecord(*row) for row in rows]


def get_output(conn: sa.Connection, run_id: str, path: str) -> tuple[OutputRecord, bytes] | None:
    """One output and its content, or None."""
    row = conn.execute(
        sa.select(*_OUTPUT_FIELDS, run_outputs.c.content).where(
            run_outputs.c.run_id == run_id, run_outputs.c.path == path
        )
    ).first()
    if row is None:
        return None
    *fields, content = row
    return OutputRecord(*fields), bytes(content)


def all_outputs(conn: sa.Connection, run_id: str) -> list[tuple[str, bytes]]:
    """Every output of the run with its content, by path."""
    rows = conn.execute(
        sa.select(run_outputs.c.path, run_outputs.c.content)
        .where(run_outputs.c.run_id == run_id)
        .order_by(run_outputs.c.path)
    )
    return [(path, bytes(content)) for path, content in rows]
