"""What every builtin tool shares: arguments declared once as a pydantic model.

The model gives both the JSON Schema the LLM sees and the validation of what it sends, so the
two never disagree; a call with bad arguments is answered with an error naming the field. The
work itself happens in the run's environment: a tool here only validates, asks and words the
answer, so nothing an agent names is ever opened or matched by the server.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from corral.sandbox.channel import Answer
from corral.sandbox.environment import EnvironmentLost
from corral.tools.base import ToolContext, ToolFailure, ToolOutcome, Workspace, bound_output

FILE_TIMEOUT_S = 60.0
"""How long a file request (read, write, ls...) may take in the environment."""


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
    rerun_safe: ClassVar[bool] = False
    """Whether a call cut off by a worker's death may simply run again (it has no effects, or
    running it twice is the same as once); otherwise the model is told its effects are unknown."""

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
        except ToolFailure as failure:
            return ToolOutcome(error=bound_output(str(failure)))
        except EnvironmentLost as lost:
            return ToolOutcome(error=f"{self.name}: {lost}")
        return ToolOutcome(output=bound_output(output))

    async def call(self, args: A, context: ToolContext) -> str:
        """The tool's work; raise `ToolFailure` for errors the model should see."""
        raise NotImplementedError


def workspace_of(context: ToolContext) -> Workspace:
    """The run's environment (the runtime provides it to every tool that needs files)."""
    if context.workspace is None:
        raise ToolFailure("this run has no workspace")
    return context.workspace


def output_of(answer: Answer) -> str:
    """The text of a successful answer; a failed one is the tool's error."""
    if not answer.ok:
        raise ToolFailure(answer.error or "the request failed")
    return answer.text("output")


async def ask(
    context: ToolContext,
    op: str,
    fields: dict[str, Any],
    *,
    payload: bytes = b"",
    timeout_s: float = FILE_TIMEOUT_S,
) -> str:
    """Send a request to the run's environment; the text it answers with."""
    answer = await workspace_of(context).call(op, fields, timeout_s=timeout_s, payload=payload)
    return output_of(answer)
