"""Search: the same request and hits as `pgseek search --json`, under the key's tenant."""

from __future__ import annotations

from fastapi import APIRouter

from pgseek.api.deps import KeyDep, MetricsDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.schemas import ErrorResponse, SearchRequest, SearchResponse, WhoAmI

router = APIRouter(prefix="/v1", tags=["search"], responses=ERROR_RESPONSES)


@router.post("/search", responses={404: {"model": ErrorResponse, "description": "No collection of that name"}})
async def search(body: SearchRequest, key: KeyDep, seek: SeekDep, metrics: MetricsDep) -> SearchResponse:
    """Search a collection: vector, keyword or hybrid, under metadata filters. The key's tenant is the only tenant
    searched, whatever the filters say."""
    result = await seek.search(
        body.query,
        k=body.k,
        mode=body.mode,
        collection=body.collection,
        tenant=key.tenant,
        min_score=body.min_score,
        filter=body.filters.to_filter() if body.filters is not None else None,
        min_lsn=body.min_lsn,
    )
    metrics.observe_stages("search", result.timings_ms)
    return SearchResponse.of(result)


@router.get("/whoami", tags=["keys"])
async def whoami(key: KeyDep) -> WhoAmI:
    """The key this request was made with (its id, never its secret) and the tenant it acts as."""
    return WhoAmI.of(key)
