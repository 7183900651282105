"""Skills kept by name: versions of a skill archive, checked as a run's environment reads them.

Each version's archive is an upload of the workspace (`services.files`), so an agent names it as
any other skill (`SkillRef {file_id}`); deleting a version or a skill deletes its uploads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from corral.context import ServiceContext
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.services import files as file_service
from corral.services.context import Principal
from corral.storage import files as file_store
from corral.storage import skills as skill_store
from corral.storage.database import Connection
from corral.tools.skills import SkillError, read_skill
from corral.types.skills import Skill, SkillVersion

__all__ = [
    "LATEST",
    "add_version",
    "content",
    "create",
    "delete",
    "delete_version",
    "get",
    "get_version",
    "list_page",
    "list_versions",
    "versions_of_files",
]

LATEST = "latest"
"""What names a skill's newest version where a version id goes."""


def _missing(skill_id: str) -> NotFound:
    return NotFound(f"no skill {skill_id!r}")


def _no_version(skill_id: str, version: str) -> NotFound:
    return NotFound(f"skill {skill_id!r} has no version {version!r}", field="version")


async def _manifest(archive: bytes, field: str) -> tuple[str, str]:
    """The name and description of a skill archive that runs can install."""
    try:
        return await asyncio.to_thread(read_skill, archive)
    except SkillError as error:
        raise InvalidRequest(f"not a usable skill: {error}", field=field) from None


async def _store_archive(
    ctx: ServiceContext, principal: Principal, name: str, archive: bytes
) -> str:
    upload = await file_service.upload(
        ctx, principal, name=f"{name}.zip", media_type="application/zip", content=archive
    )
    return upload.id


async def create(
    ctx: ServiceContext,
    principal: Principal,
    *,
    archive: bytes,
    display_name: str | None,
    field: str,
) -> tuple[Skill, SkillVersion]:
    """Keep a new skill with `archive` as its first version.

    Raises:
        InvalidRequest: at `field`, when runs could not install the archive.
    """
    name, description = await _manifest(archive, field)
    file_id = await _store_archive(ctx, principal, name, archive)
    now = ctx.clock()
    skill_id, version_id = new_id("skill"), new_id("skv")
    version = SkillVersion(
        id=version_id,
        skill_id=skill_id,
        name=name,
        description=description,
        file_id=file_id,
        created_at=now,
    )
    skill = Skill(
        id=skill_id,
        display_name=display_name or name,
        name=name,
        latest_version_id=version_id,
        created_at=now,
        updated_at=now,
    )

    def tx(conn: Connection) -> None:
        skill_store.insert_skill(conn, principal.workspace_id, skill)
        skill_store.insert_version(conn, principal.workspace_id, version)

    try:
        await ctx.database.write(tx)
    except Exception:
        await ctx.database.write_statement(file_store.delete_file, principal.workspace_id, file_id)
        raise
    return skill, version


async def add_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, *, archive: bytes, field: str
) -> SkillVersion:
    """Keep `archive` as the skill's newest version; its SKILL.md must keep the skill's name."""
    skill = await get(ctx, principal, skill_id)
    name, description = await _manifest(archive, field)
    if name != skill.name:
        raise InvalidRequest(
            f"the skill is named {skill.name!r} and every version keeps that name; "
            f"this SKILL.md names {name!r}",
            field=field,
        )
    file_id = await _store_archive(ctx, principal, name, archive)
    now = ctx.clock()
    version = SkillVersion(
        id=new_id("skv"),
        skill_id=skill_id,
        name=name,
        description=description,
        file_id=file_id,
        created_at=now,
    )

    def tx(conn: Connection) -> None:
        current = skill_store.hold_skill(conn, principal.workspace_id, skill_id)
        if current is None:
            raise _missing(skill_id)
        skill_store.insert_version(conn, principal.workspace_id, version)
        latest = max(version.id, current.latest_version_id)
        skill_store.set_latest(conn, principal.workspace_id, skill_id, latest, now)

    try:
        await ctx.database.write(tx)
    except Exception:
        await ctx.database.write_statement(file_store.delete_file, principal.workspace_id, file_id)
        raise
    return version


async def get(ctx: ServiceContext, principal: Principal, skill_id: str) -> Skill:
    """The skill, or `NotFound` (also for another workspace's)."""
    found = await ctx.database.read(skill_store.get_skill, principal.workspace_id, skill_id)
    if found is None:
        raise _missing(skill_id)
    return found


async def list_page(
    ctx: ServiceContext, principal: Principal, *, limit: int, after: str | None
) -> tuple[list[Skill], bool]:
    """A page of skills newest first, and whether more follow (`after`: the last id seen)."""
    found = await ctx.database.read(
        skill_store.list_skills, principal.workspace_id, limit=limit + 1, before_id=after
    )
    return found[:limit], len(found) > limit


async def delete(ctx: ServiceContext, principal: Principal, skill_id: str) -> None:
    """Delete the skill, its versions and their archives.

    Agents that name one of its versions keep naming the archive: their runs fail when they
    start, as with any deleted upload.
    """

    def tx(conn: Connection) -> None:
        if skill_store.hold_skill(conn, principal.workspace_id, skill_id) is None:
            raise _missing(skill_id)
        versions = skill_store.version_ids(conn, principal.workspace_id, skill_id)
        skill_store.delete_skill(conn, principal.workspace_id, skill_id)
        for _, file_id in versions:
            file_store.delete_file(conn, principal.workspace_id, file_id)

    await ctx.database.write(tx)


async def get_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> SkillVersion:
    """The skill's version by id, or its newest for `latest`."""

    def read(conn: Connection) -> SkillVersion:
        skill = skill_store.get_skill(conn, principal.workspace_id, skill_id)
        if skill is None:
            raise _missing(skill_id)
        version_id = skill.latest_version_id if version == LATEST else version
        found = skill_store.get_version(conn, principal.workspace_id, skill_id, version_id)
        if found is None:
            raise _no_version(skill_id, version)
        return found

    return await ctx.database.read(read)


async def list_versions(
    ctx: ServiceContext, principal: Principal, skill_id: str, *, limit: int, after: str | None
) -> tuple[list[SkillVersion], bool]:
    """A page of the skill's versions newest first, and whether more follow."""

    def read(conn: Connection) -> list[SkillVersion]:
        if skill_store.get_skill(conn, principal.workspace_id, skill_id) is None:
            raise _missing(skill_id)
        return skill_store.list_versions(
            conn, principal.workspace_id, skill_id, limit=limit + 1, before_id=after
        )

    found = await ctx.database.read(read)
    return found[:limit], len(found) > limit


async def delete_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> str:
    """Delete one version and its archive; the id of the version deleted.

    A skill keeps at least one version (deleting the last one is a `Conflict`); deleting the
    newest makes the one before it the latest.
    """
    now = ctx.clock()

    def tx(conn: Connection) -> str:
        skill = skill_store.hold_skill(conn, principal.workspace_id, skill_id)
        if skill is None:
            raise _missing(skill_id)
        version_id = skill.latest_version_id if version == LATEST else version
        versions = skill_store.version_ids(conn, principal.workspace_id, skill_id)
        file_id = dict(versions).get(version_id)
        if file_id is None:
            raise _no_version(skill_id, version)
        if len(versions) == 1:
            raise Conflict(
                f"{version_id!r} is the only version of skill {skill_id!r}: a skill keeps at "
                "least one version, so delete the skill instead",
                field="version",
            )
        skill_store.delete_version(conn, principal.workspace_id, skill_id, version_id)
        file_store.delete_file(conn, principal.workspace_id, file_id)
        latest = next(v for v, _ in versions if v != version_id)
        skill_store.set_latest(conn, principal.workspace_id, skill_id, latest, now)
        return version_id

    return await ctx.database.write(tx)


async def content(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> tuple[SkillVersion, bytes]:
    """The version and the bytes of its archive."""
    found = await get_version(ctx, principal, skill_id, version)
    try:
        _, archive = await file_service.content(ctx, principal, found.file_id)
    except NotFound:
        raise NotFound(
            f"the archive of version {found.id!r} ({found.file_id}) was deleted", field="version"
        ) from None
    return found, archive


async def versions_of_files(
    ctx: ServiceContext, principal: Principal, file_ids: Sequence[str]
) -> dict[str, SkillVersion]:
    """The versions whose archives are among these uploads, by file id."""
    found = await ctx.database.read(skill_store.versions_of_files, principal.workspace_id, file_ids)
    return {version.file_id: version for version in found}
