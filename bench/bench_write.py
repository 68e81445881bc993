"""The write path alone, on precomputed vectors: pgseek's binary COPY vs the usual pgvector guide pattern.

    python bench/bench_write.py               # 20,000 chunks, 3 rounds
    python bench/bench_write.py --rows 3000   # quick run

Both sides write the same chunk texts, metadata and random unit 384-d float32 vectors (numpy seed 0) into fresh
tables on the same embedded server; the model is not involved. (a) pgseek: ``writes.write_documents`` (document
upsert, binary COPY of chunks and of vectors) in transactions of about 256 chunks, as the ingest pipeline does.
(b) guide: psycopg2 + ``execute_values`` ``INSERT ... ON CONFLICT (id) DO UPDATE`` with numpy vectors adapted by
``pgvector.psycopg2.register_vector``, page_size 500, committing after each call of 5,000 rows. Rows are chunks.
Writes ``bench/results/write.{json,png}``; figures are reported, never asserted. Target: pgseek >= 5x the guide.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

DIMS = 384
CHUNK_CHARS = 800  # about 200 word pieces, pgseek's default chunk size
PGSEEK_BATCH_CHUNKS = 256  # pipeline.GROUP_CHUNKS
GUIDE_PAGE_SIZE = 500
GUIDE_COMMIT_ROWS = 5000
RATIO_TARGET = 5.0

DATA_NOTE = (
    f"SciFact texts sliced into pieces of <= {CHUNK_CHARS} characters, repeated to reach the row count; "
    f"random unit float32 vectors, numpy default_rng(0), {DIMS} dimensions"
)
PGSEEK_NOTE = (
    "db_writes.write_documents on one psycopg AsyncConnection (register_vector_async), one transaction per group of "
    f">= {PGSEEK_BATCH_CHUNKS} chunks (whole documents, as the ingest pipeline groups them); a fresh collection per "
    "round. It also upserts the document rows, and its chunks table computes a tsvector column and maintains a GIN "
    "full-text index and a (document_id, position) index, which the guide table does not."
)
GUIDE_NOTE = (
    f"psycopg2 execute_values(INSERT ... ON CONFLICT (id) DO UPDATE), page_size={GUIDE_PAGE_SIZE}, numpy vectors "
    "adapted by pgvector.psycopg2.register_vector (text form), metadata as Json; commit after each execute_values "
    f"call of {GUIDE_COMMIT_ROWS:,} rows (guides commit per batch; this choice favours the guide over committing per "
    "500-row page); table dropped and recreated each round"
)
COMMON_NOTE = (
    "same embedded server; no vector index on either side during the writes; CHECKPOINT before each timed run; the "
    "timed span is the writes alone (data and Python objects are built beforehand)"
)

GUIDE_TABLE = """
CREATE TABLE guide_items (
    id         text PRIMARY KEY,
    content    text,
    metadata   jsonb,
    embedding  vector(384)
)"""
GUIDE_INSERT = (
    "INSERT INTO guide_items (id, content, metadata, embedding) VALUES %s "
    "ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, metadata = EXCLUDED.metadata, "
    "embedding = EXCLUDED.embedding"
)


def slices(text: str) -> list[tuple[int, int]]:
    """(start, end) pieces of about CHUNK_CHARS characters, cut at a space when there is one."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + CHUNK_CHARS)
        if end < len(text):
            space = text.rfind(" ", start + CHUNK_CHARS // 2, end)
            end = space if space > start else end
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    return spans


def make_data(rows: int) -> tuple[list[Any], np.ndarray]:
    """Documents (SciFact, repeated as needed) with ``rows`` chunks in all, and one unit vector per chunk."""
    from pgseek.types import Chunk, Document

    corpus = [d for d in common.load_corpus() if str(d.get("text") or "").strip()]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs: list[tuple[Document, list[Chunk]]] = []
    total = 0
    copy = 0
    while total < rows:
        for d in corpus:
            text = str(d["text"])
            spans = slices(text)[: rows - total]
            chunks = [
                Chunk(position=i, text=text[s:e], start=s, end=e, token_count=len(text[s:e].split()))
                for i, (s, e) in enumerate(spans)
            ]
            doc = Document(
                external_id=f"{d['_id']}#{copy}",
                text=text,
                title=d.get("title") or None,
                metadata=dict(d.get("metadata") or {}),
            )
            docs.append((doc, chunks))
            total += len(chunks)
            if total >= rows:
                break
        copy += 1
    return docs, vectors


# --- (a) pgseek ---------------------------------------------------------------------------------------------------


def bench_model() -> Any:
    from pgseek.types import ModelInfo

    return ModelInfo(provider="bench", name="bench-random-384", dimensions=DIMS, version="seed0")


def pgseek_batches(docs: Sequence[Any], vectors: np.ndarray) -> list[list[Any]]:
    """Documents with their chunks, vectors and hashes, grouped like the pipeline groups them: a transaction once a
    group reaches 256 chunks. ``as_pending`` makes them PendingDocuments of a version."""
    from pgseek.ingest.pipeline import embed_hash

    model = bench_model()

    batches: list[list[Any]] = [[]]
    in_batch = 0
    offset = 0
    for doc, chunks in docs:
        digest = hashlib.sha256(f"{doc.external_id}\0{doc.text}".encode()).hexdigest()
        hashes = [embed_hash(c.text, model) for c in chunks]
        batch = vectors[offset : offset + len(chunks)]
        batches[-1].append((doc, digest, chunks, batch, hashes))
        offset += len(chunks)
        in_batch += len(chunks)
        if in_batch >= PGSEEK_BATCH_CHUNKS:
            batches.append([])
            in_batch = 0
    return [b for b in batches if b]


def as_pending(batch: Sequence[Any], version: Any) -> list[Any]:
    """A group of ``pgseek_batches`` as the PendingDocuments of one embedding version."""
    from pgseek.db import writes as db_writes

    return [
        db_writes.PendingDocument(doc, digest, [db_writes.VersionRows(version, chunks, vectors, hashes)])
        for doc, digest, chunks, vectors, hashes in batch
    ]


async def run_pgseek(url: str, collection_name: str, batches: list[list[Any]]) -> tuple[float, int]:
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog
    from pgseek.db import versions as db_versions
    from pgseek.db import writes as db_writes

    info = bench_model()
    tenant = "default"
    conn = await psycopg.AsyncConnection.connect(url)
    async with conn:
        await register_vector_async(conn)
        async with conn.transaction():
            await db_catalog.setup_lock(conn)
            await db_catalog.ensure_tenant(conn, tenant)
            collection = await db_catalog.get_collection(conn, collection_name, create=True)
            collection = await db_catalog.ensure_active_version(
                conn, collection, info, chunk_tokens=200, chunk_overlap=32
            )
        version = (await db_versions.live_versions(conn, collection.id))[0]
        await conn.execute("CHECKPOINT")
        await conn.commit()
        started = time.perf_counter()
        for batch in batches:
            async with conn.transaction():
                await db_writes.write_documents(conn, tenant, collection, [version.id], as_pending(batch, version))
        seconds = time.perf_counter() - started
        cur = await conn.execute(
            f'SELECT count(*) FROM "{collection.table}" WHERE collection_id = %s', (collection.id,)
        )
        row = await cur.fetchone()
    return seconds, int(row[0]) if row else 0


# --- (b) the guide pattern ----------------------------------------------------------------------------------------


def guide_rows(docs: Sequence[Any], vectors: np.ndarray) -> list[tuple[Any, ...]]:
    from psycopg2.extras import Json

    rows: list[tuple[Any, ...]] = []
    for doc, chunks in docs:
        metadata = {"document_id": doc.external_id, "title": doc.title, **dict(doc.metadata)}
        for c in chunks:
            rows.append((f"{doc.external_id}:{c.position}", c.text, Json(metadata), vectors[len(rows)]))
    return rows


def run_guide(url: str, rows: list[tuple[Any, ...]]) -> tuple[float, int]:
    import psycopg2
    from pgvector.psycopg2 import register_vector
    from psycopg2.extras import execute_values

    conn = psycopg2.connect(url)
    try:
        register_vector(conn)
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS guide_items")
            cur.execute(GUIDE_TABLE)
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
        conn.autocommit = False
        started = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, len(rows), GUIDE_COMMIT_ROWS):
                execute_values(cur, GUIDE_INSERT, rows[i : i + GUIDE_COMMIT_ROWS], page_size=GUIDE_PAGE_SIZE)
                conn.commit()
        seconds = time.perf_counter() - started
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM guide_items")
            count = int(cur.fetchone()[0])
        conn.commit()
    finally:
        conn.close()
    return seconds, count


# --- (c) pgseek's write technique on the guide's table: binary COPY, same columns, same rows -------------------------


def run_copy(url: str, rows: list[tuple[Any, ...]]) -> tuple[float, int]:
    """Binary COPY (psycopg 3 + pgvector) into a table shaped like the guide's: the technique alone, like for like."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    plain = [(r[0], r[1], Jsonb(r[2].adapted), r[3]) for r in rows]
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS copy_items")
        conn.execute(GUIDE_TABLE.replace("guide_items", "copy_items"))
        conn.commit()
        conn.autocommit = True
        conn.execute("CHECKPOINT")
        conn.autocommit = False
        started = time.perf_counter()
        for i in range(0, len(plain), GUIDE_COMMIT_ROWS):
            with (
                conn.cursor() as cur,
                cur.copy("COPY copy_items (id, content, metadata, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy,
            ):
                copy.set_types(["text", "text", "jsonb", "vector"])
                for row in plain[i : i + GUIDE_COMMIT_ROWS]:
                    copy.write_row(row)
            conn.commit()
        seconds = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM copy_items").fetchone()
    return seconds, int(count[0]) if count else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="chunks to write per side (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each side once per round (default 3)")
    args = parser.parse_args(argv)

    from pgseek import Seek

    docs, vectors = make_data(args.rows)
    batches = pgseek_batches(docs, vectors)
    rows = guide_rows(docs, vectors)
    print(
        f"{len(rows):,} chunks from {len(docs):,} documents; pgseek: {len(batches)} transactions; "
        f"guide: {-(-len(rows) // GUIDE_COMMIT_ROWS)} transactions",
        flush=True,
    )

    runs: list[dict[str, Any]] = []
    with common.bench_home() as home:
        with Seek(common.settings_for(home)) as seek:
            seek.status()  # starts the server and applies pgseek's migrations
            url = seek._core._url
        assert url is not None
        stamp = time.strftime("%Y%m%d%H%M%S")
        for r in range(args.rounds):
            seconds, count = asyncio.run(run_pgseek(url, f"bench_write_{stamp}_{r}", batches))
            runs.append({"round": r + 1, "method": "pgseek", "seconds": seconds, "rows": count})
            print(f"round {r + 1}: pgseek {count / seconds:,.0f} rows/s", flush=True)
            seconds, count = run_guide(url, rows)
            runs.append({"round": r + 1, "method": "guide", "seconds": seconds, "rows": count})
            print(f"round {r + 1}: guide  {count / seconds:,.0f} rows/s", flush=True)
            seconds, count = run_copy(url, rows)
            runs.append({"round": r + 1, "method": "copy", "seconds": seconds, "rows": count})
            print(f"round {r + 1}: binary COPY, guide's table {count / seconds:,.0f} rows/s", flush=True)
        meta = common.base_meta(url)

    def median_rate(method: str) -> float:
        return float(statistics.median(run["rows"] / run["seconds"] for run in runs if run["method"] == method))

    pgseek_rate, guide_rate, copy_rate = median_rate("pgseek"), median_rate("guide"), median_rate("copy")
    ratio = pgseek_rate / guide_rate
    table = [
        {
            "method": "binary COPY (pgseek's technique), guide's table",
            "rows": len(rows),
            "rows/s": copy_rate,
            "seconds": len(rows) / copy_rate,
            "vs guide": copy_rate / guide_rate,
        },
        {
            "method": "pgseek write_documents (documents + chunks with tsvector/GIN + vectors)",
            "rows": len(rows),
            "rows/s": pgseek_rate,
            "seconds": len(rows) / pgseek_rate,
            "vs guide": ratio,
        },
        {
            "method": "guide: psycopg2 execute_values upsert",
            "rows": len(rows),
            "rows/s": guide_rate,
            "seconds": len(rows) / guide_rate,
            "vs guide": 1.0,
        },
    ]
    meta.update(
        {
            "rows": len(rows),
            "documents": len(docs),
            "rounds": args.rounds,
            "figure": "median rows/s over rounds; rows are chunks (each with text, metadata and a vector)",
            "ratio": ratio,
            "copy_ratio": copy_rate / guide_rate,
            "ratio_target": RATIO_TARGET,
            "ratio_within_target": bool(ratio >= RATIO_TARGET),
            "runs": runs,
            "data": DATA_NOTE,
            "pgseek_method": PGSEEK_NOTE,
            "guide_method": GUIDE_NOTE,
            "common": COMMON_NOTE,
        }
    )
    common.write_results(
        "write",
        table,
        meta,
        plot={
            "labels": ["binary COPY\nguide's table", "pgseek full\nwrite path", "guide\nexecute_values"],
            "values": [copy_rate, pgseek_rate, guide_rate],
            "ylabel": "rows (chunks) per second",
            "title": f"Write path, {len(rows):,} chunks, 384-d: COPY {copy_rate / guide_rate:.1f}x, "
            f"full path {ratio:.1f}x",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
