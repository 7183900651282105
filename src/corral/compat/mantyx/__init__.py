"""The MANTYX agent-runs protocol, so programs written against `@mantyx/sdk` run on Corral.

`types` holds its wire shapes, `translate` the pure mapping to and from Corral's vocabulary,
`service` the use cases over Corral's services, and `routes` the HTTP routes.
"""

from __future__ import annotations

__all__: list[str] = []
