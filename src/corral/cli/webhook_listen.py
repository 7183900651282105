"""`corral webhooks listen`: print deliveries as they arrive, for local development.

It receives on a local port, registers a temporary endpoint for that address, prints each
delivery once its signature checks out, and removes the endpoint when it stops. The server
must be allowed to reach the address (`CORRAL_NETWORK_PRIVATE_HOSTS` on the server), since it
refuses private addresses otherwise. Signatures are checked with the standard library, as the
Standard Webhooks specification describes them, so the command needs nothing the SDK lacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, get_args

import typer
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import CommandError
from corral.cli.webhooks import webhooks_app
from corral.client import APIStatusError
from corral.types.webhooks import WebhookEventType

__all__ = ["listen", "signature_valid"]

TOLERANCE_S = 300
"""How far a delivery's timestamp may be from now (the specification's five minutes)."""
MAX_BODY_BYTES = 10 * 1024 * 1024


def signature_valid(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """Whether `body` carries a Standard Webhooks signature made with `secret`."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        message_id = headers["webhook-id"]
        timestamp = headers["webhook-timestamp"]
        given = headers["webhook-signature"].split()
        if abs(now - int(timestamp)) > TOLERANCE_S:
            return False
    except (KeyError, ValueError, binascii.Error):
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(f"v1,{digest}", candidate) for candidate in given)


class _Receiver(ThreadingHTTPServer):
    """Takes deliveries and hands the verified ones to the command's thread."""

    daemon_threads = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.secret = ""
        self.ready = threading.Event()
        self.arrived: queue.Queue[tuple[dict[str, str], bytes, bool]] = queue.Queue()


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.ready.wait()
        valid = signature_valid(self.server.secret, headers, body, time.time())
        self.send_response(204 if valid else 401)
        self.end_headers()
        self.server.arrived.put((headers, body, valid))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the command prints what matters."""


@webhooks_app.command("listen")
def listen(
    ctx: typer.Context,
    events: Annotated[
        list[str] | None,
        typer.Option("--event", help="An event type to receive (repeat; default: every type)."),
    ] = None,
    host: Annotated[str, typer.Option(help="The address to receive on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to receive on (0: any free one).")] = 0,
    count: Annotated[
        int | None, typer.Option("--count", help="Stop after this many deliveries.")
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Print deliveries as they arrive, through a temporary endpoint removed on exit."""
    wanted = events or list(get_args(WebhookEventType))
    receiver = _Receiver(host, port)
    url = f"http://{host}:{receiver.server_port}/"
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    sdk = client(ctx)
    try:
        created = sdk.webhooks.create(
            url=url, event_types=wanted, description="corral webhooks listen"
        )
    except APIStatusError as refused:
        receiver.shutdown()
        if refused.field == "/url":
            raise CommandError(
                "listener_refused",
                f"the server will not deliver to {url}: {refused.message}",
                "start the server with CORRAL_NETWORK_PRIVATE_HOSTS=" + host,
            ) from None
        raise
    receiver.secret = created.secret
    receiver.ready.set()
    output.note(f"listening on {url} for {', '.join(wanted)} (webhook {created.id}); Ctrl-C stops")
    try:
        _print_arrivals(receiver, count, as_json)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.shutdown()
        sdk.webhooks.delete(created.id)
        output.note(f"webhook {created.id} removed")


def _print_arrivals(receiver: _Receiver, count: int | None, as_json: bool) -> None:
    printed = 0
    while count is None or printed < count:
        headers, body, valid = receiver.arrived.get()
        if not valid:
            output.note(Text("refused a delivery whose signature did not verify", style="red"))
            continue
        message = json.loads(body)
        if as_json:
            output.print_json_line({"webhook_id": headers.get("webhook-id"), **message})
        else:
            data = message.get("data", {})
            subject = data.get("run_id") or data.get("routine_id") or ""
            output.line(f"{message.get('timestamp', '')}  {message.get('type')}  {subject}")
        printed += 1
