"""Collections and documents as one tenant sees them: list, create, count, read and delete.

Collection names and settings (distance, text-search configuration, embedding model) are shared by a deployment;
each tenant uses a collection by creating it or ingesting into it, and sees only its own documents and counts in
it. Every read and delete of tenant rows runs under row-level security, in a ``tenant_transaction``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pgseek.db import catalog as stored
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.scope import TenantConn, enter_tenant, tenant_transaction
from pgseek.errors import ConflictError, InputError, NotFoundError
from pgseek.names import check_document_id, check_name, text_problem
from pgseek.types import CollectionInfo, DocumentPage, StoredDocument

MAX_PAGE = 1000
"""The most documents one ``list_documents`` page holds."""


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"collection {name!r} does not exist for this tenant; create it or ingest into it first")


async def list_collections(pool: Pool, tenant: str) -> list[CollectionInfo]:
    async with translate_errors("listing collections"), tenant_transaction(pool, tenant) as scope:
        return await stored.tenant_collections(scope)


async def collection_info(pool: Pool, tenant: str, name: str) -> CollectionInfo:
    check_name(name, field="collection", what="collection name")
    async with translate_errors("reading a collection"), tenant_transaction(pool, tenant) as scope:
        found = await stored.tenant_collections(scope, name)
    if not found:
        raise _not_found(name)
    return found[0]


async def create_collection(
    pool: Pool,
    tenant: str,
    name: str,
    *,
    distance: str | None,
    text_search_config: str | None,
    defaults: tuple[str, str],
    layout: tuple[str, str, int] = ("hnsw", "none", 0),
) -> CollectionInfo:
    """Create a collection for the tenant, or start using an existing one of that name if its settings agree.

    ``distance`` / ``text_search_config`` left None take the collection's existing settings, or ``defaults`` for a
    new one; a new one takes ``layout`` (index kind, quantization, partitions: the settings an ingest creates with).
    ConflictError when the tenant uses the collection already, or it exists with other settings.
    """
    check_name(name, field="collection", what="collection name")
    async with translate_errors("creating a collection"), pool.connection() as conn, conn.transaction():
        await stored.setup_lock(conn)
        await stored.ensure_tenant(conn, tenant)
        collection = await stored.get_collection(
            conn,
            name,
            create=True,
            distance=distance or defaults[0],
            text_search_config=text_search_config or defaults[1],
            index_kind=layout[0],
            quantization=layout[1],
            partitions=layout[2],
        )
        for setting, wanted, actual in (
            ("distance", distance, collection.distance),
            ("text_search_config", text_search_config, collection.text_search_config),
        ):
            if wanted is not None and wanted != actual:
                raise ConflictError(
                    f"collection {name!r} exists with {setting} {actual!r}, not {wanted!r}: leave {setting} out to "
                    "use it as it is, or choose another name"
                )
        if not await stored.register_collection(conn, tenant, collection.id):
            raise ConflictError(f"collection {name!r} exists already; delete it first to start it over")
        scope = await enter_tenant(conn, tenant)
        return (await stored.tenant_collections(scope, name))[0]


async def delete_collection(pool: Pool, tenant: str, name: str) -> int:
    """Delete the tenant's documents in a collection and its use of it; the number of documents deleted."""
    check_name(name, field="collection", what="collection name")
    async with translate_errors("deleting a collection"), tenant_transaction(pool, tenant) as scope:
        await stored.setup_lock(scope.conn)  # no ingest may register the collection while it may be dropped
        if not await stored.tenant_collections(scope, name):
            raise _not_found(name)
        collection = await stored.get_collection(scope.conn, name)
        return await stored.delete_tenant_collection(scope, collection)


async def list_documents(
    pool: Pool,
    tenant: str,
    collection: str,
    *,
    limit: int,
    after: str | None = None,
    prefix: str | None = None,
    source_prefix: str | None = None,
) -> DocumentPage:
    """A page of the tenant's documents in a collection (no text); NotFoundError when the tenant does not use it."""
    check_name(collection, field="collection", what="collection name")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {limit!r}", field="limit")
    for field, value in (("after", after), ("prefix", prefix), ("source_prefix", source_prefix)):
        problem = text_problem(value) if value is not None else None
        if problem is not None:
            raise InputError(f"{field} {problem}", field=field)
    async with translate_errors("listing documents"), tenant_transaction(pool, tenant) as scope:
        if not await stored.tenant_collections(scope, collection):
            raise _not_found(collection)
        found = await _collection(scope, collection)
        return await stored.list_documents(
            scope, found, limit=limit, after=after, prefix=prefix, source_prefix=source_prefix
        )


async def prune_documents(pool: Pool, tenant: str, collection: str, prefix: str, gone: Callable[[str], bool]) -> int:
    """Delete the tenant's documents in a collection whose id starts with ``prefix`` and for which ``gone(id)``
    holds (``ingest --prune``: files no longer in a folder); the number deleted.

    ``gone`` runs in a thread, between the transaction that lists the ids and the one that deletes them, so that
    no transaction waits on the file system."""
    check_name(collection, field="collection", what="collection name")
    ids: list[str] = []
    async with translate_errors("listing documents to prune"), tenant_transaction(pool, tenant) as scope:
        if not await stored.tenant_collections(scope, collection):
            return 0
        found = await _collection(scope, collection)
        after: str | None = None
        while True:
            page = await stored.list_documents(scope, found, limit=MAX_PAGE, after=after, prefix=prefix)
            ids += [d.external_id for d in page.documents]
            if page.next_after is None:
                break
            after = page.next_after
    doomed = await asyncio.to_thread(lambda: [i for i in ids if gone(i)])
    if not doomed:
        return 0
    async with translate_errors("pruning documents"), tenant_transaction(pool, tenant) as scope:
        return await stored.delete_documents(scope, await _collection(scope, collection), doomed)


async def get_document(pool: Pool, tenant: str, collection: str, external_id: str) -> StoredDocument:
    check_name(collection, field="collection", what="collection name")
    check_document_id(external_id)
    async with translate_errors("reading a document"), tenant_transaction(pool, tenant) as scope:
        found = await stored.get_document(scope, await _collection(scope, collection), external_id)
    if found is None:
        raise NotFoundError(f"no document {external_id!r} in collection {collection!r}")
    return found


async def delete_document(pool: Pool, tenant: str, collection: str, external_id: str) -> None:
    check_name(collection, field="collection", what="collection name")
    check_document_id(external_id)
    async with translate_errors("deleting a document"), tenant_transaction(pool, tenant) as scope:
        deleted = await stored.delete_document(scope, await _collection(scope, collection), external_id)
    if not deleted:
        raise NotFoundError(f"no document {external_id!r} in collection {collection!r}")


async def _collection(scope: TenantConn, name: str) -> stored.Collection:
    try:
        return await stored.get_collection(scope.conn, name)
    except NotFoundError:
        raise _not_found(name) from None
