"""A collection's embedding versions (decision 0018) over HTTP: list, add a candidate (backfilled by this server in
the background), follow it, compare, activate, roll back, retire. Versions belong to the deployment, not to a
tenant: every route needs the operator key (decision 0022)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from pgseek.api.deps import BackfillsDep, CollectionPath, OperatorDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.schemas import (
    ActivateRequest,
    CompareRequest,
    ComparisonPublic,
    ErrorResponse,
    VersionCreate,
    VersionPublic,
    VersionsPublic,
)
from pgseek.versions.manage import DEFAULT_TOLERANCE

router = APIRouter(prefix="/v1", tags=["versions"], responses=ERROR_RESPONSES)
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="The version's id (see GET .../versions).")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such collection, or no such version of it"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"model": ErrorResponse, "description": "The versions are not in a state that allows it; the message says"},
}


def _tolerance(value: float | None) -> float:
    return DEFAULT_TOLERANCE if value is None else value


@router.get("/collections/{collection}/versions", responses=_NOT_FOUND)
async def list_versions(collection: CollectionPath, _: OperatorDep, seek: SeekDep) -> VersionsPublic:
    """Every version of the collection, retired ones included, oldest first."""
    return VersionsPublic(versions=[VersionPublic.of(v) for v in await seek.models.list(collection)])


@router.post("/collections/{collection}/versions", status_code=202, responses=_CONFLICT)
async def add_version(
    collection: CollectionPath, body: VersionCreate, _: OperatorDep, seek: SeekDep, backfills: BackfillsDep
) -> VersionPublic:
    """Add a candidate version and start its backfill in this server (202: poll `GET .../versions/{id}`). 409 when
    the collection has a candidate already, or when nothing would change."""
    added = await seek.models.add(
        collection,
        provider=body.provider,
        model=body.model,
        precision=body.precision,
        chunk_tokens=body.chunk_tokens,
        chunk_overlap=body.chunk_overlap,
    )
    job = backfills.start(added.collection, added.id)
    return VersionPublic.of(added, job.public())


@router.get("/collections/{collection}/versions/{version}", responses=_NOT_FOUND)
async def get_version(
    collection: CollectionPath, version: VersionPath, _: OperatorDep, seek: SeekDep, backfills: BackfillsDep
) -> VersionPublic:
    """One version with its backfill's progress; `backfill` (rate, time left) when this server runs it."""
    info = await seek.models.status(collection, version)
    job = backfills.job(info.id)
    return VersionPublic.of(info, job.public() if job is not None else None)


@router.post("/collections/{collection}/versions/{version}/compare", responses=_CONFLICT)
async def compare_version(
    collection: CollectionPath, version: VersionPath, body: CompareRequest, _: OperatorDep, seek: SeekDep
) -> ComparisonPublic:
    """Run the candidate and the active version side by side on a dataset on the server (nDCG@10, Recall@100,
    latency) and on recent searches (top-10 overlap); the verdict is stored on the candidate for activation."""
    result = await seek.models.compare(
        body.dataset,
        collection=collection,
        version=version,
        mode=body.mode,
        tenant=body.tenant,
        split=body.split,
        sample=body.sample,
        tolerance=_tolerance(body.tolerance),
    )
    return ComparisonPublic.of(result, body.mode)


@router.post("/collections/{collection}/versions/{version}/activate", responses=_CONFLICT)
async def activate_version(
    collection: CollectionPath, version: VersionPath, body: ActivateRequest, _: OperatorDep, seek: SeekDep
) -> VersionPublic:
    """Make the candidate the active version in one transaction (409 while it is not backfilled and indexed,
    while a previous version remains, or, without `force`, uncompared or worse than the tolerance allows)."""
    activated = await seek.models.activate(collection, version, force=body.force, tolerance=_tolerance(body.tolerance))
    return VersionPublic.of(activated)


@router.post("/collections/{collection}/rollback", responses=_CONFLICT)
async def rollback(collection: CollectionPath, _: OperatorDep, seek: SeekDep) -> VersionPublic:
    """Make the previous version active again in one transaction; returns it."""
    return VersionPublic.of(await seek.models.rollback(collection))


@router.delete("/collections/{collection}/versions/{version}", responses=_CONFLICT)
async def retire_version(
    collection: CollectionPath, version: VersionPath, _: OperatorDep, seek: SeekDep
) -> VersionPublic:
    """Retire a previous or candidate version: its vector table is dropped and its chunks deleted; the row stays,
    retired. The active version cannot be retired."""
    return VersionPublic.of(await seek.models.retire(collection, version))
