"""End-to-end tests: `corral serve` and `corral worker` as real processes."""

from __future__ import annotations
