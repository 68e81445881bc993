"""float32 (``vector``) against float16 (``halfvec``) storage: recall@10 at equal ef_search, index and table size.

    python bench/bench_halfvec.py                      # 2,000 SciFact chunks embedded, 20,000 rows in all
    python bench/bench_halfvec.py --rows 2000          # real vectors only

The model embeds ``--base`` SciFact documents (title + abstract, cut to the chunk size, as bench_search.py does);
``--rows`` beyond them are those vectors plus Gaussian noise (sigma 0.05 per dimension, renormalised; numpy seed 0),
so that the index holds near neighbours the way a larger corpus does. The same rows go into two collections, one per
precision, written by pgseek's own write path (``db.writes.write_documents``: binary COPY) and indexed by
``ensure_hnsw_index`` (m 16, ef_construction 64, cosine). The 300 SciFact test queries, embedded by the same model,
run through ``db.search.vector_search`` under one tenant: the HNSW plan at each ef_search, and the exact plan.
Recall@10 is measured against exact float32 search computed in numpy, so the halfvec rows show the index's loss and
float16's rounding together; "exact" rows show the rounding alone. Figures are reported, never asserted.
Writes ``bench/results/halfvec.{json,png}``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_search
import common

K = 10
EF_SEARCHES = (40, 100)
TENANT = "bench"
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
WRITE_BATCH = 500
PRECISIONS = ("float32", "float16")


async def load(url: str, info: Any, texts: list[str], vectors: np.ndarray) -> dict[str, dict[str, Any]]:
    """Write the rows into one collection per precision and index each; return the collections and their sizes."""
    import dataclasses
    import hashlib

    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import catalog as db_catalog
    from pgseek.db import versions as db_versions
    from pgseek.db import writes as db_writes
    from pgseek.ingest.pipeline import embed_hash
    from pgseek.types import Chunk, Document

    loaded: dict[str, dict[str, Any]] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await register_vector_async(conn)
        await db_catalog.ensure_tenant(conn, TENANT)
        for precision in PRECISIONS:
            stored = dataclasses.replace(info, precision=precision)
            async with conn.transaction():
                created = await db_catalog.get_collection(conn, precision, create=True, distance="cosine")
                collection = await db_catalog.ensure_active_version(
                    conn, created, stored, chunk_tokens=200, chunk_overlap=32
                )
            version = (await db_versions.live_versions(conn, collection.id))[0]
            table = str(collection.table)
            started = time.perf_counter()
            for start in range(0, len(vectors), WRITE_BATCH):
                batch = []
                for i in range(start, min(len(vectors), start + WRITE_BATCH)):
                    text = texts[i % len(texts)]
                    chunk = Chunk(position=0, text=text, start=0, end=len(text), token_count=len(text.split()))
                    digest = hashlib.sha256(f"{i}\0{text}".encode()).hexdigest()
                    rows = db_writes.VersionRows(version, [chunk], vectors[i : i + 1], [embed_hash(text, stored)])
                    pending = db_writes.PendingDocument(Document(str(i), text), digest, [rows])
                    batch.append(pending)
                async with conn.transaction():
                    await db_writes.write_documents(conn, TENANT, collection, [version.id], batch)
            write_seconds = time.perf_counter() - started
            started = time.perf_counter()
            await db_writes.ensure_hnsw_index(
                conn, table, "cosine", m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, memory="1GB"
            )
            index_seconds = time.perf_counter() - started
            await db_writes.analyze(conn, [table, "chunks", "documents"])
            cur = await conn.execute(
                "SELECT pg_table_size(%(t)s::regclass), "
                "(SELECT sum(pg_relation_size(indexrelid)) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                " JOIN pg_am a ON a.oid = i.relam WHERE x.indrelid = %(t)s::regclass AND a.amname = 'hnsw')",
                {"t": table},
            )
            sizes = await cur.fetchone()
            assert sizes is not None
            loaded[precision] = {
                "collection": collection,
                "table": table,
                "table_bytes": int(sizes[0]),
                "index_bytes": int(sizes[1]),
                "write_seconds": write_seconds,
                "index_seconds": index_seconds,
            }
            print(
                f"  {precision}: wrote {len(vectors):,} rows in {write_seconds:.1f} s, indexed in {index_seconds:.1f} s"
            )
    return loaded


async def search(
    url: str, loaded: dict[str, dict[str, Any]], queries: np.ndarray, first_id: dict[str, int]
) -> dict[tuple[str, str], tuple[list[list[int]], list[float]]]:
    """Each query's top K row numbers and milliseconds, per (precision, plan)."""
    import psycopg
    from pgvector.psycopg import register_vector_async

    from pgseek.db import scope as db_scope
    from pgseek.db import search as db_search

    found: dict[tuple[str, str], tuple[list[list[int]], list[float]]] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await register_vector_async(conn)
        for precision, where in loaded.items():
            plans = [(f"hnsw ef {ef}", db_search.VectorTuning(ef, 20_000, 0)) for ef in EF_SEARCHES]
            plans.append(("exact", db_search.VectorTuning(40, 20_000, 10**9)))
            for plan, tuning in plans:
                ids: list[list[int]] = []
                ms: list[float] = []
                for vector in queries:
                    started = time.perf_counter()
                    async with conn.transaction():
                        scope = await db_scope.enter_tenant(conn, TENANT)
                        rows, _ = await db_search.vector_search(
                            scope, where["table"], where["collection"], vector, k=K, tuning=tuning
                        )
                    ms.append((time.perf_counter() - started) * 1000)
                    ids.append([r.chunk_id - first_id[precision] for r in rows])
                found[(precision, plan)] = (ids, ms)
    return found


async def first_chunk_ids(url: str) -> dict[str, int]:
    """The chunk id of row 0 in each collection: chunk ids are allocated in row order, one per row."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT c.name, min(k.id) FROM chunks k JOIN collections c ON c.id = k.collection_id GROUP BY c.name"
        )
        return {str(name): int(first) for name, first in await cur.fetchall()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per collection (default 20,000)")
    parser.add_argument("--base", type=int, default=2_000, help="SciFact documents embedded for real (default 2,000)")
    args = parser.parse_args(argv)
    if args.rows < args.base:
        sys.exit("--rows must be at least --base")

    from pgseek import Seek

    queries = [text for _, text in common.load_test_queries()]
    with common.bench_home() as home, Seek(common.settings_for(home)) as seek:
        seek.status()
        url = seek._core._url
        assert url is not None
        embedder = seek.embedder()
        _, texts, base_vectors = bench_search.base_chunks(embedder, args.base)
        vectors = bench_search.synthetic_vectors(base_vectors, args.rows, 0.05, np.random.default_rng(0))
        vectors[: len(base_vectors)] = base_vectors  # the real vectors themselves, then their noisy copies
        query_vectors = np.asarray(embedder.embed(queries, purpose="query"), dtype=np.float32)
        print(f"writing {args.rows:,} rows twice (float32, float16) ...", flush=True)
        loaded = asyncio.run(load(url, embedder.info, texts, vectors))
        first = asyncio.run(first_chunk_ids(url))
        print(f"searching {len(queries)} queries per plan ...", flush=True)
        found = asyncio.run(search(url, loaded, query_vectors, first))
        meta = common.base_meta(url)
        model = {"name": embedder.info.name, "version": embedder.info.version, "dims": embedder.info.dimensions}

    truth = np.argsort(-(query_vectors @ vectors.T), axis=1)[:, :K]
    rows: list[dict[str, Any]] = []
    for (precision, plan), (ids, ms) in found.items():
        recall = np.mean([len(set(got) & set(want.tolist())) / K for got, want in zip(ids, truth, strict=True)])
        where = loaded[precision]
        rows.append(
            {
                "storage": "halfvec" if precision == "float16" else "vector",
                "plan": plan,
                "recall@10": float(recall),
                "p50 ms": common.percentile(ms, 50),
                "index MiB": where["index_bytes"] / 2**20,
                "table MiB": where["table_bytes"] / 2**20,
                "index build s": where["index_seconds"],
            }
        )
    meta.update(
        {
            "rows": args.rows,
            "base_documents": args.base,
            "noise_sigma": 0.05,
            "queries": len(queries),
            "k": K,
            "model": model,
            "hnsw": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "distance": "cosine"},
            "truth": "exact float32 cosine top 10 in numpy over the same rows",
        }
    )
    plans = list(dict.fromkeys(plan for _, plan in found))
    recalls = {(r["storage"], r["plan"]): r["recall@10"] for r in rows}
    by_type = {column: [recalls[column, plan] for plan in plans] for column in ("vector", "halfvec")}
    common.write_results(
        "halfvec",
        rows,
        meta,
        plot={
            "labels": plans,
            "values": by_type,
            "title": f"recall@10 vs exact float32, {args.rows:,} rows ({model['name']}), vector vs halfvec",
            "ylabel": "recall@10",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
