"""`python -m corral` runs the command line."""

from __future__ import annotations

from corral.cli.entry import main

main()
