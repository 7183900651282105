"""Use cases behind the API and the CLI; each call is one transaction plus its wake-ups."""

from __future__ import annotations

__all__: list[str] = []
