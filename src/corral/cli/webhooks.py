"""`corral webhooks …`: endpoints Corral tells when runs end, and what it delivered to them.

`create` prints the signing secret alone on stdout, so `SECRET=$(corral webhooks create …)`
captures it; what it belongs to goes to stderr. Deliveries are listed so that a person can see
why a receiver got nothing, and resend once it is fixed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import confirm_delete
from corral.types.webhooks import Delivery, Webhook

webhooks_app = typer.Typer(
    help="Tell HTTP endpoints when runs end, and see what they were sent.",
    no_args_is_help=True,
)

WebhookId = Annotated[str, typer.Argument(help="The webhook's id (whk_…).")]
DESCRIPTION_CHARS = 60
DELIVERY_STYLES = {"pending": "yellow", "delivered": "green", "failed": "red"}


@webhooks_app.command("create")
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where deliveries are POSTed (http or https).")],
    events: Annotated[
        list[str],
        typer.Option(
            "--event", help="An event type to send, e.g. run.completed (repeat for several)."
        ),
    ],
    description: Annotated[
        str | None, typer.Option("--description", help="What the endpoint is for.")
    ] = None,
    message_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="How messages are written: corral (the default), or anthropic (the Claude "
            "Managed Agents API's session events).",
        ),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Register an endpoint; prints its signing secret, for the receiver to verify deliveries."""
    given: dict[str, Any] = {} if description is None else {"description": description}
    if message_format is not None:
        given["format"] = message_format
    created = client(ctx).webhooks.create(url=url, event_types=events, **given)
    if as_json:
        output.print_json(created)
        return
    output.line(created.secret)
    output.note(
        f"webhook {created.id} created for {created.url} ({', '.join(created.event_types)})"
    )
    output.note(
        Text(
            "Store the secret where the receiver can read it: it verifies each delivery.",
            style="bold yellow",
        )
    )


@webhooks_app.command("list")
def list_webhooks(ctx: typer.Context, as_json: options.JsonFlag = False) -> None:
    """List the workspace's endpoints and whether each is enabled."""
    found = list(client(ctx).webhooks.list())
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["ID", "URL", "EVENTS", "STATUS", "CREATED", "DESCRIPTION"],
        (
            [
                w.id,
                w.url,
                ",".join(w.event_types),
                _status(w),
                output.when(w.created_at),
                output.truncate(w.description, DESCRIPTION_CHARS),
            ]
            for w in found
        ),
        empty="no webhooks",
    )


@webhooks_app.command("show")
def show(ctx: typer.Context, webhook_id: WebhookId, as_json: options.JsonFlag = False) -> None:
    """Show an endpoint, and why Corral disabled it if it did."""
    found = client(ctx).webhooks.retrieve(webhook_id)
    if as_json:
        output.print_json(found)
        return
    output.details(
        [
            ("id", found.id),
            ("url", found.url),
            ("events", ", ".join(found.event_types)),
            ("format", found.format),
            ("status", _status(found)),
            ("disabled reason", found.disabled_reason),
            ("description", found.description),
            ("created", output.when(found.created_at)),
            ("disabled", output.when(found.disabled_at)),
        ]
    )


@webhooks_app.command("enable")
def enable(ctx: typer.Context, webhook_id: WebhookId, as_json: options.JsonFlag = False) -> None:
    """Turn an endpoint on again (after you disabled it, or Corral did)."""
    _set_enabled(ctx, webhook_id, True, as_json)


@webhooks_app.command("disable")
def disable(ctx: typer.Context, webhook_id: WebhookId, as_json: options.JsonFlag = False) -> None:
    """Stop sending to an endpoint, keeping it and its deliveries."""
    _set_enabled(ctx, webhook_id, False, as_json)


def _set_enabled(ctx: typer.Context, webhook_id: str, enabled: bool, as_json: bool) -> None:
    updated = client(ctx).webhooks.update(webhook_id, enabled=enabled)
    if as_json:
        output.print_json(updated)
    else:
        output.line(f"{'enabled' if enabled else 'disabled'} webhook {updated.id} ({updated.url})")


@webhooks_app.command("delete")
def delete(
    ctx: typer.Context,
    webhook_id: WebhookId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Delete an endpoint and its deliveries (asks first, unless --yes)."""
    if not yes:
        confirm_delete(f"delete the webhook {webhook_id} and its deliveries?")
    client(ctx).webhooks.delete(webhook_id)
    if as_json:
        output.print_json({"id": webhook_id, "deleted": True})
    else:
        output.line(f"deleted webhook {webhook_id}")


@webhooks_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: WebhookId,
    limit: options.Limit = 50,
    as_json: options.JsonFlag = False,
) -> None:
    """List an endpoint's latest deliveries, newest first, with their last attempt's outcome."""
    found = client(ctx).webhooks.deliveries(webhook_id, limit=min(limit, 100))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["MESSAGE ID", "EVENT", "RUN", "STATUS", "ATTEMPTS", "LAST RESULT", "CREATED", "NEXT"],
        (
            [
                d.message_id,
                d.event_type,
                d.run_id or "",
                Text(d.status, style=DELIVERY_STYLES.get(d.status, "")),
                str(d.attempts),
                _last_result(d),
                output.when(d.created_at),
                output.when(d.next_attempt_at),
            ]
            for d in found
        ),
        empty="no deliveries",
    )


@webhooks_app.command("resend")
def resend(
    ctx: typer.Context,
    webhook_id: WebhookId,
    message_id: Annotated[str, typer.Argument(help="The delivery's message id (msg_…).")],
    as_json: options.JsonFlag = False,
) -> None:
    """Send a delivery again now, under the same message id, with a fresh retry schedule."""
    delivery = client(ctx).webhooks.resend(webhook_id, message_id)
    if as_json:
        output.print_json(delivery)
    else:
        output.line(f"resending {delivery.message_id} ({delivery.event_type} of {delivery.run_id})")


def _status(webhook: Webhook) -> Text:
    return Text("enabled", style="green") if webhook.enabled else Text("disabled", style="red")


def _last_result(delivery: Delivery) -> str:
    """The last attempt's HTTP status, or why it got none (a refused or unreachable host)."""
    if delivery.last_status_code is not None:
        return str(delivery.last_status_code)
    return output.truncate(delivery.last_error or "", DESCRIPTION_CHARS)


def register(app: typer.Typer) -> None:
    """Add `corral webhooks` to the root command."""
    from corral.cli import webhook_listen  # noqa: F401 (adds `listen` to the group)

    app.add_typer(webhooks_app, name="webhooks", rich_help_panel=options.HELP_PANEL)
