"""The app built but not started, and its OpenAPI document: fixtures for the tests that read it.

Registered in `tests/conftest.py`, so any test may ask for them; building the document needs no
database, so one app serves a whole module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from corral.api.app import create_app
from corral.settings import Settings

__all__ = ["document", "unstarted_app"]


@pytest.fixture(scope="module")
def unstarted_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app, built but not started: its document needs no database."""
    data = Path(tmp_path_factory.mktemp("openapi"))
    return create_app(Settings(data_dir=data, database_url=f"sqlite:///{data / 'corral.db'}"))


@pytest.fixture(scope="module")
def document(unstarted_app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document the app serves."""
    return unstarted_app.openapi()
