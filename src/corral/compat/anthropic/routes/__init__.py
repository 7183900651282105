"""The API's routes under `/anthropic/v1`: one router per resource, included by the app."""

from __future__ import annotations

from fastapi import APIRouter

from corral.compat.anthropic.routes import (
    agents,
    deployments,
    environments,
    events,
    sessions,
    skills,
    threads,
    unmapped,
    vaults,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    agents.router,
    environments.router,
    sessions.router,
    events.router,
    threads.router,
    vaults.router,
    deployments.router,
    skills.router,
    unmapped.router,  # last: it answers every path the others do not
)
