"""`corral models` and `corral whoami`: what the server can run, and who you are to it."""

from __future__ import annotations

import typer

from corral.cli import options, output
from corral.cli.context import client
from corral.types.models import ModelInfo
from corral.types.workspaces import SpendStanding


def models(ctx: typer.Context, as_json: options.JsonFlag = False) -> None:
    """List the models this server can run, with their prices.

    NEEDS says `api_keys` when the server holds no key for the model's provider: a run of it
    must bring one.
    """
    found = client(ctx).models.list()
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["MODEL", "PROVIDER", "CONTEXT", "$/MTOK IN", "$/MTOK OUT", "NEEDS", "DEFAULT"],
        (
            [
                m.id,
                m.provider,
                f"{m.context_window:,}",
                *_prices(m),
                "api_keys" if m.requires_api_key else "",
                "yes" if m.id == found.default else "",
            ]
            for m in found.models
        ),
        empty="no models",
    )


def _prices(model: ModelInfo) -> list[str]:
    if model.pricing is None:
        return ["-", "-"] if model.provider != "corral" else ["free", "free"]
    return [f"{model.pricing.input_per_mtok:g}", f"{model.pricing.output_per_mtok:g}"]


def whoami(ctx: typer.Context, as_json: options.JsonFlag = False) -> None:
    """Show the workspace and API key in use, and the limits that apply."""
    corral = client(ctx)
    me = corral.whoami()
    if as_json:
        output.print_json(me)
        return
    limits = me.limits
    output.details(
        [
            ("server", corral.base_url),
            ("workspace", f"{me.workspace.name} ({me.workspace.id})"),
            ("key", f"{me.key.name} ({me.key.id})"),
            ("scopes", ", ".join(me.key.scopes)),
            ("max turns", str(limits.max_turns)),
            ("max tool calls/turn", str(limits.max_tool_calls_per_turn)),
            ("run timeout", output.format_duration(limits.run_timeout_s)),
            ("client tool timeout", output.format_duration(limits.client_tool_timeout_s)),
            ("metadata entries", str(limits.metadata_max_entries)),
            ("max body", f"{limits.max_body_bytes:,} bytes"),
            *(_spend(cap) for cap in limits.spend),
        ]
    )


def _spend(cap: SpendStanding) -> tuple[str, str]:
    spent = "unknown" if cap.spent_usd is None else f"${cap.spent_usd:,.2f}"
    return f"spend per {cap.period}", f"{spent} of ${cap.cap_usd:,.2f}"


def register(app: typer.Typer) -> None:
    """Add `corral models` and `corral whoami` to the root command."""
    app.command("models", rich_help_panel=options.HELP_PANEL)(models)
    app.command("whoami", rich_help_panel=options.HELP_PANEL)(whoami)
