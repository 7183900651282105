"""Skills: the skill and skill version objects answers carry, and their pages.

Creating a skill or a version sends a multipart form (`files`, `display_name`), not JSON: the
route reads it and `translate.skills` packs the files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from corral.compat.anthropic.wire.common import CursorPage, Wire


class SkillSource(Wire):
    """Where a skill comes from: always `custom` (uploaded to the workspace) on this server."""

    type: Literal["custom", "anthropic", "anthropic_example", "plugin"] = "custom"


class SkillObject(Wire):
    """A skill: its label and its newest version."""

    type: Literal["skill"] = "skill"
    id: str
    display_name: str
    latest_version_id: str
    source: SkillSource = Field(default_factory=SkillSource)
    created_at: datetime
    updated_at: datetime


class SkillVersionObject(Wire):
    """One uploaded version of a skill."""

    type: Literal["skill_version"] = "skill_version"
    id: str
    skill_id: str
    name: str
    """The `name` in its SKILL.md: the skill's folder where runs install it."""
    description: str
    created_at: datetime


class SkillDeleted(Wire):
    """The answer to deleting a skill."""

    type: Literal["skill_deleted"] = "skill_deleted"
    id: str


class SkillVersionDeleted(Wire):
    """The answer to deleting a skill version."""

    type: Literal["skill_version_deleted"] = "skill_version_deleted"
    id: str


class SkillPage(CursorPage[SkillObject]):
    """A page of skills."""


class SkillVersionPage(CursorPage[SkillVersionObject]):
    """A page of a skill's versions."""
