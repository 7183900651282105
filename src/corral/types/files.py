"""Files: uploads a run can take in (as inputs or skills) and the files a run leaves behind."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from corral.types.common import ParamsModel, WireModel

MAX_RUN_FILES = 256
"""Most input files one run may take."""
MAX_RUN_SKILLS = 32
"""Most skills one run may take."""
MAX_PATH_BYTES = 1024
"""Longest workspace path of an input or an output, in UTF-8 bytes."""
MAX_NAME_BYTES = 255
"""Longest path component (the file system's own limit)."""


def check_workspace_path(value: str) -> str:
    """A path relative to the run's workspace, normalized (`./a//b` → `a/b`).

    Absolute paths and `..` are refused: input files land inside the workspace or nowhere.
    """
    if value.startswith("/"):
        raise ValueError("must be relative to the workspace, not absolute")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if not parts:
        raise ValueError("must name a file in the workspace")
    if ".." in parts:
        raise ValueError("must not contain '..'")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if any(len(part.encode(errors="replace")) > MAX_NAME_BYTES for part in parts):
        raise ValueError(f"each part must be at most {MAX_NAME_BYTES} bytes")
    normalized = "/".join(parts)
    if len(normalized.encode(errors="replace")) > MAX_PATH_BYTES:
        raise ValueError(f"must be at most {MAX_PATH_BYTES} bytes")
    return normalized


WorkspacePath = Annotated[str, AfterValidator(check_workspace_path)]
"""A relative path inside a run's workspace (`data/input.csv`)."""
FileId = Annotated[str, Field(min_length=1, max_length=100)]
"""The id of an uploaded file (`file_…`)."""


class RunFileRef(ParamsModel):
    """A file placed in the run's workspace before its first turn: an upload, or given inline."""

    path: WorkspacePath
    """Where it goes, relative to the workspace (`data/input.csv`)."""
    file_id: FileId | None = None
    """An uploaded file (`POST /v1/files`)."""
    content: str | None = None
    """The file's content, inline (for small files), instead of `file_id`."""
    encoding: Literal["utf-8", "base64"] = "utf-8"
    """How `content` is written: as text, or base64 for binary data."""

    @model_validator(mode="after")
    def _one_source(self) -> RunFileRef:
        if (self.file_id is None) == (self.content is None):
            raise PydanticCustomError(
                "file_source", "give exactly one of 'file_id' or 'content'", {"field": "file_id"}
            )
        if self.file_id is not None and "encoding" in self.model_fields_set:
            raise PydanticCustomError(
                "file_source", "'encoding' goes with 'content'", {"field": "encoding"}
            )
        if self.content is not None and self.encoding == "base64":
            try:
                base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError):
                raise PydanticCustomError(
                    "base64", "content is not valid base64", {"field": "content"}
                ) from None
        return self

    def data(self) -> bytes | None:
        """The inline content as bytes (None for an upload)."""
        if self.content is None:
            return None
        if self.encoding == "base64":
            return base64.b64decode(self.content, validate=True)
        return self.content.encode()


class SkillRef(ParamsModel):
    """A skill for the run: an uploaded `.zip` or `.tar.gz` of a folder holding a `SKILL.md`."""

    file_id: FileId
    """The uploaded archive (`POST /v1/files`)."""


RunFiles = Annotated[list[RunFileRef], Field(max_length=MAX_RUN_FILES)]
RunSkills = Annotated[list[SkillRef], Field(max_length=MAX_RUN_SKILLS)]


class File(WireModel):
    """An uploaded file (its content is at `GET /v1/files/{id}/content`)."""

    id: str
    name: str
    """The file's name, as uploaded."""
    media_type: str
    """Its content type (`text/csv`), as given or guessed from the name."""
    size: int
    """Size in bytes."""
    sha256: str
    """Hex SHA-256 digest of the content."""
    created_at: datetime


class RunOutput(WireModel):
    """A file the run created or changed in its workspace."""

    path: str
    """Where it is, relative to the workspace."""
    size: int
    """Size in bytes."""
    sha256: str
    """Hex SHA-256 digest of the content."""
    created_at: datetime
    """When it was collected (as the run ended)."""


class RunOutputList(WireModel):
    """The outputs of a run, by path."""

    data: list[RunOutput]
    """Empty until the run has ended: outputs are collected as it ends."""


OutputArchive = Literal["tar.gz"]
"""The archive format `GET /v1/runs/{id}/outputs?archive=` builds."""
