"""The boundary between Corral and what an agent controls: environments, their network, egress.

Everything an agent chooses (paths, files, regexes, commands, URLs, environment values) is used
only inside the run's environment, reached through one narrow channel, or vetted here before the
server acts on it. Code above this package hands agent input to it and never handles it itself.
"""

from __future__ import annotations

__all__: list[str] = []
