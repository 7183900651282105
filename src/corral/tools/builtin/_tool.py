"""What every builtin tool shares: arguments declared once as a pydantic model.

The model gives both the JSON Schema the LLM sees and the validation of what it sends, so the
two never disagree; a call with bad arguments is answered with an error naming the field.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from corral.tools.base import ToolContext, ToolFailure, ToolOutcome, bound_output
from corral.tools.workspace import PathOutsideWorkspace, Workspace


class Arguments(BaseModel):
    """Base of tool arguments: unknown fields are refused, descriptions come from docstrings."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


A = TypeVar("A", bound=Arguments)


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without pydantic's titles, which only cost the model tokens."""
    schema.pop("title", None)
    for value in schema.get("properties", {}).values():
        value.pop("title", None)
    for definition in schema.get("$defs", {}).values():
        _clean(definition)
    return schema


class BuiltinTool(Generic[A]):
    """A tool Corral runs itself, with typed arguments."""

    name: ClassVar[str]
    description: ClassVar[str]
    arguments: ClassVar[type[Arguments]]
    needs_files: ClassVar[bool] = True

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The arguments' JSON Schema."""
        return _clean(self.arguments.model_json_schema())

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Validate, execute, bound the output; failures become the tool's error."""
        try:
            args = self.arguments.model_validate(arguments)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in error.errors()
            )
            return ToolOutcome(error=f"invalid arguments for {self.name}: {problems}")
        try:
            output = await self.call(args, context)  # type: ignore[arg-type]
        except (ToolFailure, PathOutsideWorkspace) as failure:
            return ToolOutcome(error=bound_output(str(failure)))
        except OSError as error:
            return ToolOutcome(error=f"{self.name}: {error.strerror or error}")
        return ToolOutcome(output=bound_output(output))

    async def call(self, args: A, context: ToolContext) -> str:
        """The tool's work; raise `ToolFailure` for errors the model should see."""
        raise NotImplementedError


def workdir_of(context: ToolContext) -> Workspace:
    """The run's workspace (the runtime opens it before calling a tool that needs it)."""
    if context.workdir is None:
        raise ToolFailure("this run has no workspace")
    return context.workdir
