"""`corral serve` once its settings are read: the checks, then uvicorn on a socket bound first.

The listening socket is bound before the application starts, so a port in use stops the start
before any migration or worker; the banner is printed only once uvicorn is ready to accept.
"""

from __future__ import annotations

import socket

import typer
import uvicorn

from corral._version import __version__
from corral.api.app import create_app
from corral.cli.banner import announce, ready_facts
from corral.cli.launch import configuration_errors, console, freeze_startup_objects
from corral.observability.logging import configure, wants_text
from corral.sandbox.capabilities import Capabilities
from corral.settings import Settings

__all__ = ["serve_api"]


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, which says where it is once it is ready (not before)."""

    def __init__(self, config: uvicorn.Config, settings: Settings, sandbox: Capabilities | None):
        super().__init__(config)
        self._settings = settings
        self._sandbox = sandbox

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does (the app's own start included), then announce."""
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            ready = ready_facts(self._settings, self._sandbox, __version__)
            announce(ready, console, text=wants_text(self._settings.log_format))


def serve_api(settings: Settings, listener: socket.socket) -> None:
    """Build the app and serve it on `listener` until stopped."""
    configure(settings.log_level, settings.log_format, access_log=settings.access_log)
    with configuration_errors():
        app = create_app(settings)
    sandbox = app.state.ctx.sandbox if settings.embedded_worker else None
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=False,
        server_header=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 1,
    )
    server = AnnouncingServer(config, settings, sandbox)
    freeze_startup_objects()
    server.run(sockets=[listener])
    if not server.started:
        console.print("error: the server stopped while starting; the lines above say why")
        raise typer.Exit(1)
