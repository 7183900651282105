"""The tool server: the code that runs inside an environment, as the agent's own user.

The worker sends it requests over one socket; it does the work with the agent's privileges, in
the agent's view of the file system, and answers. It imports only the standard library, and only
modules that load fast, because it starts once per environment; nothing here may assume that
what it reads (files, names, patterns) is benign, and nothing it answers is trusted outside.
"""

from __future__ import annotations

__all__: list[str] = []
