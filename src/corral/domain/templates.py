"""Input templates: how a routine turns a payload into the text its agent reads.

Jinja's immutable sandbox: a template reads the values it is given (`payload`, `headers`,
`fire`, `routine`) and cannot reach Python's internals or change anything. The sandbox does
not bound time or memory, so templates are rendered in a child process with limits (see
`services.rendering`); a text with no template syntax is its own rendering.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["InvalidTemplate", "check_template", "is_plain", "literal", "literal_text", "render"]

MAX_RANGE = 10_000
"""The longest `range()` a template may make."""


class InvalidTemplate(ValueError):
    """The template cannot be read or rendered (the message says where)."""


def _tojson(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _Environment(ImmutableSandboxedEnvironment):
    def __init__(self) -> None:
        # A field a payload lacks renders empty rather than failing the fire.
        super().__init__(undefined=ChainableUndefined, autoescape=False, keep_trailing_newline=True)
        self.filters["tojson"] = _tojson
        self.globals["range"] = _bounded_range


def _bounded_range(*args: int) -> range:
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise InvalidTemplate(f"range() is limited to {MAX_RANGE} items")
    return made


_ENVIRONMENT = _Environment()


def is_plain(source: str) -> bool:
    """Whether the text has no template syntax at all (so it renders as itself)."""
    return not any(mark in source for mark in ("{{", "{%", "{#"))


_SYNTAX = re.compile(r"\{[{%#]|\{?\r")
"""What Jinja reads as syntax in a template's text: delimiters, and carriage returns (which it
turns into line feeds), with a brace before one (it would open the expression that follows)."""
_ESCAPED = re.compile(r"\{\{ '(\{[{%#]|\{?\\r)' \}\}")


def _escape(found: re.Match[str]) -> str:
    mark = found.group().replace("\r", "\\r")
    return f"{{{{ '{mark}' }}}}"


def _unescape(found: re.Match[str]) -> str:
    return found.group(1).replace("\\r", "\r")


def literal(text: str) -> str:
    """A template that renders to `text` exactly, whatever it holds (user text, say).

    Text with no template syntax is its own template; otherwise each delimiter, and each
    carriage return, becomes an expression of itself (`{{ '{{' }}`).
    """
    return text if is_plain(text) else _SYNTAX.sub(_escape, text)


def literal_text(source: str) -> str | None:
    """The text a template made by `literal` renders; None for any other template."""
    if is_plain(source):
        return source
    text = _ESCAPED.sub(_unescape, source)
    return text if literal(text) == source else None


def check_template(source: str) -> None:
    """Raise `InvalidTemplate` if the template does not parse."""
    try:
        _ENVIRONMENT.parse(source)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        raise InvalidTemplate(f"{error.message or error}{where}") from None


def render(source: str, variables: dict[str, Any], max_chars: int) -> str:
    """The rendered text; `InvalidTemplate` if it fails or comes out longer than `max_chars`."""
    if is_plain(source):
        return source
    try:
        template = _ENVIRONMENT.from_string(source)
        size, parts = 0, []
        for part in template.generate(**variables):
            size += len(part)
            if size > max_chars:
                raise InvalidTemplate(f"the rendered input is longer than {max_chars} characters")
            parts.append(part)
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        if isinstance(error, InvalidTemplate):
            raise
        raise InvalidTemplate(f"{type(error).__name__}: {error}") from None
    return "".join(parts)
