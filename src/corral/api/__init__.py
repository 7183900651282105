"""The HTTP API: FastAPI routes that translate between HTTP and the services."""

from __future__ import annotations

from corral.api.app import create_app

__all__ = ["create_app"]
