"""Jobs of the work queue, as their tenant sees them: by id, or waited for until they are finished."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from pgseek.api.deps import KeyDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.job_schemas import JobPublic, JobsPublic
from pgseek.api.schemas import ErrorResponse
from pgseek.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["jobs"], responses=ERROR_RESPONSES)
MAX_IDS = 1000
MAX_WAIT_S = 60.0
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "No such job"}}


@router.get("/jobs/{job_id}", responses=_NOT_FOUND)
async def get_job(job_id: Annotated[int, Path(ge=1)], key: KeyDep, seek: SeekDep) -> JobPublic:
    """One of the tenant's jobs (another tenant's is a 404, as one that does not exist)."""
    found = await seek.jobs.get([job_id], tenant=key.tenant)
    if not found:
        raise NotFoundError(f"no job {job_id}")
    return JobPublic.of(found[0])


@router.get("/jobs")
async def get_jobs(
    key: KeyDep,
    seek: SeekDep,
    ids: Annotated[list[int], Query(min_length=1, max_length=MAX_IDS, description="Job ids (repeat: ids=1&ids=2).")],
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for every job to finish (0: answer now).")
    ] = 0.0,
) -> JobsPublic:
    """The tenant's jobs among `ids`; with `wait`, answered once all are done or failed (then a done job's document
    is searchable) or when the wait is over: `finished` says which."""
    jobs = await seek.jobs.wait(ids, tenant=key.tenant, timeout=wait)
    return JobsPublic(jobs=[JobPublic.of(j) for j in jobs], finished=all(j.state in ("done", "failed") for j in jobs))
