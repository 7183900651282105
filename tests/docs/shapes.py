"""Shapes as the docs write them in brief, checked against JSON Schemas.

A shape lists the fields of an object, `{name, description?, tools: [{type, name}]}`: `name`,
`"name"`, `name?` (optional), `name: value`, or `a | b` (one of). A value that is itself a shape
(`{…}`, or `[{…}]` for a list of objects) is checked against the field's own schema; any other
value (`"allow" | "deny"`, `N`, prose) is not.
"""

from __future__ import annotations

import re
from typing import Any

Shape = dict[str, "Shape | None"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPENERS = {"{": "}", "[": "]", "(": ")"}


def split_top(text: str, separator: str) -> list[str]:
    """`text` split on `separator` where it is outside brackets and quotes."""
    parts, current, depth, quoted = [], "", 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in _OPENERS:
            depth += 1
        elif not quoted and char in _OPENERS.values():
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def parse(text: str) -> Shape:
    """The shape of `{…}` (the braces included)."""
    text = text.strip()
    assert text.startswith("{") and text.endswith("}"), text
    shape: Shape = {}
    for item in split_top(text[1:-1], ","):
        item = item.strip()
        if not item or item.startswith("…") or item == "...":
            continue
        key, value = _key_and_value(item)
        nested = _nested(value)
        for name in _NAME.findall(re.sub(r"\(.*?\)", " ", key)):
            shape[name] = nested
    return shape


def _key_and_value(item: str) -> tuple[str, str]:
    parts = split_top(item, ":")
    if len(parts) > 1:
        return parts[0], ":".join(parts[1:])
    brace = item.find("{")
    if brace > 0:  # `usage {input_tokens, output_tokens}`: a field and its shape
        return item[:brace], item[brace:]
    return item, ""


def _nested(value: str) -> Shape | None:
    for alternative in split_top(value.strip(), "|"):
        alternative = alternative.strip()
        if alternative.startswith("{") and alternative.endswith("}"):
            return parse(alternative)
        if alternative.startswith("[{") and alternative.endswith("}]"):
            return parse(alternative[1:-1])
    return None


class Schemas:
    """The JSON Schemas of a document's `components` (or `$defs`), read through `$ref`s."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.definitions[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def variants(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The schemas `schema` may be: its union's members, an array's items, or itself."""
        schema = self.resolve(schema)
        for union in ("anyOf", "oneOf", "allOf"):
            if union in schema:
                return [v for member in schema[union] for v in self.variants(member)]
        if schema.get("type") == "array" and "items" in schema:
            return self.variants(schema["items"])
        return [schema]

    def fields(self, schema: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        """The properties of the objects `schema` may be; None when any name is allowed."""
        found: dict[str, dict[str, Any]] = {}
        for variant in self.variants(schema):
            if variant.get("type") == "null":
                continue
            if "properties" not in variant:
                if variant.get("additionalProperties", variant.get("type") != "object"):
                    return None
                continue
            found.update(variant["properties"])
        return found

    def unknown(self, shape: Shape, schema: dict[str, Any], where: str = "") -> list[str]:
        """The fields of `shape` that `schema` does not have, as `where.field`."""
        fields = self.fields(schema)
        if fields is None:
            return []
        missing = []
        for name, nested in shape.items():
            path = f"{where}.{name}" if where else name
            if name not in fields:
                missing.append(path)
            elif nested is not None:
                missing.extend(self.unknown(nested, fields[name], path))
        return missing
