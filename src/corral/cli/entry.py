"""The `corral` executable: answers `corral --version` at once, else runs the command line.

Building the command line imports the SDK, its wire types and every command (most of a second
on a small machine); the version needs none of that, so it is answered before any of it loads.
This module must import nothing heavier than `corral._version`.
"""

from __future__ import annotations

import sys

from corral._version import __version__

VERSION_FLAGS = frozenset({"--version", "-V"})
"""The root options that print the version (`corral.cli.main` takes them too, anywhere)."""


def version_line() -> str:
    """`corral 0.1.0`."""
    return f"corral {__version__}"


def main() -> None:
    """Entry point of the `corral` command."""
    if sys.argv[1:2] and sys.argv[1] in VERSION_FLAGS:
        print(version_line())
        return
    from corral.cli.main import main as command_line

    command_line()
