"""Ingest SciFact end to end with pgseek, then time the 300 SciFact test queries.

    python bench/bench_ingest.py              # whole corpus (5,183 documents; minutes on a small CPU)
    python bench/bench_ingest.py --limit 300  # quick run

Writes ``bench/results/ingest.{json,png}`` and ``bench/results/query.{json,png}``. Figures are reported, never
asserted. Targets: pipeline overhead vs model time (seconds / model_seconds - 1) of at most 10%.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

OVERHEAD_TARGET = 0.10
COLLECTION = "bench_scifact"
WARMUP_QUERIES = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="ingest only the first N documents")
    parser.add_argument("--k", type=int, default=10, help="hits per query (default 10)")
    args = parser.parse_args(argv)

    from pgseek import Document, Seek

    corpus = common.load_corpus(args.limit)
    queries = common.load_test_queries()
    qrels = common.load_qrels("test")
    documents = [
        Document(
            external_id=str(d["_id"]),
            text=str(d["text"]),
            title=d.get("title") or None,
            metadata=dict(d.get("metadata") or {}),
        )
        for d in corpus
    ]

    with common.bench_home() as home:
        settings = common.settings_for(home)
        with Seek(settings) as seek:
            t0 = time.perf_counter()
            seek.status()
            db_start = time.perf_counter() - t0
            url = seek._core._url
            t0 = time.perf_counter()
            embedder = seek.embedder()
            model_load = time.perf_counter() - t0
            print(
                f"database ready in {db_start:.1f} s, model loaded in {model_load:.1f} s; ingesting "
                f"{len(documents):,} documents ...",
                flush=True,
            )

            report = seek.ingest_documents(documents, collection=COLLECTION)
            if report.failures:
                print(f"warning: {len(report.failures)} documents failed, e.g. {report.failures[0]}", file=sys.stderr)

            for _, text in queries[:WARMUP_QUERIES]:
                seek.search(text, k=args.k, collection=COLLECTION)
            embed_ms: list[float] = []
            search_ms: list[float] = []
            total_ms: list[float] = []
            found = 0
            answerable = 0
            ingested = {str(d["_id"]) for d in corpus}
            wall = time.perf_counter()
            for query_id, text in queries:
                result = seek.search(text, k=args.k, collection=COLLECTION)
                embed_ms.append(result.timings_ms.embed)
                search_ms.append(result.timings_ms.search)
                total_ms.append(result.timings_ms.total)
                relevant = set(qrels.get(query_id, {})) & ingested
                if relevant:
                    answerable += 1
                    found += bool(relevant & {h.document_id for h in result.hits})
            query_wall = time.perf_counter() - wall
            meta = common.base_meta(url)
            meta["model"] = {
                "name": embedder.info.name,
                "version": embedder.info.version,
                **{f"backend_{purpose}": backend for purpose, backend in common.embed_backends(embedder).items()},
            }
            meta["settings"] = {
                "chunk_tokens": settings.chunk_tokens,
                "chunk_overlap": settings.chunk_overlap,
                "embed_batch_size": settings.embed_batch_size,
                "hnsw_m": settings.hnsw_m,
                "hnsw_ef_construction": settings.hnsw_ef_construction,
                "ef_search": settings.ef_search,
            }

    seconds, model_seconds = report.seconds, report.model_seconds
    outside = 1 - model_seconds / seconds if seconds else float("nan")
    overhead = seconds / model_seconds - 1 if model_seconds else float("nan")
    ingest_rows = [
        {"metric": "documents", "value": report.documents_added},
        {"metric": "chunks", "value": report.chunks_embedded},
        {"metric": "total seconds", "value": seconds},
        {"metric": "model seconds", "value": model_seconds},
        {"metric": "documents/s", "value": report.documents_added / seconds},
        {"metric": "chunks/s", "value": report.chunks_embedded / seconds},
        {"metric": "share of wall time outside the model", "value": outside},
        {"metric": "pipeline overhead vs model time (target <= 0.10)", "value": overhead},
    ]
    ingest_meta = {
        **meta,
        "dataset": "BEIR SciFact corpus" + (f" (first {args.limit} documents)" if args.limit else ""),
        "documents_seen": report.documents_seen,
        "documents_failed": report.documents_failed,
        "database_start_seconds": db_start,
        "model_load_seconds": model_load,
        "overhead_target": OVERHEAD_TARGET,
        "overhead_within_target": bool(overhead <= OVERHEAD_TARGET),
        "notes": "seconds and model_seconds come from pgseek's IngestReport: seconds is the wall time of "
        "ingest_documents (setup, chunking, embedding, writes, HNSW index build, ANALYZE); model_seconds "
        "is the time inside embedder.embed. Database start and model load are not included.",
    }
    common.write_results(
        "ingest",
        ingest_rows,
        ingest_meta,
        plot={
            "labels": ["ingest"],
            "stacked": True,
            "values": {"model": [model_seconds], "outside the model": [seconds - model_seconds]},
            "ylabel": "seconds",
            "title": f"SciFact ingest: {report.documents_added:,} docs, {report.chunks_embedded:,} chunks "
            f"(overhead {overhead:.1%})",
        },
    )

    percentiles = {"p50": 50, "p90": 90, "p99": 99}
    query_rows = [
        {
            "what": stage,
            **{p: common.percentile(values, q) for p, q in percentiles.items()},
            "mean": sum(values) / len(values),
        }
        for stage, values in (("embed ms", embed_ms), ("search ms", search_ms), ("total ms", total_ms))
    ]
    query_meta = {
        **meta,
        "queries": len(queries),
        "warmup_queries_not_counted": WARMUP_QUERIES,
        "k": args.k,
        "corpus_documents": len(documents),
        "chunks": report.chunks_embedded,
        "queries_per_second_sequential": len(queries) / query_wall,
        "hit_at_k": found / answerable if answerable else None,
        "hit_at_k_note": "share of queries (with a relevant document ingested) that have one in the top k: a "
        "sanity check, not the quality benchmark",
        "notes": "timings_ms from SearchResult: embed = query embedding, search = database round trip, total = both; "
        "queries run one at a time through Seek.search.",
    }
    common.write_results(
        "query",
        query_rows,
        query_meta,
        plot={
            "labels": ["embed", "search", "total"],
            "values": {p: [row[p] for row in query_rows] for p in ("p50", "p99")},
            "ylabel": "milliseconds",
            "title": f"Query latency, {len(queries)} SciFact test queries, k={args.k}",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
