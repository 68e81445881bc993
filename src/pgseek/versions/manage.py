"""The life of a collection's embedding versions: list, add a candidate, follow its backfill, activate, roll back,
retire (decision 0018). Each state change is one transaction that first locks the collection's version rows, so
that it waits for the document writes in flight (they hold those rows FOR SHARE) and every search sees either the
old active version or the new one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pgseek.db import catalog, versions, writes
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.versions import Version
from pgseek.errors import ConflictError, InputError, NotFoundError
from pgseek.names import check_name
from pgseek.types import ModelInfo

DEFAULT_TOLERANCE = 0.01
"""How much lower the candidate's nDCG@10 may be than the active version's for activation without --force."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A version as ``pgseek models`` shows it."""

    id: int
    collection: str
    state: str
    provider: str
    model: str
    model_version: str
    dimensions: int
    precision: str
    chunk_tokens: int
    chunk_overlap: int
    table: str | None
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    backfilled_at: datetime | None
    documents_total: int
    documents_done: int
    """Documents of the collection that have chunks in this version."""
    chunks: int
    backfill_running: bool
    index_ready: bool
    comparison: dict[str, Any] | None

    @property
    def backfill_stopped(self) -> bool:
        """A candidate whose backfill is neither finished nor running: it was killed; run it again to resume."""
        return self.state == "candidate" and self.backfilled_at is None and not self.backfill_running


async def _info(pool: Pool, version: Version) -> VersionInfo:
    async with pool.connection() as conn:
        if version.state == "retired":
            missing, total, chunks, running, ready = 0, 0, 0, False, False
        else:
            missing, total = await versions.count_missing(conn, version)
            chunks = await versions.chunk_count(conn, version.id)
            running = await versions.backfill_running(conn, version.id)
            ready = version.table is not None and await writes.index_ready(conn, version.table)
    m = version.model
    return VersionInfo(
        id=version.id,
        collection=version.collection,
        state=version.state,
        provider=m.provider,
        model=m.name,
        model_version=m.version,
        dimensions=m.dimensions,
        precision=m.precision,
        chunk_tokens=version.chunk_tokens,
        chunk_overlap=version.chunk_overlap,
        table=version.table,
        created_at=version.created_at,
        activated_at=version.activated_at,
        retired_at=version.retired_at,
        backfilled_at=version.backfilled_at,
        documents_total=total,
        documents_done=total - missing,
        chunks=chunks,
        backfill_running=running,
        index_ready=ready,
        comparison=version.comparison,
    )


async def versions_of(pool: Pool, collection: str) -> list[Version]:
    check_name(collection, field="collection", what="collection name")
    async with pool.connection() as conn:
        await catalog.get_collection(conn, collection)  # NotFoundError naming it when it does not exist
        return await versions.collection_versions(conn, collection)


async def list_versions(pool: Pool, collection: str) -> list[VersionInfo]:
    async with translate_errors("listing embedding versions"):
        return [await _info(pool, v) for v in await versions_of(pool, collection)]


async def version_info(pool: Pool, collection: str, version_id: int | None = None) -> VersionInfo:
    """One version (by default the candidate, else the active one) with its backfill's progress."""
    async with translate_errors("reading an embedding version"):
        found = await versions_of(pool, collection)
        return await _info(pool, pick(found, collection, version_id, ("candidate", "active")))


def pick(found: list[Version], collection: str, version_id: int | None, states: tuple[str, ...]) -> Version:
    if version_id is not None:
        for v in found:
            if v.id == version_id:
                return v
        raise NotFoundError(f"collection {collection!r} has no embedding version {version_id}; see pgseek models list")
    for state in states:
        for v in found:
            if v.state == state:
                return v
    if not found:
        raise NotFoundError(f"collection {collection!r} has no embedding version yet: ingest into it first")
    raise NotFoundError(f"collection {collection!r} has no {' or '.join(states)} version; see pgseek models list")


def check_chunking(chunk_tokens: int, chunk_overlap: int) -> None:
    if isinstance(chunk_tokens, bool) or not 16 <= chunk_tokens <= 8192:
        raise InputError(f"chunk_tokens must be from 16 to 8192, not {chunk_tokens}", field="chunk_tokens")
    if isinstance(chunk_overlap, bool) or not 0 <= chunk_overlap < chunk_tokens // 2:
        raise InputError(
            f"chunk_overlap must be at least 0 and less than half of chunk_tokens ({chunk_tokens // 2}), not "
            f"{chunk_overlap}",
            field="chunk_overlap",
        )


async def add_version(
    pool: Pool, collection: str, info: ModelInfo, *, chunk_tokens: int, chunk_overlap: int
) -> VersionInfo:
    """Add a candidate version (nothing embedded yet: the backfill does that). ConflictError when the collection
    has a candidate already, or when the candidate would be the active version again."""
    check_chunking(chunk_tokens, chunk_overlap)
    async with translate_errors("adding an embedding version"):
        check_name(collection, field="collection", what="collection name")
        async with pool.connection() as conn, conn.transaction():
            await catalog.setup_lock(conn)
            stored = await catalog.get_collection(conn, collection)
            if stored.version_id is None:
                raise NotFoundError(f"collection {collection!r} has no embedding version yet: ingest into it first")
            await versions.lock_collection_versions(conn, stored.id)
            live = await versions.live_versions(conn, stored.id)
            for v in live:
                if v.state == "candidate":
                    raise ConflictError(
                        f"collection {collection!r} has a candidate version already ({v.id}): activate or retire it "
                        "first"
                    )
                if v.model.key == info.key and v.chunking == (chunk_tokens, chunk_overlap):
                    raise ConflictError(
                        f"version {v.id} of collection {collection!r} ({v.state}) has this very model and chunking; "
                        "change the model, its precision or the chunking"
                    )
            created = await versions.create_version(
                conn, stored.id, info, chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, state="candidate"
            )
        return await _info(pool, created)


async def activate(
    pool: Pool,
    collection: str,
    version_id: int | None = None,
    *,
    force: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> VersionInfo:
    """Make the candidate (or ``version_id``) the active version in one transaction; the active one becomes the
    previous version and keeps receiving writes until it is retired.

    Refused (ConflictError) while the candidate lacks documents or its index, while a previous version still
    exists, and, unless ``force``, without a comparison or when the comparison found it worse than the active
    version by more than ``tolerance`` nDCG@10."""
    async with translate_errors("activating an embedding version"):
        chosen = pick(await versions_of(pool, collection), collection, version_id, ("candidate",))
        versions.require_states(chosen, ["candidate"], "activated")
        async with pool.connection() as conn, conn.transaction():
            await versions.lock_collection_versions(conn, chosen.collection_id)
            live = {v.state: v for v in await versions.live_versions(conn, chosen.collection_id)}
            candidate = live.get("candidate")
            if candidate is None or candidate.id != chosen.id:
                raise ConflictError(f"version {chosen.id} is no longer the candidate; see pgseek models list")
            await _require_complete(conn, candidate)
            if "previous" in live:
                raise ConflictError(
                    f"collection {collection!r} still has a previous version ({live['previous'].id}): retire it "
                    "first (pgseek models retire), so that at most two versions take every write"
                )
            if not force:
                _require_comparison(candidate, tolerance)
            await versions.set_state(conn, live["active"], "previous")
            await versions.set_state(conn, candidate, "active")
        return await version_info(pool, collection, chosen.id)


async def _require_complete(conn: Any, version: Version) -> None:
    if version.backfilled_at is None:
        raise ConflictError(
            f"version {version.id} is still being backfilled (or its backfill stopped): wait for it, or resume it "
            "with pgseek models backfill"
        )
    missing, _ = await versions.count_missing(conn, version)
    if missing:
        raise ConflictError(f"version {version.id} lacks {missing} documents; resume its backfill first")
    if version.table is None or not await writes.index_ready(conn, version.table):
        raise ConflictError(f"version {version.id} has no valid vector index yet; resume its backfill to build it")


def _require_comparison(candidate: Version, tolerance: float) -> None:
    found = candidate.comparison or {}
    quality = found.get("quality")
    if not quality:
        raise ConflictError(
            f"version {candidate.id} has not been compared on a golden set or BEIR folder: run pgseek models compare "
            "DATASET first, or activate with --force"
        )
    active, mine = float(quality["active"]["ndcg@10"]), float(quality["candidate"]["ndcg@10"])
    if mine < active - tolerance:
        raise ConflictError(
            f"version {candidate.id} scores nDCG@10 {mine:.3f} against the active version's {active:.3f} on "
            f"{found.get('dataset')}, worse by more than the tolerance {tolerance}: keep the active version, or "
            "activate with --force"
        )


async def rollback(pool: Pool, collection: str) -> VersionInfo:
    """Make the previous version active again in one transaction; the active one becomes the previous (so that
    another rollback rolls forward)."""
    async with translate_errors("rolling back an embedding version"):
        found = await versions_of(pool, collection)
        collection_id = pick(found, collection, None, ("active",)).collection_id
        async with pool.connection() as conn, conn.transaction():
            await versions.lock_collection_versions(conn, collection_id)
            live = {v.state: v for v in await versions.live_versions(conn, collection_id)}
            previous = live.get("previous")
            if previous is None:
                raise ConflictError(f"collection {collection!r} has no previous version to roll back to")
            missing, _ = await versions.count_missing(conn, previous)
            if missing:
                raise ConflictError(f"previous version {previous.id} lacks {missing} documents; it cannot serve")
            await versions.set_state(conn, live["active"], "previous")
            await versions.set_state(conn, previous, "active")
        return await version_info(pool, collection, previous.id)


async def retire(pool: Pool, collection: str, version_id: int | None = None) -> VersionInfo:
    """Retire the previous version (or ``version_id``, a previous or candidate one): drop its table and delete its
    chunks. The active version cannot be retired."""
    async with translate_errors("retiring an embedding version"):
        chosen = pick(await versions_of(pool, collection), collection, version_id, ("previous",))
        versions.require_states(chosen, ["previous", "candidate"], "retired")
        async with pool.connection() as conn, conn.transaction():
            await versions.lock_collection_versions(conn, chosen.collection_id)
            current = await versions.get_version(conn, chosen.id)
            assert current is not None
            versions.require_states(current, ["previous", "candidate"], "retired")
            await versions.retire(conn, current)
        return await version_info(pool, collection, chosen.id)
