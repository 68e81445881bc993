"""Collections, documents and API keys through the facade, per tenant: what the HTTP service builds on."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from pgseek import (
    AuthenticationError,
    ConflictError,
    Document,
    InputError,
    NotFoundError,
    Seek,
)
from pgseek.db import migrate


@pytest.fixture(scope="module")
def shared(settings: Any, local_embedder: Any) -> None:
    with Seek(settings, embedder=local_embedder) as seek:
        for tenant in ("acme", "globex"):
            docs = [Document(f"{tenant}-{i}", f"{tenant} memo {i} about rockets.", title=f"memo {i}") for i in range(3)]
            seek.ingest_documents(docs, tenant=tenant, collection="shared")
        seek.ingest_documents([Document("only", "Acme's private plans.")], tenant="acme", collection="acme-only")


@pytest.mark.usefixtures("shared")
def test_a_tenant_lists_only_the_collections_it_uses_with_its_own_counts(seek: Seek) -> None:
    acme = {c.name: c for c in seek.collections(tenant="acme")}
    globex = {c.name: c for c in seek.collections(tenant="globex")}
    assert set(acme) == {"shared", "acme-only"}
    assert set(globex) == {"shared"}
    assert (acme["shared"].documents, globex["shared"].documents) == (3, 3)
    assert acme["shared"].chunks == 3 and acme["shared"].model is not None
    with pytest.raises(NotFoundError):
        seek.collection("acme-only", tenant="globex")


@pytest.mark.usefixtures("shared")
def test_documents_are_read_and_deleted_only_by_their_tenant(seek: Seek) -> None:
    doc = seek.document("acme-1", collection="shared", tenant="acme")
    assert (doc.text, doc.title, doc.chunks) == ("acme memo 1 about rockets.", "memo 1", 1)
    with pytest.raises(NotFoundError):
        seek.document("acme-1", collection="shared", tenant="globex")
    with pytest.raises(NotFoundError):
        seek.delete_document("acme-1", collection="shared", tenant="globex")
    assert seek.document("acme-1", collection="shared", tenant="acme").chunks == 1
    seek.ingest_documents([Document("gone", "To be deleted.")], tenant="globex", collection="shared")
    seek.delete_document("gone", collection="shared", tenant="globex")
    with pytest.raises(NotFoundError):
        seek.document("gone", collection="shared", tenant="globex")


def test_create_collection_conflicts_and_settings(seek: Seek) -> None:
    made = seek.create_collection("fresh", tenant="acme", distance="l2")
    assert (made.name, made.distance, made.documents, made.model) == ("fresh", "l2", 0, None)
    with pytest.raises(ConflictError, match="exists already"):
        seek.create_collection("fresh", tenant="acme")
    with pytest.raises(ConflictError, match="distance 'l2'"):
        seek.create_collection("fresh", tenant="globex", distance="cosine")
    assert seek.create_collection("fresh", tenant="globex").distance == "l2"  # same settings: joins it
    with pytest.raises(InputError) as bad:
        seek.create_collection("bad\nname", tenant="acme")
    assert bad.value.field == "collection"


def test_deleting_a_collection_removes_only_the_callers_documents(seek: Seek, settings: Any) -> None:
    for tenant in ("acme", "globex"):
        seek.ingest_documents([Document(f"{tenant}-d", f"{tenant} doomed note.")], tenant=tenant, collection="doomed")
    assert seek.delete_collection("doomed", tenant="globex") == 1
    assert [c.name for c in seek.collections(tenant="globex") if c.name == "doomed"] == []
    assert seek.collection("doomed", tenant="acme").documents == 1
    assert seek.delete_collection("doomed", tenant="acme") == 1
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM collections WHERE name = 'doomed'").fetchone()
    assert rows == (0,)  # nobody uses it any more: the row went too
    with pytest.raises(NotFoundError):
        seek.delete_collection("doomed", tenant="acme")


def test_api_keys_are_stored_hashed_and_revocable(seek: Seek, settings: Any) -> None:
    made = seek.create_api_key("initech", name="ci")
    assert made.key.startswith(f"pgseek_{made.id}_") and made.tenant == "initech"
    assert seek.authenticate(made.key).tenant == "initech"
    with psycopg.connect(settings.database_url) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (made.id,)).fetchone()
    assert stored is not None and made.key not in stored[0] and len(stored[0]) == 64
    assert [k.id for k in seek.api_keys(tenant="initech")] == [made.id]
    assert seek.revoke_api_key(made.id).revoked_at is not None
    with pytest.raises(AuthenticationError):
        seek.authenticate(made.key)
    with pytest.raises(AuthenticationError):
        seek.authenticate(made.key[:-1] + ("A" if made.key[-1] != "A" else "B"))
    with pytest.raises(NotFoundError):
        seek.revoke_api_key("knothere")


def test_readiness_reports_database_migrations_and_model(seek: Seek) -> None:
    seek.embedder()
    ready = seek.readiness()
    assert ready.ready and ready.pending_migrations == () and ready.database and ready.model


def test_migrations_are_all_applied(settings: Any) -> None:
    import asyncio

    async def pending() -> list[int]:
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            return await migrate.pending(conn)

    with Seek(settings) as seek:
        seek.status()
    assert asyncio.run(pending()) == []


@pytest.mark.usefixtures("shared")
def test_documents_are_listed_in_pages_by_id_for_their_tenant_only(seek: Seek) -> None:
    first = seek.documents("shared", tenant="acme", limit=2)
    assert [d.external_id for d in first.documents] == ["acme-0", "acme-1"]
    assert (first.total, first.next_after, first.collection) == (3, "acme-1", "shared")
    assert (first.documents[0].title, first.documents[0].chunks) == ("memo 0", 1)
    last = seek.documents("shared", tenant="acme", limit=2, after=first.next_after)
    assert ([d.external_id for d in last.documents], last.next_after, last.total) == (["acme-2"], None, 3)
    theirs = seek.documents("shared", tenant="globex", limit=1000)
    assert [d.external_id for d in theirs.documents] == ["globex-0", "globex-1", "globex-2"]
    assert theirs.total == 3
    with pytest.raises(NotFoundError):
        seek.documents("acme-only", tenant="globex")


def test_document_listing_filters_by_id_and_source_prefix(seek: Seek) -> None:
    docs = [
        Document("a/1", "first note on 50% off", source="/srv/a/1.md"),
        Document("a/2", "second note", source="/srv/a/2.md"),
        Document("a_3", "an id with an underscore", source="/srv/b/3.md"),
        Document("b/1", "another folder", source="/srv/b/1.md"),
    ]
    seek.ingest_documents(docs, tenant="acme", collection="prefixed")
    by_id = seek.documents("prefixed", tenant="acme", prefix="a/")
    assert ([d.external_id for d in by_id.documents], by_id.total) == (["a/1", "a/2"], 2)
    like_chars = seek.documents("prefixed", tenant="acme", prefix="a_")  # '_' is a character, not a wildcard
    assert [d.external_id for d in like_chars.documents] == ["a_3"]
    by_source = seek.documents("prefixed", tenant="acme", source_prefix="/srv/b/")
    assert [d.external_id for d in by_source.documents] == ["a_3", "b/1"]


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_page_limit_outside_1_to_1000_is_refused(seek: Seek, limit: int) -> None:
    with pytest.raises(InputError) as bad:
        seek.documents("default", limit=limit)
    assert bad.value.field == "limit"
