"""Skills of the API as Corral's skills kept by name, each version a skill archive upload.

An agent names a skill version; its Corral spec names that version's archive (`{file_id}`), so
its runs install the skill under `.skills/<name>/` and announce it, as any other skill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from corral.compat.anthropic.translate import skills as translate
from corral.compat.anthropic.translate.skills import UploadedFile
from corral.compat.anthropic.wire.agents import AgentSkillRef
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.skills import (
    SkillDeleted,
    SkillObject,
    SkillVersionDeleted,
    SkillVersionObject,
)
from corral.context import ServiceContext
from corral.errors import InvalidRequest, NotFound
from corral.services import skills as skill_service
from corral.services.context import Principal
from corral.types.skills import SkillVersion

SOURCES = frozenset({"custom"})
"""The sources of the skills this server keeps: only those uploaded to the workspace."""


async def create(
    ctx: ServiceContext,
    principal: Principal,
    files: Sequence[UploadedFile],
    display_name: str | None,
) -> SkillObject:
    """Keep the uploaded files as a new skill at its first version."""
    label = translate.display_name(display_name)
    archive = await asyncio.to_thread(translate.pack, files)
    skill, _ = await skill_service.create(
        ctx, principal, archive=archive, display_name=label, field="/files"
    )
    return translate.skill_view(skill)


async def retrieve(ctx: ServiceContext, principal: Principal, skill_id: str) -> SkillObject:
    """The skill."""
    return translate.skill_view(await skill_service.get(ctx, principal, skill_id))


async def list_skills(
    ctx: ServiceContext, principal: Principal, *, limit: int, page: str | None, source: str | None
) -> CursorPage[SkillObject]:
    """Skills newest first; none from a source other than `custom`."""
    if source is not None and source not in SOURCES:
        return CursorPage(data=[], next_page=None)
    found, more = await skill_service.list_page(ctx, principal, limit=limit, after=page)
    data = [translate.skill_view(skill) for skill in found]
    return CursorPage(data=data, next_page=found[-1].id if more and found else None)


async def delete(ctx: ServiceContext, principal: Principal, skill_id: str) -> SkillDeleted:
    """Delete the skill with its versions."""
    await skill_service.delete(ctx, principal, skill_id)
    return SkillDeleted(id=skill_id)


async def create_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, files: Sequence[UploadedFile]
) -> SkillVersionObject:
    """Keep the uploaded files as the skill's newest version."""
    await skill_service.get(ctx, principal, skill_id)
    archive = await asyncio.to_thread(translate.pack, files)
    version = await skill_service.add_version(
        ctx, principal, skill_id, archive=archive, field="/files"
    )
    return translate.version_view(version)


async def retrieve_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> SkillVersionObject:
    """One version of the skill, or its newest for `latest`."""
    found = await skill_service.get_version(ctx, principal, skill_id, version)
    return translate.version_view(found)


async def list_versions(
    ctx: ServiceContext, principal: Principal, skill_id: str, *, limit: int, page: str | None
) -> CursorPage[SkillVersionObject]:
    """The skill's versions newest first."""
    found, more = await skill_service.list_versions(
        ctx, principal, skill_id, limit=limit, after=page
    )
    data = [translate.version_view(version) for version in found]
    return CursorPage(data=data, next_page=found[-1].id if more and found else None)


async def delete_version(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> SkillVersionDeleted:
    """Delete one version; the skill keeps at least one."""
    deleted = await skill_service.delete_version(ctx, principal, skill_id, version)
    return SkillVersionDeleted(id=deleted)


async def download(
    ctx: ServiceContext, principal: Principal, skill_id: str, version: str
) -> tuple[str, bytes]:
    """The version's archive: its file name (`<name>.zip`) and bytes."""
    found, archive = await skill_service.content(ctx, principal, skill_id, version)
    return f"{found.name}.zip", archive


async def spec_skills(
    ctx: ServiceContext, principal: Principal, refs: Sequence[AgentSkillRef], *, prefix: str = ""
) -> list[dict[str, str]]:
    """An agent's `skills` as its Corral spec's: the archive of each version named.

    A version left out, or `latest`, is the skill's newest now: the agent keeps that one.
    """
    translate.check_refs(refs, prefix=prefix)
    chosen: list[dict[str, str]] = []
    names: dict[str, int] = {}
    for index, ref in enumerate(refs):
        at = f"{prefix}/skills/{index}"
        try:
            skill = await skill_service.get(ctx, principal, ref.skill_id)
        except NotFound:
            raise NotFound(f"no skill {ref.skill_id!r}", field=f"{at}/skill_id") from None
        wanted = ref.version or skill_service.LATEST
        try:
            version = await skill_service.get_version(ctx, principal, skill.id, wanted)
        except NotFound:
            message = f"skill {skill.id!r} has no version {wanted!r}"
            raise NotFound(message, field=f"{at}/version") from None
        if version.name in names:
            raise InvalidRequest(
                f"{prefix}/skills/{names[version.name]} is a skill named {version.name!r} too: "
                "runs install skills by name",
                field=f"{at}/skill_id",
            )
        names[version.name] = index
        chosen.append({"file_id": version.file_id})
    return chosen


async def versions_of(
    ctx: ServiceContext, principal: Principal, spec_skills: Sequence[Mapping[str, Any]]
) -> dict[str, SkillVersion]:
    """The skill versions an agent spec's skill archives are, by file id."""
    file_ids = [ref["file_id"] for ref in spec_skills]
    if not file_ids:
        return {}
    return await skill_service.versions_of_files(ctx, principal, file_ids)


async def shown(
    ctx: ServiceContext, principal: Principal, spec_skills: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """An agent spec's skills as the API shows them."""
    return translate.skills_view(spec_skills, await versions_of(ctx, principal, spec_skills))
