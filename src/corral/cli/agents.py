"""`corral agents …`: apply agent manifests, and list, show, version and delete agents.

`apply` is idempotent: it creates the agent, or updates it to match the file, and the server
appends a new version only when the spec really changed.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from corral.cli import manifests, options, output
from corral.cli.context import client
from corral.client import NotFoundError
from corral.types.agents import Agent, Limits
from corral.types.permissions import Permissions
from corral.types.tools import ToolRef

agents_app = typer.Typer(help="Versioned agents, defined in YAML manifests.", no_args_is_help=True)

AgentName = Annotated[str, typer.Argument(help="The agent's name or id.")]
DESCRIPTION_CHARS = 48


@agents_app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            "-f",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The agent manifest (YAML; see docs/cli.md).",
        ),
    ],
    as_json: options.JsonFlag = False,
) -> None:
    """Create the agent a manifest describes, or update it to match (a change makes a version)."""
    manifest = manifests.load(file)
    corral = client(ctx)
    try:
        before: Agent | None = corral.agents.retrieve(manifest.name)
    except NotFoundError:
        before = None
    if before is None:
        agent = corral.agents.create(name=manifest.name, **manifest.spec)
        result, message = "created", f"agent {agent.name} created (version {agent.version})"
    elif (agent := corral.agents.update(manifest.name, **manifest.spec)).version != before.version:
        result, message = "updated", f"agent {agent.name} updated to version {agent.version}"
    else:
        result, message = "unchanged", f"agent {agent.name} unchanged (version {agent.version})"
    if as_json:
        output.print_json({"result": result, "agent": agent})
    else:
        output.line(message)


@agents_app.command("list")
def list_agents(
    ctx: typer.Context, limit: options.Limit = 50, as_json: options.JsonFlag = False
) -> None:
    """List agents, newest first."""
    found = list(itertools.islice(client(ctx).agents.list(limit=min(limit, 100)), limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["NAME", "ID", "VERSION", "MODEL", "UPDATED", "DESCRIPTION"],
        (
            [
                a.name,
                a.id,
                str(a.version),
                a.model,
                output.when(a.updated_at),
                output.truncate(a.description, DESCRIPTION_CHARS),
            ]
            for a in found
        ),
        empty="no agents (create one with `corral agents apply -f agent.yaml`)",
    )


@agents_app.command("show")
def show(ctx: typer.Context, agent: AgentName, as_json: options.JsonFlag = False) -> None:
    """Show an agent at its latest version."""
    found = client(ctx).agents.retrieve(agent)
    if as_json:
        output.print_json(found)
        return
    output.details(
        [
            ("name", found.name),
            ("id", found.id),
            ("version", str(found.version)),
            ("model", found.model),
            ("description", found.description),
            ("tools", ", ".join(_tool_label(t) for t in found.tools)),
            ("limits", _limits_text(found.limits)),
            ("permissions", _permissions_text(found.permissions)),
            ("metadata", ", ".join(f"{k}={v}" for k, v in found.metadata.items())),
            ("created", output.when(found.created_at)),
            ("updated", output.when(found.updated_at)),
            ("instructions", Text(found.instructions)),
        ]
    )


@agents_app.command("versions")
def versions(ctx: typer.Context, agent: AgentName, as_json: options.JsonFlag = False) -> None:
    """List every version of an agent, newest first."""
    found = client(ctx).agents.versions(agent)
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["VERSION", "MODEL", "CREATED", "DESCRIPTION", "INSTRUCTIONS"],
        (
            [
                str(v.version),
                v.model,
                output.when(v.created_at),
                output.truncate(v.description, DESCRIPTION_CHARS),
                output.truncate(" ".join(v.instructions.split()), DESCRIPTION_CHARS),
            ]
            for v in found
        ),
        empty="no versions",
    )


@agents_app.command("delete")
def delete(ctx: typer.Context, agent: AgentName, as_json: options.JsonFlag = False) -> None:
    """Delete an agent and its versions (past runs keep the spec they ran with)."""
    client(ctx).agents.delete(agent)
    if as_json:
        output.print_json({"agent": agent, "deleted": True})
    else:
        output.line(f"deleted agent {agent}")


def _tool_label(tool: ToolRef) -> str:
    return f"{tool.name} ({tool.type})"


def _permissions_text(permissions: Permissions) -> str:
    """`default=ask, bash=allow, 2 rules`: what is set, in short."""
    parts = [f"default={permissions.default}"] if permissions.default else []
    parts += [f"{tool}={policy}" for tool, policy in permissions.tools.items()]
    if permissions.rules:
        parts.append(f"{len(permissions.rules)} rule{'s' if len(permissions.rules) > 1 else ''}")
    if permissions.approval_timeout_s is not None:
        parts.append(f"approval timeout {output.format_duration(permissions.approval_timeout_s)}")
    return ", ".join(parts)


def _limits_text(limits: Limits) -> str:
    return ", ".join(f"{k}={v}" for k, v in limits.model_dump(exclude_none=True).items())


def register(app: typer.Typer) -> None:
    """Add `corral agents` to the root command."""
    app.add_typer(agents_app, name="agents", rich_help_panel=options.HELP_PANEL)
