"""Skills of the API as Corral skill archives, and an agent's skills both ways.

The files of an upload become one `.zip` built in memory: their paths are checked here, and the
archive again by `services.skills` with the reader runs install skills with. Nothing is
extracted or written anywhere.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.compat.anthropic.wire.agents import AgentSkillRef
from corral.compat.anthropic.wire.skills import SkillObject, SkillVersionObject
from corral.errors import InvalidRequest
from corral.tools.skills import MAX_SKILL_BYTES, MAX_SKILL_ENTRIES
from corral.types.files import check_workspace_path
from corral.types.skills import MAX_SKILL_DISPLAY_NAME_CHARS, Skill, SkillVersion

MAX_SKILL_FILES = MAX_SKILL_ENTRIES
"""Most files one upload may hold (an installed skill holds as many entries at most)."""
_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The date of every packed entry: the same files always pack to the same bytes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UploadedFile:
    """One file of a skill upload: its path (`my-skill/SKILL.md`) and bytes."""

    path: str
    content: bytes


def _path(given: str, index: int) -> tuple[str, ...]:
    """The parts of a file's path inside the upload; refuses escapes and loose files."""
    field = f"/files/{index}"
    if "\\" in given or any(ord(c) < 32 or ord(c) == 127 for c in given):
        raise InvalidRequest(
            f"the file path {given[:80]!r} must use '/' between folders and hold no control "
            "characters",
            field=field,
        )
    try:
        normalized = check_workspace_path(given)
    except ValueError as error:
        raise InvalidRequest(f"the file path {given[:80]!r} {error}", field=field) from None
    parts = tuple(normalized.split("/"))
    if len(parts) < 2:
        raise InvalidRequest(
            f"the file {given!r} must be inside the skill's folder (`my-skill/SKILL.md`)",
            field=field,
        )
    return parts


def _check_layout(paths: list[tuple[str, ...]]) -> str:
    """The one top-level folder of the upload, holding a SKILL.md."""
    top = paths[0][0]
    taken: dict[tuple[str, ...], int] = {}
    for index, parts in enumerate(paths):
        if parts[0] != top:
            raise InvalidRequest(
                f"every file must be in one top-level folder: {top!r} and {parts[0]!r} are two",
                field=f"/files/{index}",
            )
        if parts in taken:
            raise InvalidRequest(
                f"/files/{taken[parts]} has the path {'/'.join(parts)!r} too",
                field=f"/files/{index}",
            )
        taken[parts] = index
    for index, parts in enumerate(paths):
        for depth in range(2, len(parts)):
            if parts[:depth] in taken:
                raise InvalidRequest(
                    f"{'/'.join(parts[:depth])!r} is a file (/files/{taken[parts[:depth]]}), "
                    "not a folder",
                    field=f"/files/{index}",
                )
    if (top, "SKILL.md") not in taken:
        raise InvalidRequest(
            f"the upload has no SKILL.md at the root of its folder ({top}/SKILL.md)",
            field="/files",
        )
    return top


def pack(files: Sequence[UploadedFile]) -> bytes:
    """The uploaded files as one `.zip` of their folder, in memory.

    A file starting with `#!` is packed executable (an upload carries no file modes).

    Raises:
        InvalidRequest: naming the file at fault (`/files/N`), or `/files` for the upload.
    """
    if not files:
        raise InvalidRequest("give the skill's files, a SKILL.md among them", field="/files")
    if len(files) > MAX_SKILL_FILES:
        raise InvalidRequest(f"a skill holds at most {MAX_SKILL_FILES} files", field="/files")
    if sum(len(f.content) for f in files) > MAX_SKILL_BYTES:
        raise InvalidRequest(f"a skill holds at most {MAX_SKILL_BYTES} bytes", field="/files")
    paths = [_path(f.path, index) for index, f in enumerate(files)]
    _check_layout(paths)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for parts, given in sorted(zip(paths, files, strict=True), key=lambda pair: pair[0]):
            entry = zipfile.ZipInfo("/".join(parts), date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if given.content.startswith(b"#!") else 0o644
            entry.external_attr = (0o100000 | mode) << 16
            archive.writestr(entry, given.content)
    return buffer.getvalue()


def display_name(given: str | None) -> str | None:
    """A skill's label, checked: one line of at most 255 characters (None: from SKILL.md)."""
    if given is None or given == "":
        return None
    if len(given) > MAX_SKILL_DISPLAY_NAME_CHARS:
        raise InvalidRequest(
            f"display_name must be at most {MAX_SKILL_DISPLAY_NAME_CHARS} characters",
            field="/display_name",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in given):
        raise InvalidRequest("display_name must be a single line", field="/display_name")
    return given


def skill_view(skill: Skill) -> SkillObject:
    """A Corral skill as the API's."""
    return SkillObject(
        id=skill.id,
        display_name=skill.display_name,
        latest_version_id=skill.latest_version_id,
        created_at=skill.created_at,
        updated_at=skill.updated_at,
    )


def version_view(version: SkillVersion) -> SkillVersionObject:
    """A Corral skill version as the API's."""
    return SkillVersionObject(
        id=version.id,
        skill_id=version.skill_id,
        name=version.name,
        description=version.description,
        created_at=version.created_at,
    )


def check_refs(refs: Sequence[AgentSkillRef], *, prefix: str = "") -> None:
    """Refuse an agent's skills Corral cannot give it: Anthropic's own, or one named twice."""
    seen: dict[str, int] = {}
    for index, ref in enumerate(refs):
        if ref.type == "anthropic":
            raise InvalidRequest(
                f"this server has no Anthropic skills ({ref.skill_id!r}): upload the skill "
                "(skills.create) and give it as a custom skill",
                field=f"{prefix}/skills/{index}/type",
            )
        if ref.skill_id in seen:
            raise InvalidRequest(
                f"{prefix}/skills/{seen[ref.skill_id]} names skill {ref.skill_id!r} too",
                field=f"{prefix}/skills/{index}/skill_id",
            )
        seen[ref.skill_id] = index


def skills_view(
    spec_skills: Sequence[Mapping[str, Any]], versions: Mapping[str, SkillVersion]
) -> list[dict[str, str]]:
    """An agent spec's skills as the API's: each archive that is a skill version, by version.

    `versions` maps archives to the versions they are; an archive given through `/v1` that is
    no version of a skill has no name in the API and is left out.
    """
    shown = []
    for ref in spec_skills:
        found = versions.get(ref["file_id"])
        if found is not None:
            shown.append({"type": "custom", "skill_id": found.skill_id, "version": found.id})
    return shown
