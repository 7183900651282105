"""JSON as the adapters send and read it: request bodies encoded once, answers parsed as bytes.

The adapters build plain JSON values, so their bodies go out as bytes encoded here rather than
through the SDKs' own typed parameter handling, and streamed events are parsed straight from the
bytes of their frames.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def encode(body: Any) -> bytes:
    """`body` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits (in a tool's schema, say) are valid JSON orjson refuses.
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode(data: bytes) -> Any:
    """The JSON value of `data`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # A lone surrogate escape (half an emoji, cut by a token boundary) is valid JSON to the
        # standard library but not to orjson; anything else fails here again.
        return json.loads(data)
