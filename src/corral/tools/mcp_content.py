"""What an MCP tool result reads like to the model: text kept, everything else described.

Binary content (images, audio, blobs) is summarized in one line and never pasted, and the text
is bounded like every other tool's output.
"""

from __future__ import annotations

import base64
import json

from mcp import types

from corral.tools.base import ToolOutcome, bound_output


def outcome(result: types.CallToolResult) -> ToolOutcome:
    """A tool result as the model reads it: text, with other content described in one line."""
    text = "\n".join(_describe(block) for block in result.content)
    if not result.content and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    if result.is_error:
        return ToolOutcome(error=bound_output(text or "the tool failed without a message"))
    return ToolOutcome(output=bound_output(text))


def _describe(block: types.ContentBlock) -> str:
    """One content block as text; binary content is described, never pasted."""
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        return f"[{block.type}: {block.mime_type}, {_decoded_size(block.data)} bytes, not shown]"
    if isinstance(block, types.ResourceLink):
        mime = f", {block.mime_type}" if block.mime_type else ""
        return f"[resource link: {block.uri} ({block.name}{mime})]"
    if isinstance(block, types.EmbeddedResource):
        resource = block.resource
        mime = f", {resource.mime_type}" if resource.mime_type else ""
        if isinstance(resource, types.TextResourceContents):
            return f"[resource: {resource.uri}{mime}]\n{resource.text}"
        size = _decoded_size(resource.blob)
        return f"[resource: {resource.uri}{mime}, {size} bytes, not shown]"
    return f"[{getattr(block, 'type', 'unknown')} content, not shown]"


def _decoded_size(data: str) -> int:
    """Bytes in a base64 payload."""
    try:
        return len(base64.b64decode(data, validate=False))
    except ValueError:
        return len(data) * 3 // 4
