"""Client tools from plain Python functions.

The schema comes from type hints and docstrings; calls turn results and exceptions into what
the model is told.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

import pydantic
import pydantic_core

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?):\s*$")
_ARGUMENT = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary and the per-argument descriptions of a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    arguments: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arguments_indent = 0
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
        elif section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            entry = _ARGUMENT.match(line.strip())
            indent = len(line) - len(line.lstrip())
            if entry and (current is None or indent <= arguments_indent):
                current, arguments_indent = entry.group(1), indent
                arguments[current] = entry.group(2).strip()
            elif current is not None:
                arguments[current] = f"{arguments[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), arguments


@dataclass(frozen=True)
class Tool:
    """A function the model may call, executed in this process."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    arguments_model: type[pydantic.BaseModel]

    def to_ref(self) -> dict[str, Any]:
        """The tool reference sent with a run."""
        return {
            "type": "client",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    @property
    def is_async(self) -> bool:
        """Whether calling it returns a coroutine."""
        return inspect.iscoroutinefunction(self.function)

    def _arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        validated = self.arguments_model.model_validate(arguments)
        return {name: getattr(validated, name) for name in type(validated).model_fields}

    def call(self, arguments: dict[str, Any]) -> tuple[str | None, str | None]:
        """Run it; returns `(output, None)` or `(None, error)` for the model."""
        try:
            result = self.function(**self._arguments(arguments))
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        except Exception as error:  # noqa: BLE001 - the model is told what went wrong
            return None, describe_error(error)
        return render_result(result), None

    async def acall(self, arguments: dict[str, Any]) -> tuple[str | None, str | None]:
        """The async twin of `call`; sync functions run in a thread."""
        try:
            values = self._arguments(arguments)
            if self.is_async:
                result = await self.function(**values)
            else:
                result = await asyncio.to_thread(self.function, **values)
        except Exception as error:  # noqa: BLE001 - the model is told what went wrong
            return None, describe_error(error)
        return render_result(result), None


async def _awaited(value: Any) -> Any:
    return await value


def describe_error(error: BaseException) -> str:
    """How a failed call is described to the model."""
    if isinstance(error, pydantic.ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in error.errors()
        )
        return f"invalid arguments: {problems}"
    return f"{type(error).__name__}: {error}"


def render_result(result: Any) -> str:
    """A tool's return value as the text the model reads (JSON unless it is a string)."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, pydantic.BaseModel):
        return result.model_dump_json()
    return pydantic_core.to_json(result).decode()


def _schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for field in schema.get("properties", {}).values():
        field.pop("title", None)
    return schema


def _build(function: Callable[..., Any], name: str | None, description: str | None) -> Tool:
    summary, argument_docs = _docstring_parts(function.__doc__)
    signature = inspect.signature(function, eval_str=True)
    fields: dict[str, Any] = {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"tool {function.__name__!r}: *args and **kwargs are not supported")
        annotation = parameter.annotation if parameter.annotation is not parameter.empty else Any
        default = parameter.default if parameter.default is not parameter.empty else ...
        fields[parameter.name] = (
            annotation,
            pydantic.Field(default, description=argument_docs.get(parameter.name)),
        )
    model: type[pydantic.BaseModel] = pydantic.create_model(
        f"{function.__name__}_arguments",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )
    return Tool(
        name=name or function.__name__,
        description=description if description is not None else summary,
        parameters=_schema(model),
        function=function,
        arguments_model=model,
    )


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a client tool of a function (sync or async): `@tool` or `@tool(name=...)`.

    The parameters' type hints (pydantic models included) give the JSON Schema, the docstring's
    summary the description, and its `Args:` section the parameters' descriptions.
    """
    if function is not None:
        return _build(function, name, description)
    return lambda f: _build(f, name, description)


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """A `Tool` from a tool or a plain function."""
    return value if isinstance(value, Tool) else _build(value, None, None)
