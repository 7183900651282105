"""The template renderer's child process: one JSON request per line in, one answer out.

Kept apart from `services.rendering` so that the child imports only Jinja and the template
rules, and starts in a fraction of a second.
"""

from __future__ import annotations

import resource
import sys

import orjson

from corral.domain.templates import InvalidTemplate, render

__all__ = ["serve"]

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024


def serve() -> None:
    """The child: render each request line from stdin, answer one line on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    for line in sys.stdin.buffer:
        request = orjson.loads(line)
        try:
            answer = {"text": render(request["source"], request["variables"], request["max_chars"])}
        except InvalidTemplate as error:
            answer = {"error": str(error)}
        except MemoryError:
            answer = {"error": "the template needed more memory than it may use"}
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        sys.stdout.buffer.flush()
