"""Claude Managed Agents API, served by Corral under `/anthropic`.

Programs written against the official `anthropic` SDK's `client.beta` agents, environments,
sessions and events point the client's `base_url` at `{server}/anthropic` and run unchanged, on
any model Corral runs. Everything they create is an ordinary Corral object. `docs/anthropic.md`
lists each mapping and what is not mapped.
"""

from __future__ import annotations

__all__: list[str] = []
