"""Structured logs: one JSON object a line, with the `action` key and ids given in `extra`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import orjson

from corral.domain.redaction import Redactor

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class SecretsInUse:
    """The secret values of the runs this process executes, kept out of every log line.

    Matched as they appear in a JSON line, escaped, as well as raw. The matcher is rebuilt only
    when a line is written after the set changed.
    """

    def __init__(self) -> None:
        self._by_run: dict[str, list[tuple[str, str]]] = {}
        self._redactor = Redactor(())
        self._changed = False

    def add(self, run_id: str, secrets: Mapping[str, str]) -> None:
        """Hide these values from now on (nothing happens for a run without secrets)."""
        if not secrets:
            return
        pairs = []
        for name, value in secrets.items():
            pairs += [(name, value), (name, orjson.dumps(value).decode()[1:-1])]
        self._by_run[run_id] = pairs
        self._changed = True

    def remove(self, run_id: str) -> None:
        """The run has left this process."""
        if self._by_run.pop(run_id, None) is not None:
            self._changed = True

    @property
    def redactor(self) -> Redactor:
        """What hides the values of the runs in this process now."""
        if self._changed:
            self._changed = False
            self._redactor = Redactor(pair for pairs in self._by_run.values() for pair in pairs)
        return self._redactor


SECRETS_IN_USE = SecretsInUse()
"""The process's one registry: the worker fills it, the formatter reads it."""


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its `extra` fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line."""
        document: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return SECRETS_IN_USE.redactor.text(orjson.dumps(document, default=str).decode())


def configure(level: str) -> None:
    """Send Corral's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
