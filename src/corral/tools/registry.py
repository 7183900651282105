"""Resolves a run's tool references to what the model sees and who executes each call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.domain.tools import ToolSchema
from corral.errors import InvalidRequest
from corral.tools.base import Tool
from corral.tools.builtin import BUILTIN_TOOLS

CLIENT = "client"
SERVER = "server"


def validate_refs(refs: Sequence[dict[str, Any]], *, field: str = "/tools") -> None:
    """Reject references to tools this server does not have, and a name used twice."""
    seen: set[str] = set()
    for index, ref in enumerate(refs):
        if ref["name"] in seen:
            raise InvalidRequest(
                f"tool name {ref['name']!r} is used twice", field=f"{field}/{index}/name"
            )
        seen.add(ref["name"])
        if ref["type"] == "builtin" and ref["name"] not in BUILTIN_TOOLS:
            available = ", ".join(sorted(BUILTIN_TOOLS)) or "none"
            raise InvalidRequest(
                f"unknown builtin tool {ref['name']!r} (available: {available})",
                field=f"{field}/{index}/name",
            )


class ToolSet:
    """The tools of one run."""

    def __init__(self, refs: Sequence[dict[str, Any]]) -> None:
        self._refs = {ref["name"]: ref for ref in refs}

    def schemas(self) -> list[ToolSchema]:
        """The tools as offered to the model, in order."""
        schemas = []
        for ref in self._refs.values():
            if ref["type"] == "client":
                schemas.append(
                    ToolSchema(
                        name=ref["name"],
                        description=ref.get("description", ""),
                        parameters=ref.get("parameters") or {"type": "object", "properties": {}},
                    )
                )
            else:
                tool = BUILTIN_TOOLS[ref["name"]]
                schemas.append(
                    ToolSchema(
                        name=tool.name, description=tool.description, parameters=tool.parameters
                    )
                )
        return schemas

    def kind(self, name: str) -> str:
        """`client` when the caller executes the tool, otherwise `server`."""
        ref = self._refs.get(name)
        return CLIENT if ref is not None and ref["type"] == "client" else SERVER

    def client_timeout_s(self, name: str, default: float) -> float:
        """How long a run waits for the caller's result of this client tool."""
        ref = self._refs.get(name) or {}
        return float(ref.get("timeout_s") or default)

    def server_tool(self, name: str) -> Tool | None:
        """The tool Corral runs for `name`, or None when the model named no such tool."""
        ref = self._refs.get(name)
        if ref is None or ref["type"] != "builtin":
            return None
        return BUILTIN_TOOLS.get(name)
