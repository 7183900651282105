"""JSON responses: pydantic models and dicts rendered once, without response-model revalidation."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response


class JSONBody(Response):
    """A JSON response rendered with orjson (dicts) or pydantic's serializer (models)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode the body."""
        if isinstance(content, BaseModel):
            return content.__pydantic_serializer__.to_json(content)
        return orjson.dumps(content)


def respond(content: Any, status_code: int = 200) -> JSONBody:
    """Render `content` as the response body."""
    return JSONBody(content, status_code=status_code)


def respond_raw(answer: tuple[int, str]) -> Response:
    """A response whose JSON body is already encoded (a stored idempotent answer)."""
    status_code, body = answer
    return Response(body, status_code=status_code, media_type="application/json")
