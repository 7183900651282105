"""`corral worker`, SIGKILLing itself the moment a turn's `message.completed` is committed.

It dies before it publishes, checkpoints or does anything else.

Run as `python tests/e2e/dying_worker.py` with the worker's `CORRAL_*` settings.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from corral.cli.main import main
from corral.storage.database import Database

_write = Database.write
_write_statement = Database.write_statement


def _die_after_a_turn(kwargs: dict[str, Any]) -> None:
    if any(event[0] == "message.completed" for event in kwargs.get("events") or ()):
        sys.stderr.write("dying worker: a turn was committed; dying now\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


async def _write_then_die(self: Database, fn: Any, *args: Any, **kwargs: Any) -> Any:
    result = await _write(self, fn, *args, **kwargs)
    _die_after_a_turn(kwargs)
    return result


async def _write_statement_then_die(self: Database, fn: Any, *args: Any, **kwargs: Any) -> Any:
    result = await _write_statement(self, fn, *args, **kwargs)
    _die_after_a_turn(kwargs)
    return result


Database.write = _write_then_die  # type: ignore[method-assign]
Database.write_statement = _write_statement_then_die  # type: ignore[method-assign]
sys.argv = ["corral", "worker"]
main()
