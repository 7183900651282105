"""References to the workspace's secrets, written `${secret:NAME}` where a value would go.

A run's spec keeps the references as given: the database only ever holds names. They may stand
in environment variables, MCP server headers and env, and provider keys, whole or inside a longer
value (`Bearer ${secret:github-token}`). The worker fills them in (`fill_spec`) with values read
at the moment the run starts, into the one place that named each.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping

from corral.domain.run_spec import McpServerSpec, RunSpec

__all__ = ["REFERENCE", "fill", "fill_spec", "names_in", "references"]

REFERENCE = re.compile(r"\$\{secret:([A-Za-z_][A-Za-z0-9_.-]{0,127})\}")
"""`${secret:NAME}`; NAME as secrets are named (see `types.secrets.SecretName`)."""


def names_in(value: str) -> list[str]:
    """The secrets a value refers to, in order."""
    return REFERENCE.findall(value) if "${secret:" in value else []


def fill(value: str, secrets: Mapping[str, str]) -> str:
    """The value with each reference replaced by its secret (every name must be in `secrets`)."""
    if "${secret:" not in value:
        return value
    return REFERENCE.sub(lambda match: secrets[match.group(1)], value)


def references(spec: RunSpec) -> Iterator[tuple[str, str]]:
    """(field, secret name) of every reference in the spec, for errors that point at it."""
    for variable, value in spec.environment.variables.items():
        for name in names_in(value):
            yield f"/environment/variables/{variable}", name
    for index, tool in enumerate(spec.tools):
        if not isinstance(tool, McpServerSpec):
            continue
        for header, value in tool.headers.items():
            for name in names_in(value):
                yield f"/tools/{index}/headers/{header}", name
        for variable, value in tool.env.items():
            for name in names_in(value):
                yield f"/tools/{index}/env/{variable}", name


def fill_spec(spec: RunSpec, secrets: Mapping[str, str]) -> RunSpec:
    """The spec with its references filled in: held in memory by the worker, never stored."""
    if not secrets:
        return spec
    environment = dataclasses.replace(
        spec.environment,
        variables={k: fill(v, secrets) for k, v in spec.environment.variables.items()},
    )
    tools = tuple(
        dataclasses.replace(
            tool,
            headers={k: fill(v, secrets) for k, v in tool.headers.items()},
            env={k: fill(v, secrets) for k, v in tool.env.items()},
        )
        if isinstance(tool, McpServerSpec)
        else tool
        for tool in spec.tools
    )
    return dataclasses.replace(spec, environment=environment, tools=tools)
