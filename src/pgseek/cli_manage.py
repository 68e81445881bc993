"""``pgseek collections`` and ``pgseek documents``: list, show and delete what a tenant has stored."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from pgseek.cli_common import CollectionOpt, JsonOpt, TenantOpt, fail, open_seek, out
from pgseek.types import CollectionInfo, DocumentPage, StoredDocument

collections_app = typer.Typer(help="The collections a tenant uses: list, show, delete.", no_args_is_help=True)
documents_app = typer.Typer(help="A tenant's stored documents: list, show, delete.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The collection's name.")]
IdArg = Annotated[str, typer.Argument(help="The document's external id (the absolute path for files).")]


def _json(value: Any) -> None:
    print(json.dumps(value, default=str))


def _collection_json(info: CollectionInfo) -> dict[str, Any]:
    return asdict(info)


@collections_app.command("list")
def collections_list(tenant: TenantOpt = None, json_out: JsonOpt = False) -> None:
    """The tenant's collections with its own document and chunk counts."""
    with open_seek() as seek:
        found = seek.collections(tenant=tenant)
    if json_out:
        _json([_collection_json(c) for c in found])
        return
    table = Table("collection", "documents", "chunks", "model", "distance", "text search", "since")
    for c in found:
        model = f"{c.model} ({c.dimensions}d)" if c.model else "-"
        since = f"{c.created_at:%Y-%m-%d %H:%M}"
        table.add_row(c.name, str(c.documents), str(c.chunks), model, c.distance, c.text_search_config, since)
    out.print(table)


@collections_app.command("show")
def collections_show(name: NameArg, tenant: TenantOpt = None, json_out: JsonOpt = False) -> None:
    """One collection's settings and the tenant's counts in it (exit 2 when the tenant does not use it)."""
    with open_seek() as seek:
        info = seek.collection(name, tenant=tenant)
    if json_out:
        _json(_collection_json(info))
        return
    for field, value in _collection_json(info).items():
        out.print(f"{field}: {value if value is not None else '-'}", highlight=False)


@collections_app.command("delete")
def collections_delete(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Really delete every document of the tenant in it.")] = False,
    tenant: TenantOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete the tenant's documents in a collection and stop using it (other tenants' documents stay)."""
    if not yes:
        fail(f"deleting collection {name!r} deletes all your documents in it: add --yes to do it")
    with open_seek() as seek:
        deleted = seek.delete_collection(name, tenant=tenant)
    if json_out:
        _json({"name": name, "documents_deleted": deleted})
        return
    out.print(f"deleted collection {name!r}: {deleted} documents", highlight=False)


@documents_app.command("list")
def documents_list(
    collection: CollectionOpt = None,
    tenant: TenantOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Documents per page (1 to 1000).")] = 100,
    after: Annotated[str | None, typer.Option("--after", help="Start after this id (a page's next id).")] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", "-p", help="Only ids that start with this.")] = None,
    source_prefix: Annotated[
        str | None, typer.Option("--source-prefix", help="Only sources that start with this.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The tenant's documents in a collection, in id order, a page at a time (ids, titles, chunk counts)."""
    with open_seek() as seek:
        page = seek.documents(
            collection, tenant=tenant, limit=limit, after=after, prefix=prefix, source_prefix=source_prefix
        )
    if json_out:
        _json(_page_json(page))
        return
    table = Table("id", "title", "chunks", "updated", title=f"collection {page.collection!r}", title_justify="left")
    for d in page.documents:
        table.add_row(d.external_id, d.title or "-", str(d.chunks), f"{d.updated_at:%Y-%m-%d %H:%M}")
    out.print(table)
    more = f"; next page: --after {json.dumps(page.next_after)}" if page.next_after is not None else ""
    out.print(f"{len(page.documents)} of {page.total} documents{more}", highlight=False, soft_wrap=True)


def _page_json(page: DocumentPage) -> dict[str, Any]:
    return {
        "collection": page.collection,
        "documents": [
            {"id": d.external_id, "title": d.title, "source": d.source, "chunks": d.chunks, "updated_at": d.updated_at}
            for d in page.documents
        ],
        "next_after": page.next_after,
        "total": page.total,
    }


@documents_app.command("show")
def documents_show(
    document_id: IdArg, collection: CollectionOpt = None, tenant: TenantOpt = None, json_out: JsonOpt = False
) -> None:
    """A stored document: its metadata, chunk count and text (exit 2 when there is no such document)."""
    with open_seek() as seek:
        doc = seek.document(document_id, collection=collection, tenant=tenant)
    if json_out:
        _json(_document_json(doc))
        return
    for field in ("external_id", "collection", "title", "source", "chunks", "created_at", "updated_at"):
        value = getattr(doc, field)
        out.print(f"{field}: {value if value is not None else '-'}", highlight=False, markup=False)
    out.print(f"metadata: {json.dumps(dict(doc.metadata), ensure_ascii=False)}", highlight=False, markup=False)
    out.print("")
    out.print(doc.text, highlight=False, markup=False)


def _document_json(doc: StoredDocument) -> dict[str, Any]:
    body = asdict(doc)
    body["metadata"] = dict(doc.metadata)
    return body


@documents_app.command("delete")
def documents_delete(
    document_id: IdArg, collection: CollectionOpt = None, tenant: TenantOpt = None, json_out: JsonOpt = False
) -> None:
    """Delete one document with its chunks and vectors (exit 2 when there is no such document)."""
    with open_seek() as seek:
        seek.delete_document(document_id, collection=collection, tenant=tenant)
    if json_out:
        _json({"id": document_id, "deleted": True})
        return
    out.print(f"deleted {document_id!r}", highlight=False, markup=False)
