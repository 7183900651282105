"""Service endpoints: health, readiness, metrics, models and the caller's identity."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from corral.api.deps import Guarded, service_context
from corral.api.openapi import KEYED_ERRORS, PUBLIC_ERRORS, Responses, errors
from corral.api.responses import JSONBody, respond
from corral.services import health, quotas, spend_caps
from corral.services.limits import Limiter
from corral.types.models import ModelInfo, ModelList, Pricing
from corral.types.workspaces import (
    EffectiveLimits,
    KeyRef,
    RateStanding,
    SandboxInfo,
    WhoAmI,
    WorkspaceRef,
)

# What each route asks of its caller is its row in `corral.api.scopes.ROUTES`.
router = APIRouter(tags=["service"])

_REPORT = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["ready", "unavailable"]}},
            "required": ["status"],
        }
    }
}
_READINESS: Responses = {
    200: {"description": "Ready: `status` is `ready`.", "content": _REPORT},
    503: {
        "description": "Not ready: `status` is `unavailable`; the report says why.",
        "content": _REPORT,
    },
}
_PROMETHEUS: Responses = {
    200: {
        "description": "The metrics, in Prometheus' text format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/healthz", responses=errors(*PUBLIC_ERRORS))
async def healthz() -> JSONBody:
    """The process is alive."""
    return respond({"status": "ok"})


@router.get("/readyz", responses={**_READINESS, **errors(*PUBLIC_ERRORS)})
async def readyz(request: Request) -> JSONBody:
    """The database is reachable and its schema is current."""
    report = await health.readiness(service_context(request))
    return respond(report, 200 if report["status"] == "ready" else 503)


@router.get(
    "/metrics", response_class=Response, responses={**_PROMETHEUS, **errors(*PUBLIC_ERRORS)}
)
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", response_model=ModelList, responses=errors(*KEYED_ERRORS))
async def list_models(call: Guarded) -> JSONBody:
    """Models this server can run, with prices and whether runs must bring a provider key."""
    registry = call.ctx.models
    models = []
    for entry in registry.entries():
        prices = entry.pricing
        models.append(
            ModelInfo(
                id=entry.id if entry.provider == "corral" else entry.qualified_id,
                provider=entry.provider,
                model=entry.model,
                api=entry.api,
                context_window=entry.context_window,
                pricing=(
                    Pricing(
                        input_per_mtok=prices.input,
                        output_per_mtok=prices.output,
                        cache_read_per_mtok=prices.cache_read,
                        cache_write_per_mtok=prices.cache_write,
                    )
                    if prices is not None
                    else None
                ),
                requires_api_key=not registry.has_key(entry),
            )
        )
    return respond(ModelList(models=models, default=registry.default))


@router.get("/v1/whoami", response_model=WhoAmI, responses=errors(*KEYED_ERRORS))
async def whoami(call: Guarded, request: Request) -> JSONBody:
    """The workspace and key making the request, and the limits that apply."""
    settings, principal = call.ctx.settings, call.principal
    limiter: Limiter = request.app.state.limiter
    rates = [
        RateStanding(name=name, per_minute=per_minute, remaining=remaining)
        for name, per_minute, remaining in await limiter.standing(principal)
    ]
    return respond(
        WhoAmI(
            workspace=WorkspaceRef(id=principal.workspace_id, name=principal.workspace_name),
            key=KeyRef(id=principal.key_id, name=principal.key_name, scopes=principal.scopes),
            limits=EffectiveLimits(
                max_turns=settings.max_turns,
                max_tool_calls_per_turn=settings.max_tool_calls_per_turn,
                run_timeout_s=settings.run_timeout_s,
                client_tool_timeout_s=settings.client_tool_timeout_s,
                metadata_max_entries=16,
                max_body_bytes=settings.max_body_bytes,
                **await quotas.standing(call.ctx, principal),
                rates=rates,
                spend=await spend_caps.standing(call.ctx, principal),
            ),
            sandbox=SandboxInfo.model_validate(call.ctx.sandbox.as_dict()),
        )
    )
