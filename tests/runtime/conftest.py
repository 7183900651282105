from __future__ import annotations

from tests.storage.conftest import make_run, workspace

__all__ = ["make_run", "workspace"]
