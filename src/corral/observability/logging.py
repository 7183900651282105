"""Logs: one JSON object a line for collectors, or short lines for a person at a terminal.

Records carry an `action` key and ids in `extra`; both formats show them. A run's end is one
record (`run.ended`) with its status, duration and usage, so a terminal shows a line per run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import orjson

from corral.domain.redaction import Redactor

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}
_QUIET_ON_TERMINAL = ("uvicorn.error", "alembic")
"""Loggers whose routine lines (startup steps, each migration) a person at a terminal skips."""

runs_logger = logging.getLogger("corral.runs")


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


class TextFormatter(logging.Formatter):
    """One short line: the time, the level when it is not `info`, the message and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        """A line for a person; a run's end and a request read as sentences."""
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        }
        line = _sentence(record, fields)
        if line is None:
            shown = " ".join(f"{k}={v}" for k, v in fields.items() if k != "action")
            line = f"{record.getMessage()}  {shown}" if shown else record.getMessage()
        time = self.formatTime(record, "%H:%M:%S")
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        text = f"{time} {level}{line}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return SECRETS_IN_USE.redactor.text(text)


def _sentence(record: logging.LogRecord, fields: Mapping[str, Any]) -> str | None:
    """The line of a run's end or of a request, or None for any other record."""
    if fields.get("action") == "run.ended":
        tokens = f"{fields['input_tokens']:,} in / {fields['output_tokens']:,} out tokens"
        return (
            f"run {fields['run_id']} {fields['status']} in {fields['duration_s']:.1f} s · "
            f"{tokens} · ${fields['cost_usd']:.4f}"
        )
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and record.args:
        client, method, path, _version, status = record.args
        return f"{method} {path} {status} ({client})"
    return None


def log_run_end(
    run_id: str,
    status: str,
    started_at: datetime,
    ended_at: datetime,
    usage: Mapping[str, Any],
) -> None:
    """The record of a run's end: its status, how long it ran, and what it used."""
    runs_logger.info(
        "run ended",
        extra={
            "action": "run.ended",
            "run_id": run_id,
            "status": status,
            "duration_s": round((ended_at - started_at).total_seconds(), 3),
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
            "cost_usd": usage.get("cost_usd", 0.0),
        },
    )


LogFormat = Literal["auto", "text", "json"]


def wants_text(log_format: LogFormat) -> bool:
    """Whether logs are for a person: asked for, or `auto` with stderr on a terminal."""
    return log_format == "text" or (log_format == "auto" and sys.stderr.isatty())


def configure(level: str, log_format: LogFormat = "json", *, access_log: bool = False) -> None:
    """Send Corral's logs to stderr: text for a person, JSON lines for a collector."""
    text = wants_text(log_format)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET_ON_TERMINAL:
        logging.getLogger(name).setLevel(logging.WARNING if text else logging.NOTSET)
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if access_log else logging.WARNING)
