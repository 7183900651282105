"""Builtin workspace tools, one concept per module, collected in `BUILTIN_TOOLS` by name.

Their order is the order they are offered to the model in.
"""

from __future__ import annotations

from corral.tools.base import Tool
from corral.tools.builtin.files import Edit, Head, Ls, Read, Tail, Write
from corral.tools.builtin.planning import TodoWrite, Wait
from corral.tools.builtin.search import Glob, Grep
from corral.tools.builtin.shell import Bash, BashKill, BashOutput, Git
from corral.tools.builtin.web_fetch import WebFetch

BUILTIN_TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Bash(),
        BashOutput(),
        BashKill(),
        Read(),
        Write(),
        Edit(),
        Glob(),
        Grep(),
        Ls(),
        Head(),
        Tail(),
        WebFetch(),
        TodoWrite(),
        Wait(),
        Git(),
    )
}

__all__ = ["BUILTIN_TOOLS"]
