"""`/v1/files` (uploads) and `/v1/runs/{id}/outputs` (the files a run left behind)."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response

from corral.api.deps import Call, Guarded
from corral.api.middleware import BodyLimit
from corral.api.openapi import KEYED_ERRORS, errors
from corral.api.responses import JSONBody, respond
from corral.errors import InvalidRequest, NotFound, PayloadTooLarge, RunActive, StorageLimitReached
from corral.services import files as file_service
from corral.settings import Settings
from corral.types.files import File, OutputArchive, RunOutputList
from corral.types.pages import FilePage

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(tags=["files"], responses=errors(*KEYED_ERRORS))


MULTIPART_SLACK_BYTES = 64 * 1024
"""Room for the multipart envelope (boundaries, part headers, a `name` field) around a file."""

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A multipart form with the file in `file` (and optionally its `name`), "
        "or the file itself as the body, named by `?name=`.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "maxLength": 255},
                    },
                    "required": ["file"],
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


_BYTES = {
    "description": "The bytes, as an attachment of their media type (`Content-Disposition`).",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}
"""A download: its media type is the file's own, whatever that is."""


def upload_limit(settings: Settings) -> BodyLimit:
    """The body limit of `POST /v1/files`: a file of `max_file_bytes` and its envelope."""
    return BodyLimit(
        max_bytes=max(settings.max_body_bytes, settings.max_file_bytes + MULTIPART_SLACK_BYTES),
        field="file",
    )


def attachment(name: str) -> str:
    """A `Content-Disposition` that makes clients save the bytes under `name`."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _download(content: bytes, media_type: str, name: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": attachment(name), "X-Content-Type-Options": "nosniff"},
    )


async def _from_form(
    call: Call, request: Request, name: str | None
) -> tuple[str | None, str | None, bytes]:
    """The name, stated type and content of a multipart upload."""
    try:
        async with request.form(max_files=1, max_fields=1) as form:
            unknown = sorted(set(form.keys()) - {"file", "name"})
            if unknown:
                raise InvalidRequest(
                    "unknown form field (a form has `file` and `name`)", field=unknown[0]
                )
            part, given_name = form.get("file"), form.get("name")
            if isinstance(given_name, str) and given_name:
                name = given_name
            if isinstance(part, UploadFile):
                if part.size is not None:
                    file_service.check_size(call.ctx, part.size)
                return name or part.filename, part.content_type, await part.read()
            if isinstance(part, str):
                return name, None, part.encode()
    except HTTPException as error:
        message = f"the multipart body is invalid: {error.detail}"
        raise InvalidRequest(message, field="file") from None
    raise InvalidRequest("a multipart upload carries the file in a `file` part", field="file")


@router.post(
    "/v1/files",
    status_code=201,
    response_model=File,
    openapi_extra=_UPLOAD_BODY,
    responses=errors(PayloadTooLarge, StorageLimitReached),
)
async def upload_file(
    request: Request,
    call: Guarded,
    name: Annotated[str | None, Query(max_length=255)] = None,
) -> JSONBody:
    """Upload a file: a multipart form (`file`, `name`), or the raw body named by `?name=`.

    Files larger than `CORRAL_MAX_FILE_BYTES` answer 413 `payload_too_large`.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        name, media_type, content = await _from_form(call, request, name)
    else:
        media_type, content = content_type, await request.body()
    file = await file_service.upload(
        call.ctx, call.principal, name=name, media_type=media_type, content=content
    )
    return respond(file, 201)


@router.get("/v1/files", response_model=FilePage)
async def list_files(
    call: Guarded,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> JSONBody:
    """Files newest first."""
    return respond(
        await file_service.list_files(call.ctx, call.principal, limit=limit, cursor=cursor)
    )


@router.get("/v1/files/{file_id}", response_model=File, responses=errors(NotFound))
async def get_file(file_id: str, call: Guarded) -> JSONBody:
    """A file's name, type, size and digest."""
    return respond(await file_service.get(call.ctx, call.principal, file_id))


@router.get(
    "/v1/files/{file_id}/content",
    response_class=Response,
    responses={200: _BYTES, **errors(NotFound)},
)
async def get_file_content(file_id: str, call: Guarded) -> Response:
    """The file's bytes, as an attachment of its media type."""
    file, content = await file_service.content(call.ctx, call.principal, file_id)
    return _download(content, file.media_type, file.name)


@router.delete("/v1/files/{file_id}", status_code=204, responses=errors(NotFound))
async def delete_file(file_id: str, call: Guarded) -> Response:
    """Delete a file."""
    await file_service.delete(call.ctx, call.principal, file_id)
    return Response(status_code=204)


@router.get(
    "/v1/runs/{run_id}/outputs",
    response_model=RunOutputList,
    responses={
        200: {
            "content": {"application/gzip": {}},
            "description": "The outputs, or with `archive=tar.gz` all of them in one archive.",
        },
        **errors(NotFound, RunActive),
    },
)
async def list_outputs(
    run_id: str, call: Guarded, archive: OutputArchive | None = None
) -> Response:
    """Files the run created or changed, collected when it ended (none before).

    With `archive=tar.gz`, every output in one gzip'd tar instead.
    """
    if archive is None:
        return respond(await file_service.list_outputs(call.ctx, call.principal, run_id))
    bundle = await file_service.archive(call.ctx, call.principal, run_id)
    return _download(bundle, "application/gzip", f"{run_id}-outputs.tar.gz")


@router.get(
    "/v1/runs/{run_id}/outputs/{path:path}",
    response_class=Response,
    responses={
        200: _BYTES,
        **errors(NotFound, RunActive),
    },
)
async def get_output(run_id: str, path: str, call: Guarded) -> Response:
    """One output's bytes (404 `not_found`, field `path`, when the run has no such output)."""
    output, content = await file_service.output(call.ctx, call.principal, run_id, path)
    media_type = mimetypes.guess_type(output.path, strict=False)[0] or "application/octet-stream"
    return _download(content, media_type, output.path.rsplit("/", 1)[-1])
