"""Skills: archives of instructions and scripts, checked and installed into a workspace.

An archive (.zip or .tar.gz) is read entry by entry within count and size bounds, refusing links,
absolute paths and `..`, in memory; the run's environment then writes it beside the installed
skills and renames it into place, so a bad archive leaves no partial skill behind.
"""

from __future__ import annotations

import io
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from corral.types.files import MAX_PATH_BYTES

SKILLS_DIR = ".skills"
"""Where skills are installed, at the workspace's root (not collected as outputs)."""
MAX_SKILL_ENTRIES = 2_000
"""Most files and folders one skill archive may hold."""
MAX_SKILL_BYTES = 64 * 1024 * 1024
"""Largest total size of a skill's files once extracted."""
SKILL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_SKILL_DESCRIPTION_CHARS = 1024


class SkillError(ValueError):
    """A skill archive that cannot be installed; the message says why."""


@dataclass(frozen=True, kw_only=True)
class Skill:
    """An installed skill."""

    name: str
    description: str
    path: str
    """Its folder, relative to the workspace (`.skills/<name>`)."""


# -- skills ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    parts: tuple[str, ...]
    content: bytes | None
    """None for a folder."""
    executable: bool = False


def _entry_parts(name: str) -> tuple[str, ...] | None:
    """The path of an archive entry, or None for the archive's root; refuses escapes."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise SkillError(f"the archive entry {name!r} has an absolute path")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise SkillError(f"the archive entry {name!r} points outside its folder ('..')")
    if "\x00" in name or len(name.encode(errors="replace")) > MAX_PATH_BYTES:
        raise SkillError(f"the archive entry {name[:80]!r} has an invalid name")
    return parts or None


class _Budget:
    """Counts entries and bytes against the skill limits."""

    def __init__(self) -> None:
        self.entries = 0
        self.left = MAX_SKILL_BYTES

    def entry(self) -> None:
        self.entries += 1
        if self.entries > MAX_SKILL_ENTRIES:
            raise SkillError(f"the archive holds more than {MAX_SKILL_ENTRIES} entries")

    def read(self, handle: Any, declared: int) -> bytes:
        if declared > self.left:
            raise SkillError(f"the skill is larger than {MAX_SKILL_BYTES} bytes extracted")
        content: bytes = handle.read(self.left + 1)
        if len(content) > self.left:
            raise SkillError(f"the skill is larger than {MAX_SKILL_BYTES} bytes extracted")
        self.left -= len(content)
        return content


def _zip_entries(archive: bytes) -> Iterator[_Entry]:
    budget = _Budget()
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        for info in bundle.infolist():
            budget.entry()
            parts = _entry_parts(info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise SkillError(f"{info.filename!r} is a link or special file, not a file")
            if parts is None:
                continue
            if info.is_dir():
                yield _Entry(parts, None)
                continue
            with bundle.open(info) as handle:
                content = budget.read(handle, info.file_size)
            yield _Entry(parts, content, bool(mode & 0o111))


def _tar_entries(archive: bytes) -> Iterator[_Entry]:
    budget = _Budget()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as bundle:
        for member in bundle:
            budget.entry()
            parts = _entry_parts(member.name)
            if not (member.isreg() or member.isdir()):
                raise SkillError(f"{member.name!r} is a link or special file, not a file")
            if parts is None:
                continue
            if member.isdir():
                yield _Entry(parts, None)
                continue
            handle = bundle.extractfile(member)
            assert handle is not None  # a regular member always has data
            yield _Entry(parts, budget.read(handle, member.size), bool(member.mode & 0o111))


def _entries(archive: bytes) -> list[_Entry]:
    reader = _zip_entries if archive[:4] in (b"PK\x03\x04", b"PK\x05\x06") else _tar_entries
    try:
        return list(reader(archive))
    except SkillError:
        raise
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,  # an encrypted zip entry
        NotImplementedError,  # a zip compression method Python lacks
        ValueError,
    ) as error:
        raise SkillError(f"not a readable .zip or .tar.gz archive: {error}") from None


def _skill_root(entries: list[_Entry]) -> list[_Entry]:
    """The entries of the skill's folder: the archive's root, or its one top-level folder."""
    entries = [e for e in entries if e.parts[0] != "__MACOSX"]
    files = {e.parts for e in entries if e.content is not None}
    if ("SKILL.md",) in files:
        return entries
    tops = {e.parts[0] for e in entries}
    if len(tops) == 1 and (*tops, "SKILL.md") in files:
        return [_Entry(e.parts[1:], e.content, e.executable) for e in entries if len(e.parts) > 1]
    raise SkillError("the archive has no SKILL.md at its root or in its one top-level folder")


def _front_matter(skill_md: bytes) -> dict[str, Any]:
    try:
        text = skill_md.decode().lstrip("\ufeff")
    except UnicodeDecodeError:
        raise SkillError("SKILL.md is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise SkillError("SKILL.md must start with YAML front matter ('---', name, description)")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise SkillError("the front matter of SKILL.md has no closing '---' line")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as error:
        raise SkillError(f"the front matter of SKILL.md is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise SkillError("the front matter of SKILL.md must be a mapping (name, description)")
    return data


def _manifest(skill_md: bytes) -> tuple[str, str]:
    """The skill's name and description, checked."""
    data = _front_matter(skill_md)
    name, description = data.get("name"), data.get("description", "")
    if not isinstance(name, str) or not name.strip():
        raise SkillError("SKILL.md has no 'name' in its front matter")
    name = name.strip()
    if not SKILL_NAME.match(name):
        raise SkillError(
            f"the skill name {name!r} must be 1-64 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    if not isinstance(description, str):
        raise SkillError("the 'description' of SKILL.md must be text")
    description = " ".join(description.split())
    if len(description) > MAX_SKILL_DESCRIPTION_CHARS:
        raise SkillError(f"the description is longer than {MAX_SKILL_DESCRIPTION_CHARS} chars")
    return name, description


def read_skill(archive: bytes) -> tuple[str, str]:
    """Check a skill archive without installing it: its name and description.

    Raises:
        SkillError: it is not a readable archive, escapes its folder, holds links, is too
            large, or its SKILL.md or the name in it is missing.
    """
    entries = _skill_root(_entries(archive))
    skill_md = next(e.content for e in entries if e.parts == ("SKILL.md",))
    assert skill_md is not None
    return _manifest(skill_md)


@dataclass(frozen=True, kw_only=True)
class SkillFile:
    """One entry of an unpacked skill: a folder (`content` None) or a file."""

    path: str
    """Relative to the skill's folder, `/`-separated."""
    content: bytes | None
    executable: bool = False


@dataclass(frozen=True, kw_only=True)
class UnpackedSkill:
    """A checked skill archive, ready to be installed by the run's environment."""

    name: str
    description: str
    files: list[SkillFile]

    @property
    def path(self) -> str:
        """Where it is installed, relative to the workspace."""
        return f"{SKILLS_DIR}/{self.name}"


def install_request(skill: UnpackedSkill) -> tuple[dict[str, Any], bytes]:
    """The fields and payload of the environment's `install_skill` request for `skill`."""
    entries: list[dict[str, Any]] = []
    contents: list[bytes] = []
    for item in skill.files:
        if item.content is None:
            entries.append({"path": item.path, "dir": True})
        else:
            entries.append(
                {"path": item.path, "size": len(item.content), "executable": item.executable}
            )
            contents.append(item.content)
    return {"name": skill.name, "entries": entries}, b"".join(contents)


def unpack_skill(archive: bytes) -> UnpackedSkill:
    """Check and unpack a skill archive in memory, writing nothing.

    Raises:
        SkillError: as `read_skill`.
    """
    entries = _skill_root(_entries(archive))
    skill_md = next(e.content for e in entries if e.parts == ("SKILL.md",))
    assert skill_md is not None
    name, description = _manifest(skill_md)
    files = [
        SkillFile(path="/".join(e.parts), content=e.content, executable=e.executable)
        for e in entries
    ]
    return UnpackedSkill(name=name, description=description, files=files)


def announce(skills: Sequence[Skill]) -> str:
    """What the model is told about its skills, appended to its instructions ('' for none)."""
    if not skills:
        return ""
    lines = [
        "## Skills",
        "",
        "Your workspace holds skills: folders of instructions, scripts and resources for "
        "particular tasks. When a task matches a skill's description, read its SKILL.md in "
        "full before you start and follow it; paths in a SKILL.md are relative to its folder.",
        "",
    ]
    for skill in skills:
        summary = skill.description or "(no description)"
        lines.append(f"- {skill.name}: {summary} (read {skill.path}/SKILL.md)")
    return "\n".join(lines)
