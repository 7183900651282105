"""The wire contract: pydantic models shared by the server and the SDK.

This package imports no other Corral package, so the SDK can depend on it alone.
"""

from __future__ import annotations

__all__: list[str] = []
