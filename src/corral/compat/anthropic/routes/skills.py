"""`/anthropic/v1/skills`: skills and their versions, uploaded as multipart forms of files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response

from corral.api.openapi import BODY_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.api.routes.files import attachment
from corral.compat.anthropic import skills as service
from corral.compat.anthropic.routes.protocol import (
    ERRORS,
    PREFIX,
    Caller,
    ProtocolRoute,
    api_errors,
)
from corral.compat.anthropic.translate.skills import MAX_SKILL_FILES, UploadedFile
from corral.compat.anthropic.wire.skills import (
    SkillDeleted,
    SkillObject,
    SkillPage,
    SkillVersionDeleted,
    SkillVersionObject,
    SkillVersionPage,
)
from corral.errors import Conflict, InvalidRequest

router = APIRouter(prefix=PREFIX, tags=["anthropic"], route_class=ProtocolRoute, responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=1000)]
_FILE_PARTS = frozenset({"files", "files[]"})
"""The SDK names its file parts `files[]`; other clients send `files`."""
_UPLOAD = errors(*BODY_ERRORS)
_VERSION = "/skills/{skill_id}/versions/{version}"


def _upload_body(*, with_display_name: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "The skill's files, each named by its path (`my-skill/SKILL.md`): "
            "one top-level folder holding a SKILL.md.",
        }
    }
    if with_display_name:
        properties["display_name"] = {"type": "string", "maxLength": 255}
    schema = {"type": "object", "properties": properties, "required": ["files"]}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


async def _form(
    request: Request, *, with_display_name: bool
) -> tuple[list[UploadedFile], str | None]:
    """The files of a multipart upload, in order, and its `display_name`."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest("send the skill's files as a multipart/form-data body", field="/files")
    allowed = _FILE_PARTS | ({"display_name"} if with_display_name else frozenset())
    files: list[UploadedFile] = []
    label: str | None = None
    try:
        async with request.form(max_files=MAX_SKILL_FILES, max_fields=4) as form:
            for key, part in form.multi_items():
                if key not in allowed:
                    raise InvalidRequest(f"unknown form field {key!r}", field=f"/{key}")
                if key == "display_name":
                    if not isinstance(part, str):
                        raise InvalidRequest("display_name is text", field="/display_name")
                    label = part
                elif isinstance(part, UploadFile):
                    files.append(UploadedFile(path=part.filename or "", content=await part.read()))
                else:
                    raise InvalidRequest(
                        "each part of `files` is a file named by its path",
                        field=f"/files/{len(files)}",
                    )
    except HTTPException as error:
        raise InvalidRequest(
            f"the multipart body is invalid: {error.detail}", field="/files"
        ) from None
    return files, label


@router.post(
    "/skills",
    response_model=SkillObject,
    openapi_extra=_upload_body(with_display_name=True),
    responses=_UPLOAD,
)
async def create_skill(request: Request, call: Caller) -> JSONBody:
    """Create a skill from its files (a folder holding a SKILL.md) at its first version."""
    files, label = await _form(request, with_display_name=True)
    return respond(await service.create(call.ctx, call.principal, files, label))


@router.get("/skills", response_model=SkillPage)
async def list_skills(
    call: Caller, limit: Limit = 20, page: str | None = None, source: str | None = None
) -> JSONBody:
    """Skills, newest first."""
    found = await service.list_skills(
        call.ctx, call.principal, limit=limit, page=page, source=source
    )
    return respond(found)


@router.get("/skills/{skill_id}", response_model=SkillObject)
async def retrieve_skill(skill_id: str, call: Caller) -> JSONBody:
    """The skill."""
    return respond(await service.retrieve(call.ctx, call.principal, skill_id))


@router.delete("/skills/{skill_id}", response_model=SkillDeleted)
async def delete_skill(skill_id: str, call: Caller) -> JSONBody:
    """Delete the skill, its versions and their archives."""
    return respond(await service.delete(call.ctx, call.principal, skill_id))


@router.post(
    "/skills/{skill_id}/versions",
    response_model=SkillVersionObject,
    openapi_extra=_upload_body(with_display_name=False),
    responses=_UPLOAD,
)
async def create_version(skill_id: str, request: Request, call: Caller) -> JSONBody:
    """Add a version from its files; its SKILL.md keeps the skill's name."""
    files, _ = await _form(request, with_display_name=False)
    return respond(await service.create_version(call.ctx, call.principal, skill_id, files))


@router.get("/skills/{skill_id}/versions", response_model=SkillVersionPage)
async def list_versions(
    skill_id: str, call: Caller, limit: Limit = 20, page: str | None = None
) -> JSONBody:
    """The skill's versions, newest first."""
    found = await service.list_versions(call.ctx, call.principal, skill_id, limit=limit, page=page)
    return respond(found)


@router.get(_VERSION, response_model=SkillVersionObject)
async def retrieve_version(skill_id: str, version: str, call: Caller) -> JSONBody:
    """One version, or the newest for `latest`."""
    return respond(await service.retrieve_version(call.ctx, call.principal, skill_id, version))


@router.delete(_VERSION, response_model=SkillVersionDeleted, responses=api_errors(Conflict))
async def delete_version(skill_id: str, version: str, call: Caller) -> JSONBody:
    """Delete a version and its archive; the last one is kept (409)."""
    return respond(await service.delete_version(call.ctx, call.principal, skill_id, version))


@router.get(
    f"{_VERSION}/content",
    response_class=Response,
    responses={
        200: {
            "description": "The version's files as one `.zip` of their folder.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def download_version(skill_id: str, version: str, call: Caller) -> Response:
    """The version's files, as a `.zip` of their folder."""
    name, archive = await service.download(call.ctx, call.principal, skill_id, version)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(name), "X-Content-Type-Options": "nosniff"},
    )
