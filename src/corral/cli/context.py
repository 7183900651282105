"""The SDK client the client commands share, built from the root command's global options.

The CLI talks to a server only through `corral.client`; this module is where the one client of a
command line is made (once, on first use) and closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from corral.cli.errors import CommandError
from corral.client import Corral, CorralError


@dataclass
class ClientOptions:
    """`--base-url` and `--api-key`; left as None, the SDK falls back to its env variables."""

    base_url: str | None = None
    api_key: str | None = None
    _client: Corral | None = field(default=None, repr=False)

    @property
    def client(self) -> Corral:
        """The SDK client; raises `CommandError` (`no_api_key`) when no API key is known."""
        if self._client is None:
            try:
                self._client = Corral(base_url=self.base_url, api_key=self.api_key)
            except CorralError as error:
                raise CommandError(
                    "no_api_key", "no API key given", "set CORRAL_API_KEY or pass --api-key"
                ) from error
        return self._client

    @property
    def shown_base_url(self) -> str | None:
        """The server address in use, for messages; None before a client was built."""
        return self._client.base_url if self._client is not None else None

    def close(self) -> None:
        """Close the client's connections, if one was built."""
        if self._client is not None:
            self._client.close()


def options(ctx: typer.Context) -> ClientOptions:
    """The options the root command stored on the context."""
    return ctx.ensure_object(ClientOptions)


def client(ctx: typer.Context) -> Corral:
    """The SDK client of this command line."""
    return options(ctx).client
