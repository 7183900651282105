"""SkillStore: a workspace's skills kept by name, and their versions (each an archive upload)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables_skills import skill_versions, skills
from corral.types.skills import Skill, SkillVersion

__all__ = [
    "delete_skill",
    "delete_version",
    "get_skill",
    "get_version",
    "hold_skill",
    "insert_skill",
    "insert_version",
    "list_skills",
    "list_versions",
    "set_latest",
    "version_ids",
    "versions_of_files",
]


def _skill(row: Any) -> Skill:
    return Skill.model_validate({k: v for k, v in row.items() if k != "workspace_id"})


def _version(row: Any) -> SkillVersion:
    return SkillVersion.model_validate({k: v for k, v in row.items() if k != "workspace_id"})


def _of_skill(workspace_id: str, skill_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(skills.c.id == skill_id, skills.c.workspace_id == workspace_id)


def _of_versions(workspace_id: str, skill_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        skill_versions.c.skill_id == skill_id, skill_versions.c.workspace_id == workspace_id
    )


def insert_skill(conn: sa.Connection, workspace_id: str, skill: Skill) -> None:
    """Store a new skill (its first version goes in with `insert_version`)."""
    conn.execute(skills.insert().values(workspace_id=workspace_id, **skill.model_dump()))


def insert_version(conn: sa.Connection, workspace_id: str, version: SkillVersion) -> None:
    """Store a version of a skill."""
    conn.execute(skill_versions.insert().values(workspace_id=workspace_id, **version.model_dump()))


def get_skill(conn: sa.Connection, workspace_id: str, skill_id: str) -> Skill | None:
    """The skill, or None when it is not the workspace's."""
    found = conn.execute(sa.select(skills).where(_of_skill(workspace_id, skill_id))).mappings()
    row = found.first()
    return None if row is None else _skill(row)


def hold_skill(conn: sa.Connection, workspace_id: str, skill_id: str) -> Skill | None:
    """The skill, locked until the transaction ends (SQLite serialises writers already)."""
    query = sa.select(skills).where(_of_skill(workspace_id, skill_id)).with_for_update()
    row = conn.execute(query).mappings().first()
    return None if row is None else _skill(row)


def list_skills(
    conn: sa.Connection, workspace_id: str, *, limit: int, before_id: str | None
) -> list[Skill]:
    """Skills newest first."""
    query = sa.select(skills).where(skills.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(skills.c.id < before_id)
    rows = conn.execute(query.order_by(skills.c.id.desc()).limit(limit)).mappings()
    return [_skill(row) for row in rows]


def get_version(
    conn: sa.Connection, workspace_id: str, skill_id: str, version_id: str
) -> SkillVersion | None:
    """The skill's version, or None."""
    query = sa.select(skill_versions).where(
        _of_versions(workspace_id, skill_id), skill_versions.c.id == version_id
    )
    row = conn.execute(query).mappings().first()
    return None if row is None else _version(row)


def list_versions(
    conn: sa.Connection, workspace_id: str, skill_id: str, *, limit: int, before_id: str | None
) -> list[SkillVersion]:
    """The skill's versions newest first."""
    query = sa.select(skill_versions).where(_of_versions(workspace_id, skill_id))
    if before_id is not None:
        query = query.where(skill_versions.c.id < before_id)
    rows = conn.execute(query.order_by(skill_versions.c.id.desc()).limit(limit)).mappings()
    return [_version(row) for row in rows]


def version_ids(conn: sa.Connection, workspace_id: str, skill_id: str) -> list[tuple[str, str]]:
    """Every version of the skill as (id, file id), newest first."""
    query = (
        sa.select(skill_versions.c.id, skill_versions.c.file_id)
        .where(_of_versions(workspace_id, skill_id))
        .order_by(skill_versions.c.id.desc())
    )
    return [(version_id, file_id) for version_id, file_id in conn.execute(query)]


def set_latest(
    conn: sa.Connection, workspace_id: str, skill_id: str, version_id: str, now: datetime
) -> None:
    """Make `version_id` the skill's latest version."""
    conn.execute(
        skills.update()
        .where(_of_skill(workspace_id, skill_id))
        .values(latest_version_id=version_id, updated_at=now)
    )


def delete_version(conn: sa.Connection, workspace_id: str, skill_id: str, version_id: str) -> None:
    """Delete one version of the skill."""
    conn.execute(
        skill_versions.delete().where(
            _of_versions(workspace_id, skill_id), skill_versions.c.id == version_id
        )
    )


def delete_skill(conn: sa.Connection, workspace_id: str, skill_id: str) -> None:
    """Delete the skill and its versions."""
    conn.execute(skill_versions.delete().where(_of_versions(workspace_id, skill_id)))
    conn.execute(skills.delete().where(_of_skill(workspace_id, skill_id)))


def versions_of_files(
    conn: sa.Connection, workspace_id: str, file_ids: Sequence[str]
) -> list[SkillVersion]:
    """The versions whose archives are among these files."""
    if not file_ids:
        return []
    query = sa.select(skill_versions).where(
        skill_versions.c.workspace_id == workspace_id, skill_versions.c.file_id.in_(set(file_ids))
    )
    return [_version(row) for row in conn.execute(query).mappings()]
