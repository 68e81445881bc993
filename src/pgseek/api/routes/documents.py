"""Documents: ingest as JSON batches or file uploads, read and delete by external id."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Response, UploadFile

from pgseek.api.deps import CollectionPath, KeyDep, MetricsDep, SeekDep
from pgseek.api.errors import ERROR_RESPONSES
from pgseek.api.job_schemas import JobAccepted, JobsAccepted
from pgseek.api.schemas import (
    NO_NUL_PATTERN,
    DocumentPublic,
    DocumentsPage,
    ErrorResponse,
    IngestRequest,
    IngestResponse,
)
from pgseek.catalog import MAX_PAGE
from pgseek.errors import DocumentError, PayloadTooLargeError
from pgseek.ingest.loaders import SUPPORTED_SUFFIXES, document_from_record
from pgseek.types import Document

router = APIRouter(prefix="/v1", tags=["documents"], responses=ERROR_RESPONSES)
DocumentPath = Annotated[
    str,
    Path(
        min_length=1,
        pattern=NO_NUL_PATTERN,
        description="The document's external id, percent-encoded ('/' may stay); ids never have '.' or '..' segments.",
    ),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such document for this tenant"}
}
_COLLECTION_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "The tenant uses no collection of that name"}
}
_FORMATS = ", ".join(sorted(SUPPORTED_SUFFIXES))


def _check_batch(count: int, limit: int, field: str) -> None:
    if count > limit:
        raise PayloadTooLargeError(
            f"{count} {field} in one request; the limit is {limit} (PGSEEK_MAX_BATCH_DOCUMENTS): split the batch",
            field=field,
        )


def _documents(body: IngestRequest) -> list[Document]:
    docs = []
    for i, item in enumerate(body.documents):
        try:
            docs.append(document_from_record(item.model_dump()))
        except DocumentError as exc:
            where = f"documents.{i}" + (f".{exc.field}" if exc.field else "")
            raise DocumentError(f"document {i}: {exc}", field=where) from exc
    return docs


@router.post(
    "/collections/{collection}/documents",
    responses={202: {"model": JobsAccepted, "description": "Queued (wait=false): one job per document"}},
)
async def ingest_documents(
    collection: CollectionPath,
    body: IngestRequest,
    key: KeyDep,
    seek: SeekDep,
    metrics: MetricsDep,
    response: Response,
    wait: Annotated[
        bool, Query(description="false: queue the documents and answer 202 with job ids (GET /v1/jobs waits).")
    ] = True,
) -> IngestResponse | JobsAccepted:
    """Ingest a batch of `{id, title, text, metadata}` documents (created with the collection when it is new).

    Idempotent: an unchanged document costs nothing, a changed one is replaced. Documents the database rejects are
    listed in `failures`; the rest are stored. With `wait=false` the documents are checked, queued for the workers
    (`pgseek worker`, `pgseek serve --queue-workers N`) and answered 202 with one job id each."""
    _check_batch(len(body.documents), seek.settings.max_batch_documents, "documents")
    if not wait:
        docs = _documents(body)
        ids = await seek.jobs.enqueue(docs, collection=collection, tenant=key.tenant)
        response.status_code = 202
        return JobsAccepted(
            jobs=[JobAccepted(id=i, document_id=d.external_id, kind="upsert") for i, d in zip(ids, docs, strict=True)]
        )
    report = await seek.ingest_documents(_documents(body), collection=collection, tenant=key.tenant)
    metrics.observe_ingest(report)
    return IngestResponse.of(report)


@router.post("/collections/{collection}/files")
async def upload_files(
    collection: CollectionPath,
    files: Annotated[list[UploadFile], File(description=f"Files to ingest ({_FORMATS}); the file name is the id.")],
    key: KeyDep,
    seek: SeekDep,
    metrics: MetricsDep,
) -> IngestResponse:
    """Ingest uploaded files with the loaders of `pgseek ingest`; each file that cannot be read is a failure.

    Every record of a `.jsonl` file counts as a document against the batch limit (413, nothing stored)."""
    limit = seek.settings.max_batch_documents
    _check_batch(len(files), limit, "files")
    received = [(f.filename or f"upload-{i}", await f.read()) for i, f in enumerate(files)]
    report = await seek.ingest_files(received, collection=collection, tenant=key.tenant, max_documents=limit)
    metrics.observe_ingest(report)
    return IngestResponse.of(report)


@router.get("/collections/{collection}/documents", responses=_COLLECTION_NOT_FOUND)
async def list_documents(
    collection: CollectionPath,
    key: KeyDep,
    seek: SeekDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Documents per page.")] = 100,
    after: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, pattern=NO_NUL_PATTERN, description="The previous page's `next_after`."),
    ] = None,
    prefix: Annotated[
        str | None, Query(min_length=1, max_length=1000, pattern=NO_NUL_PATTERN, description="Ids starting with this.")
    ] = None,
    source_prefix: Annotated[
        str | None,
        Query(min_length=1, max_length=1000, pattern=NO_NUL_PATTERN, description="Sources starting with this."),
    ] = None,
) -> DocumentsPage:
    """The tenant's documents in the collection, in id order, a page at a time (ids, titles, sources, chunk counts;
    no text): pass `next_after` as `after` for the next page."""
    page = await seek.documents(
        collection, tenant=key.tenant, limit=limit, after=after, prefix=prefix, source_prefix=source_prefix
    )
    return DocumentsPage.of(page)


@router.get("/collections/{collection}/documents/{document_id:path}", responses=_NOT_FOUND)
async def get_document(
    collection: CollectionPath, document_id: DocumentPath, key: KeyDep, seek: SeekDep
) -> DocumentPublic:
    """A document by its external id: text, metadata, chunk count and timestamps."""
    return DocumentPublic.of(await seek.document(document_id, collection=collection, tenant=key.tenant))


@router.delete("/collections/{collection}/documents/{document_id:path}", status_code=204, responses=_NOT_FOUND)
async def delete_document(collection: CollectionPath, document_id: DocumentPath, key: KeyDep, seek: SeekDep) -> None:
    """Delete a document with its chunks and vectors."""
    await seek.delete_document(document_id, collection=collection, tenant=key.tenant)
