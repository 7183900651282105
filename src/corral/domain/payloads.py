"""JSONPath queries on webhook payloads: the filter that lets a delivery fire, the dedupe key.

Queries follow RFC 9535 (the `python-jsonpath` library, in strict mode) without its regular
expression functions: a pattern a routine's author writes is not run in the server, where a
pathological one could stall it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonpath
import orjson

__all__ = ["InvalidQuery", "compile_query", "dedupe_key", "matches"]

_REGEX_FUNCTIONS = ("match", "search")


class InvalidQuery(ValueError):
    """The query cannot be read, or uses what the server does not evaluate."""


def _environment() -> jsonpath.JSONPathEnvironment:
    environment = jsonpath.JSONPathEnvironment(strict=True)
    for name in _REGEX_FUNCTIONS:
        environment.function_extensions.pop(name, None)
    return environment


_ENVIRONMENT = _environment()


@lru_cache(maxsize=512)
def compile_query(query: str) -> Any:
    """The compiled query, or `InvalidQuery` with the library's explanation."""
    try:
        return _ENVIRONMENT.compile(query)
    except jsonpath.JSONPathError as error:
        detail = str(error).splitlines()[0]
        if any(f"'{name}' is not defined" in detail for name in _REGEX_FUNCTIONS):
            detail += " (regular expressions are not evaluated on the server)"
        raise InvalidQuery(detail) from None


def matches(query: str, payload: Any) -> bool:
    """Whether the filter selects anything from `[payload]`.

    The one-item list lets a filter test the payload itself: `$[?@.action == 'opened']`.
    """
    return bool(compile_query(query).findall([payload]))


def dedupe_key(query: str, payload: Any) -> str | None:
    """The payload's key for dropping repeats (its first match, as JSON); None without one."""
    found = compile_query(query).findall(payload)
    if not found:
        return None
    return orjson.dumps(found[0], option=orjson.OPT_SORT_KEYS).decode()
