"""Agent manifests: a YAML file holding the body of `POST /v1/agents`, checked before any request.

The manifest is the whole spec: a field it leaves out takes its default, so applying a file
always leaves the agent exactly as the file describes it. Shape errors name the file and the
field, as a JSON pointer, like the server's `field`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from corral.cli.errors import CommandError
from corral.types.agents import AgentCreateParams, AgentSpec

CODE = "invalid_manifest"
HINT = "see `Agent manifests` in docs/cli.md"
FIELDS = ("name", *AgentSpec.model_fields)
"""The fields a manifest may have: those of the agent create body."""

SHOWN_PROBLEMS = 3
"""Most problems one error line lists."""


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A validated manifest: the agent's name and the rest of its spec."""

    name: str
    spec: dict[str, Any]
    """`description`, `model`, `instructions`, `tools`, `limits`, `metadata`, defaults filled in."""


def load(path: Path) -> Manifest:
    """Read and check the manifest at `path`; raises `CommandError` naming what is wrong."""
    document = _parse(path)
    if not isinstance(document, dict):
        found = "nothing" if document is None else type(document).__name__
        raise CommandError(CODE, f"{path}: expected a mapping of {', '.join(FIELDS)}; got {found}")
    try:
        params = AgentCreateParams.model_validate(document)
    except ValidationError as error:
        shown = error.errors()[:SHOWN_PROBLEMS]
        problems = [f"{_pointer(document, p['loc'])}: {_message(p)}" for p in shown]
        raise CommandError(CODE, f"{path}: {'; '.join(problems)}", HINT) from None
    spec = params.model_dump(mode="json", exclude={"name"}, exclude_none=True)
    return Manifest(name=params.name, spec=spec)


def _parse(path: Path) -> Any:
    # Imported here: only the commands that read a manifest pay for the YAML parser.
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(CODE, f"{path}: cannot read it: {error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "cannot parse it"
        raise CommandError(CODE, f"{path}: invalid YAML{where}: {problem}") from None


def _pointer(document: Any, location: tuple[int | str, ...]) -> str:
    """The JSON pointer of an error's place in the document.

    Steps that are no place in the document (such as a tool's `type` tag chosen by pydantic)
    are left out; a missing last key is kept, since that is the field to add.
    """
    parts: list[str] = []
    node = document
    for index, step in enumerate(location):
        if _has(node, step):
            node = node[step]
        elif index < len(location) - 1:
            continue
        parts.append(str(step))
    return "/" + "/".join(parts)


def _has(node: Any, step: int | str) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _message(problem: ErrorDetails) -> str:
    if problem["type"] == "extra_forbidden":
        if len(problem["loc"]) == 1:
            return f"unknown field (a manifest has {', '.join(FIELDS)})"
        return "unknown field"
    if problem["type"] == "missing":
        return "missing: this field is required"
    return str(problem["msg"])
