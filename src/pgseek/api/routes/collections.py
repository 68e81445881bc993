"""Collections as the caller's tenant sees them."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query

from pgseek.api.deps import CollectionPath, KeyDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.schemas import (
    CollectionCreate,
    CollectionDeleted,
    CollectionPublic,
    CollectionsPublic,
    ErrorResponse,
)
from pgseek.errors import InputError

router = APIRouter(prefix="/v1", tags=["collections"], responses=ERROR_RESPONSES)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "The tenant uses no collection of that name"}
}


@router.get("/collections")
async def list_collections(key: KeyDep, seek: SeekDep) -> CollectionsPublic:
    """The collections the key's tenant uses, with its own document and chunk counts."""
    found = await seek.collections(tenant=key.tenant)
    return CollectionsPublic(collections=[CollectionPublic.of(c) for c in found])


@router.post(
    "/collections",
    status_code=201,
    responses={
        400: {"model": ErrorResponse, "description": "Unknown text search configuration"},
        409: {"model": ErrorResponse, "description": "The tenant uses it already, or it exists with other settings"},
    },
)
async def create_collection(body: CollectionCreate, key: KeyDep, seek: SeekDep) -> CollectionPublic:
    """Create a collection. Names are shared by the deployment: an existing one is joined if its settings agree."""
    made = await seek.create_collection(
        body.name, tenant=key.tenant, distance=body.distance, text_search_config=body.text_search_config
    )
    return CollectionPublic.of(made)


@router.get("/collections/{collection}", responses=_NOT_FOUND)
async def get_collection(collection: CollectionPath, key: KeyDep, seek: SeekDep) -> CollectionPublic:
    """A collection's settings and the tenant's document and chunk counts in it."""
    return CollectionPublic.of(await seek.collection(collection, tenant=key.tenant))


@router.delete("/collections/{collection}", responses=_NOT_FOUND)
async def delete_collection(
    collection: CollectionPath,
    key: KeyDep,
    seek: SeekDep,
    confirm: Annotated[
        str | None, Query(max_length=200, description="The collection's name again: a deletion must be deliberate.")
    ] = None,
) -> CollectionDeleted:
    """Delete the tenant's documents in the collection (other tenants' stay) and stop using it. Requires
    `?confirm=<collection>`: a request for a document whose id a client shortened by its dot segments (`..`) reaches
    this route, and must not delete everything."""
    if confirm != collection:
        said = "without confirm" if confirm is None else f"with confirm={confirm!r}"
        raise InputError(
            f"deleting collection {collection!r} deletes all your documents in it; this request came {said}: "
            f"send DELETE /v1/collections/{quote(collection, safe='')}?confirm={quote(collection, safe='')}",
            field="confirm",
        )
    deleted = await seek.delete_collection(collection, tenant=key.tenant)
    return CollectionDeleted(name=collection, documents_deleted=deleted)
