"""Skills kept by name: versioned skill archives an agent can name instead of a bare upload.

Each version is an uploaded skill archive (`File`, `.zip`); an agent's spec names the archive of
the version it uses (`SkillRef {file_id}`), so runs install it as any other skill.
"""

from __future__ import annotations

from datetime import datetime

from corral.types.common import WireModel

MAX_SKILL_DISPLAY_NAME_CHARS = 255
"""Longest label of a skill."""


class Skill(WireModel):
    """A named, versioned skill of a workspace."""

    id: str
    display_name: str
    """A label, not unique; the name in its first SKILL.md when none is given."""
    name: str
    """The `name` of its SKILL.md: the same in every version, and its folder under `.skills/`."""
    latest_version_id: str
    """Its newest version: what an agent asking for the latest gets."""
    created_at: datetime
    updated_at: datetime
    """When a version was last added or deleted."""


class SkillVersion(WireModel):
    """One uploaded version of a skill, kept as a skill archive."""

    id: str
    skill_id: str
    name: str
    """The `name` of its SKILL.md."""
    description: str
    """The `description` of its SKILL.md."""
    file_id: str
    """The archive (a `.zip` upload of the workspace) that runs install."""
    created_at: datetime
