"""Files: uploads, their use as a run's inputs and skills, and the outputs runs leave behind."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from corral.context import ServiceContext
from corral.domain import quotas
from corral.domain.run_spec import InputFile, SkillFile
from corral.errors import (
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RunActive,
    StorageLimitReached,
)
from corral.ids import new_id
from corral.services import auth
from corral.services.context import Principal
from corral.storage import files as file_store
from corral.storage import runs as run_store
from corral.storage.database import Connection
from corral.storage.files import FileRecord, OutputRecord
from corral.tools import artifacts
from corral.tools.skills import SkillError, read_skill
from corral.types.common import Page
from corral.types.files import (
    File,
    RunFileRef,
    RunOutput,
    RunOutputList,
    SkillRef,
    check_workspace_path,
)
from corral.types.runs import TERMINAL_STATUSES

MAX_NAME_CHARS = 255
GENERIC_MEDIA_TYPES = frozenset({"application/octet-stream", "application/x-www-form-urlencoded"})
"""Content types that say nothing about the file (curl sends the second for `--data-binary`):
the type is guessed from the name instead."""
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def _to_wire(record: FileRecord) -> File:
    return File(
        id=record.id,
        name=record.name,
        media_type=record.media_type,
        size=record.size,
        sha256=record.sha256,
        created_at=record.created_at,
    )


def _output_to_wire(record: OutputRecord) -> RunOutput:
    return RunOutput(
        path=record.path, size=record.size, sha256=record.sha256, created_at=record.created_at
    )


def clean_name(name: str | None) -> str:
    """The name a file is kept under: the last part of a path, checked."""
    base = re.split(r"[/\\]", (name or "").strip())[-1].strip()
    if not base:
        raise InvalidRequest("the file needs a name (`name`)", field="name")
    if any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise InvalidRequest("the name must not contain control characters", field="name")
    if len(base) > MAX_NAME_CHARS:
        raise InvalidRequest(f"the name must be at most {MAX_NAME_CHARS} characters", field="name")
    return base


def media_type_of(name: str, given: str | None) -> str:
    """The type given (without parameters) when it says something, else one guessed by name."""
    stated = (given or "").split(";")[0].strip().lower()
    if stated and stated not in GENERIC_MEDIA_TYPES and _MEDIA_TYPE.match(stated):
        return stated
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def check_size(ctx: ServiceContext, size: int) -> None:
    """Refuse a file over `max_file_bytes`."""
    limit = ctx.settings.max_file_bytes
    if size > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes", field="file")


async def upload(
    ctx: ServiceContext,
    principal: Principal,
    *,
    name: str | None,
    media_type: str | None,
    content: bytes,
) -> File:
    """Keep an uploaded file in the workspace."""
    check_size(ctx, len(content))
    kept_name = clean_name(name)
    values = {
        "id": new_id("file"),
        "workspace_id": principal.workspace_id,
        "name": kept_name,
        "media_type": media_type_of(kept_name, media_type),
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "content": content,
        "created_at": ctx.clock(),
    }
    limit = stored_bytes_limit(ctx, principal)

    def tx(conn: Connection) -> None:
        if limit is not None:
            file_store.hold_stored_bytes(conn, principal.workspace_id)
            stored = file_store.stored_bytes(conn, principal.workspace_id)
            if not quotas.fits(stored, len(content), limit):
                raise StorageLimitReached(
                    f"the workspace keeps {stored} bytes of files, and this one would take it "
                    f"past its limit of {limit}: delete files or runs with outputs first",
                    field="file",
                    max_stored_bytes=limit,
                    stored_bytes=stored,
                )
        file_store.insert_file(conn, values)

    await ctx.database.write(tx)
    return File.model_validate(values)


def stored_bytes_limit(ctx: ServiceContext, principal: Principal) -> int | None:
    """The workspace's stored-bytes limit: the operator's for it, else the server's."""
    default = ctx.settings.workspace_max_stored_bytes
    return quotas.effective(principal.limits, quotas.MAX_STORED_BYTES, default)


async def _find(
    ctx: ServiceContext, principal: Principal, file_id: str, *, with_content: bool
) -> FileRecord:
    record = await ctx.database.read(
        file_store.get_file, principal.workspace_id, file_id, with_content=with_content
    )
    if record is None:
        raise NotFound(f"no file {file_id!r}")
    return record


async def get(ctx: ServiceContext, principal: Principal, file_id: str) -> File:
    """The file's description."""
    return _to_wire(await _find(ctx, principal, file_id, with_content=False))


async def content(ctx: ServiceContext, principal: Principal, file_id: str) -> tuple[File, bytes]:
    """The file's description and its bytes."""
    record = await _find(ctx, principal, file_id, with_content=True)
    assert record.content is not None
    return _to_wire(record), record.content


async def list_files(
    ctx: ServiceContext, principal: Principal, *, limit: int, cursor: str | None
) -> Page[File]:
    """Files newest first."""
    records = await ctx.database.read(
        file_store.list_files, principal.workspace_id, limit + 1, cursor
    )
    page = [_to_wire(r) for r in records[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(records) > limit else None)


async def delete(ctx: ServiceContext, principal: Principal, file_id: str) -> None:
    """Delete the file (a queued run that refers to it fails when it starts)."""
    if not await ctx.database.write(file_store.delete_file, principal.workspace_id, file_id):
        raise NotFound(f"no file {file_id!r}")


# -- run inputs ------------------------------------------------------------------------------


class RunInputs(Protocol):
    """What a run places in its workspace first: `RunCreateParams`, or a session's files."""

    @property
    def files(self) -> Sequence[RunFileRef]:
        """Input files."""

    @property
    def skills(self) -> Sequence[SkillRef]:
        """Skill archives."""


@dataclass(frozen=True)
class SessionInputs:
    """A session's input files, placed before each of its runs.

    A session has no skills of its own: they come with its agent.
    """

    files: Sequence[RunFileRef]
    skills: Sequence[SkillRef] = ()


def _check_paths(params: RunInputs) -> None:
    """Two inputs at one path, or a file where another needs a folder, cannot both be placed."""
    taken: dict[str, int] = {}
    for index, ref in enumerate(params.files):
        if ref.path in taken:
            raise InvalidRequest(
                f"/files/{taken[ref.path]} already goes to {ref.path!r}",
                field=f"/files/{index}/path",
            )
        taken[ref.path] = index
    for index, ref in enumerate(params.files):
        parts = ref.path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in taken:
                raise InvalidRequest(
                    f"{folder!r} is a file (/files/{taken[folder]}), not a folder",
                    field=f"/files/{index}/path",
                )


async def _check_skill(ctx: ServiceContext, principal: Principal, file_id: str, field: str) -> str:
    """The name of the skill in an uploaded archive; refuses one that cannot be installed."""
    record = await ctx.database.read(
        file_store.get_file, principal.workspace_id, file_id, with_content=True
    )
    if record is None or record.content is None:
        raise NotFound(f"no file {file_id!r}", field=field)
    try:
        name, _ = await asyncio.to_thread(read_skill, record.content)
    except SkillError as error:
        message = f"file {file_id} is not a usable skill: {error}"
        raise InvalidRequest(message, field=field) from None
    return name


async def check_run_files(ctx: ServiceContext, principal: Principal, params: RunInputs) -> None:
    """Check a new run's input files and skills: uploads exist, paths fit, skills install."""
    _check_paths(params)
    wanted = [(f"/files/{i}/file_id", ref.file_id) for i, ref in enumerate(params.files)]
    wanted += [(f"/skills/{i}/file_id", ref.file_id) for i, ref in enumerate(params.skills)]
    ids = [file_id for _, file_id in wanted if file_id is not None]
    existing = await ctx.database.read(file_store.existing_files, principal.workspace_id, ids)
    for field, file_id in wanted:
        if file_id is not None and file_id not in existing:
            raise NotFound(f"no file {file_id!r}", field=field)
    names: dict[str, int] = {}
    for index, ref in enumerate(params.skills):
        field = f"/skills/{index}/file_id"
        name = await _check_skill(ctx, principal, ref.file_id, field)
        if name in names:
            raise InvalidRequest(
                f"/skills/{names[name]} is a skill named {name!r} too", field=field
            )
        names[name] = index


async def check_agent_skills(
    ctx: ServiceContext, principal: Principal, skills: list[dict[str, Any]], *, prefix: str = ""
) -> None:
    """An agent's skills: uploaded archives of the workspace that install."""
    names: dict[str, int] = {}
    for index, ref in enumerate(skills):
        field = f"{prefix}/skills/{index}/file_id"
        existing = await ctx.database.read(
            file_store.existing_files, principal.workspace_id, [ref["file_id"]]
        )
        if ref["file_id"] not in existing:
            raise NotFound(f"no file {ref['file_id']!r}", field=field)
        name = await _check_skill(ctx, principal, ref["file_id"], field)
        if name in names:
            raise InvalidRequest(
                f"{prefix}/skills/{names[name]} is a skill named {name!r} too", field=field
            )
        names[name] = index


def run_inputs(params: RunInputs) -> tuple[tuple[InputFile, ...], tuple[SkillFile, ...]]:
    """The run's input files and skills as its spec keeps them.

    A file is an upload (`file_id`) or inline content (`content_base64`);
    `tools.artifacts.resolve_inputs` reads both back.
    """
    files = []
    for ref in params.files:
        inline = ref.data()
        if inline is None:
            files.append(InputFile(path=ref.path, file_id=ref.file_id))
        else:
            files.append(InputFile(path=ref.path, content_base64=base64.b64encode(inline).decode()))
    return tuple(files), tuple(SkillFile(file_id=ref.file_id) for ref in params.skills)


# -- outputs ---------------------------------------------------------------------------------


def _run_status(conn: Connection, workspace_id: str, run_id: str) -> str:
    status = run_store.get_status_in(conn, workspace_id, run_id)
    if status is None:
        raise NotFound(f"no run {run_id!r}")
    return status


def _require_ended(status: str, run_id: str) -> None:
    if status not in TERMINAL_STATUSES:
        raise RunActive(f"run {run_id} is {status}: its outputs are collected when it ends")


async def list_outputs(ctx: ServiceContext, principal: Principal, run_id: str) -> RunOutputList:
    """The run's outputs by path; none until it has ended."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")

    def read(conn: Connection) -> list[OutputRecord]:
        if _run_status(conn, principal.workspace_id, run_id) not in TERMINAL_STATUSES:
            return []
        return file_store.list_outputs(conn, run_id)

    return RunOutputList(data=[_output_to_wire(r) for r in await ctx.database.read(read)])


async def output(
    ctx: ServiceContext, principal: Principal, run_id: str, path: str
) -> tuple[RunOutput, bytes]:
    """One output of an ended run and its bytes."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")

    def read(conn: Connection) -> tuple[OutputRecord, bytes] | None:
        _require_ended(_run_status(conn, principal.workspace_id, run_id), run_id)
        try:
            normalized = check_workspace_path(path)
        except ValueError:
            return None
        return file_store.get_output(conn, run_id, normalized)

    found = await ctx.database.read(read)
    if found is None:
        raise NotFound(f"run {run_id} has no output {path!r}", field="path")
    record, data = found
    return _output_to_wire(record), data


async def archive(ctx: ServiceContext, principal: Principal, run_id: str) -> bytes:
    """Every output of an ended run in a gzip'd tar, dated when the run ended."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")

    def read(conn: Connection) -> tuple[float, list[tuple[str, bytes]]]:
        record = run_store.get(conn, principal.workspace_id, run_id)
        if record is None:
            raise NotFound(f"no run {run_id!r}")
        _require_ended(record.status, run_id)
        ended = record.ended_at or record.created_at
        return ended.timestamp(), file_store.all_outputs(conn, run_id)

    mtime_s, outputs = await ctx.database.read(read)
    return await asyncio.to_thread(artifacts.tar_gz, outputs, mtime_s=mtime_s)
