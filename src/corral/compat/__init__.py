"""Facades: foreign wire protocols served over Corral's own services.

A facade lets a program written for another agent-runs API talk to Corral unchanged. It lives
whole in `compat/<name>/` (its wire `types`, a pure `translate`, a `service` over Corral's
services, and its `routes`) and keeps nothing of its own. The core never imports this package;
only the app factory includes `routers()`, and a process that delivers webhooks calls
`register()` (`webhook_formats`) to add the facades' webhook formats. To add a facade, add its
folder, its router below and its routes' rows in `corral.api.scopes.ROUTES`; to remove one,
delete all three (and its format in `webhook_formats`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from corral.compat.webhook_formats import register

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["register", "routers"]


def routers() -> tuple[APIRouter, ...]:
    """The routers of every facade, for the app factory to include."""
    # Imported on call: a facade's routes import `corral.api`, whose app factory calls this, and
    # a facade's pure modules stay importable without the web stack.
    from corral.compat.anthropic.routes import ROUTERS as anthropic
    from corral.compat.mantyx import routes as mantyx

    return (mantyx.router, *anthropic)
