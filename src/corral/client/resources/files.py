"""`client.files` (uploads) and `client.runs.outputs` (the files a run left behind).

An upload is the file's bytes as the request body, named by `?name=`; downloads come back as
bytes.
"""

from __future__ import annotations

import asyncio
import builtins
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.files import File, RunFileRef, RunOutput, RunOutputList, SkillRef

FileSource = str | os.PathLike[str] | bytes
"""What `files.create` uploads: a path on this machine, or the bytes themselves."""
FileRefLike = RunFileRef | Mapping[str, Any]
"""An input file of a run: `{"path", "file_id"}` or `{"path", "content", "encoding"?}`."""
SkillLike = File | SkillRef | str | Mapping[str, Any]
"""A skill of a run: an uploaded `File`, its id, or `{"file_id"}`."""


def file_refs(files: Sequence[FileRefLike]) -> list[dict[str, Any]]:
    """Input files as the request body holds them."""
    return [
        ref.model_dump(exclude_unset=True) if isinstance(ref, RunFileRef) else dict(ref)
        for ref in files
    ]


def skill_refs(skills: Sequence[SkillLike]) -> list[dict[str, Any]]:
    """Skills as the request body holds them."""
    refs: list[dict[str, Any]] = []
    for skill in skills:
        if isinstance(skill, File | SkillRef):
            refs.append({"file_id": skill.id if isinstance(skill, File) else skill.file_id})
        elif isinstance(skill, str):
            refs.append({"file_id": skill})
        else:
            refs.append(dict(skill))
    return refs


def _name_and_bytes(file: FileSource, name: str | None) -> tuple[str, bytes | Path]:
    """The name to upload under, and the bytes or the path to read them from."""
    if isinstance(file, bytes):
        if name is None:
            raise ValueError("give name= when uploading bytes")
        return name, file
    path = Path(file)
    return name or path.name, path


def _upload_request(name: str, media_type: str | None) -> dict[str, Any]:
    return {
        "params": {"name": name},
        "headers": {"Content-Type": media_type or "application/octet-stream"},
    }


class Files(SyncResource):
    """`/v1/files`."""

    def create(
        self, file: FileSource, *, name: str | None = None, media_type: str | None = None
    ) -> File:
        """Upload a file: a path, or bytes with `name`.

        Its media type is guessed from the name unless `media_type` says it.
        """
        upload_name, source = _name_and_bytes(file, name)
        content = source.read_bytes() if isinstance(source, Path) else source
        response = self._client.request(
            "POST", "/v1/files", content=content, **_upload_request(upload_name, media_type)
        )
        return File.model_validate(response.json())

    def retrieve(self, file_id: str) -> File:
        """The file's name, type, size and digest."""
        response = self._client.request("GET", f"/v1/files/{segment(file_id)}")
        return File.model_validate(response.json())

    def list(self, *, limit: int | None = None) -> SyncPage[File]:
        """Files newest first (iterating the page walks all pages)."""
        return self._page("/v1/files", File, {"limit": limit})

    def content(self, file_id: str) -> bytes:
        """The file's bytes."""
        return self._client.request("GET", f"/v1/files/{segment(file_id)}/content").content

    def delete(self, file_id: str) -> None:
        """Delete the file."""
        self._client.request("DELETE", f"/v1/files/{segment(file_id)}")


class RunOutputs(SyncResource):
    """`/v1/runs/{id}/outputs`."""

    def list(self, run_id: str) -> builtins.list[RunOutput]:
        """Files the run created or changed, by path (none until it has ended)."""
        response = self._client.request("GET", f"/v1/runs/{segment(run_id)}/outputs")
        return RunOutputList.model_validate(response.json()).data

    def download(self, run_id: str, path: str) -> bytes:
        """One output's bytes."""
        quoted = "/".join(segment(part) for part in path.split("/"))
        return self._client.request("GET", f"/v1/runs/{segment(run_id)}/outputs/{quoted}").content

    def archive(self, run_id: str) -> bytes:
        """Every output of the ended run in one `.tar.gz`."""
        return self._client.request(
            "GET", f"/v1/runs/{segment(run_id)}/outputs", params={"archive": "tar.gz"}
        ).content


class AsyncFiles(AsyncResource):
    """`/v1/files`."""

    async def create(
        self, file: FileSource, *, name: str | None = None, media_type: str | None = None
    ) -> File:
        """Upload a file: a path, or bytes with `name`.

        Its media type is guessed from the name unless `media_type` says it.
        """
        upload_name, source = _name_and_bytes(file, name)
        content = await asyncio.to_thread(source.read_bytes) if isinstance(source, Path) else source
        response = await self._client.request(
            "POST", "/v1/files", content=content, **_upload_request(upload_name, media_type)
        )
        return File.model_validate(response.json())

    async def retrieve(self, file_id: str) -> File:
        """The file's name, type, size and digest."""
        response = await self._client.request("GET", f"/v1/files/{segment(file_id)}")
        return File.model_validate(response.json())

    async def list(self, *, limit: int | None = None) -> AsyncPage[File]:
        """Files newest first (iterating the page walks all pages)."""
        return await self._page("/v1/files", File, {"limit": limit})

    async def content(self, file_id: str) -> bytes:
        """The file's bytes."""
        response = await self._client.request("GET", f"/v1/files/{segment(file_id)}/content")
        return response.content

    async def delete(self, file_id: str) -> None:
        """Delete the file."""
        await self._client.request("DELETE", f"/v1/files/{segment(file_id)}")


class AsyncRunOutputs(AsyncResource):
    """`/v1/runs/{id}/outputs`."""

    async def list(self, run_id: str) -> builtins.list[RunOutput]:
        """Files the run created or changed, by path (none until it has ended)."""
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}/outputs")
        return RunOutputList.model_validate(response.json()).data

    async def download(self, run_id: str, path: str) -> bytes:
        """One output's bytes."""
        quoted = "/".join(segment(part) for part in path.split("/"))
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}/outputs/{quoted}")
        return response.content

    async def archive(self, run_id: str) -> bytes:
        """Every output of the ended run in one `.tar.gz`."""
        response = await self._client.request(
            "GET", f"/v1/runs/{segment(run_id)}/outputs", params={"archive": "tar.gz"}
        )
        return response.content
