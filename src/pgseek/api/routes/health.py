"""Liveness and readiness (unauthenticated, for orchestrators), and metrics (the operator key only: they describe
every tenant)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from pgseek.api.deps import MetricsDep, OperatorDep, SeekDep
from pgseek.api.schemas import HealthPublic, ReadinessPublic

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthPublic:
    """The process is up and answering."""
    return HealthPublic()


@router.get("/readyz", responses={503: {"model": ReadinessPublic, "description": "Not ready; the body says why"}})
async def readyz(seek: SeekDep) -> JSONResponse:
    """Ready to serve: the database answers, every migration is applied, the embedding model is loaded."""
    readiness = ReadinessPublic.of(await seek.readiness())
    return JSONResponse(readiness.model_dump(), status_code=200 if readiness.ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(_: OperatorDep, seek: SeekDep, metrics: MetricsDep) -> Response:
    await metrics.refresh(seek)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
