"""pgseek side by side with what users would otherwise pick, on one embedded server, one corpus and one model.

    python bench/bench_peers.py                                  # full run (see --help for sizes)
    python bench/bench_peers.py --corpus-docs 300 --e2e-docs 60 --queries 20   # quick run

Systems (peers pinned in pyproject's ``peers`` extra):
  pgseek     ``Seek.ingest_documents`` / ``Seek.search`` with its defaults.
  guide      the path most pgvector production guides teach: psycopg2, ``execute_values`` (page_size 500) into
             (id, content, metadata jsonb, embedding vector(384)), HNSW built after the load, session-level
             ``SET hnsw.ef_search``, plain ``ORDER BY embedding <=> q LIMIT k`` (``WHERE metadata->>...`` to filter).
  langchain  langchain-postgres ``PGVectorStore`` (engine on psycopg 3), ``add_texts`` / ``add_embeddings``,
             ``apply_vector_index(HNSWIndex())``, ``similarity_search_with_score``.
  llamaindex llama-index-vector-stores-postgres ``PGVectorStore`` with ``hnsw_kwargs`` (its index exists before the
             load), ``VectorStoreIndex(nodes)`` to ingest, ``store.query(VectorStoreQuery)`` to search.

Every system gets the same chunks: SciFact cut by pgseek's chunker, each embedded as "title + newline + chunk", and
the same model (all-MiniLM-L6-v2): the peers through an adapter for their embedding interface around one
``SentenceTransformer`` (batch 64), pgseek through its own embedder (which may pick ONNX Runtime, same vectors).
HNSW m=16, ef_construction=64, ef_search=40 everywhere.

Phases:
  e2e     the first ``--e2e-docs`` documents, real model, into empty tables: documents/s and chunks/s until searchable
          (for the peers the chunk texts are given, so their figure excludes chunking; pgseek's includes it).
  write   the whole corpus on precomputed chunks and vectors (bench/embed_cache.py): the load, then the index
          build, timed apart where the system does them apart (pgseek: its store functions, as bench_write.py).
  query   ``--queries`` SciFact test queries, k=10 chunks deduplicated to documents: p50/p99 with the query's
          embedding included, and nDCG@10. pgseek hybrid is reported too.
  filter  a small group (every 100th document, metadata group=small): rows returned for k=10 and recall@10 against
          exact search computed in numpy.
Writes ``bench/results/peers.{json,md}`` and ``peers_*.png``; figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import embed_cache
from embed_cache import Unit

K = 10
EF_SEARCH = 40
BATCH = 64
SMALL_EVERY = 100
WARMUP = 5
TARGETS = {"e2e_vs_langchain": 1.2, "write_vs_guide": 5.0, "query_p50_vs_langchain": 0.6}


# --- the model, as the peers see it -------------------------------------------------------------------------------


class SentenceModel:
    """One SentenceTransformer shared by the peers' adapters."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        from pgseek.config import DEFAULT_MODEL
        from pgseek.providers.local import bundled_model_dir

        path = bundled_model_dir(DEFAULT_MODEL)
        self.model = SentenceTransformer(str(path) if path else DEFAULT_MODEL, device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def langchain_embeddings(model: SentenceModel) -> Any:
    from langchain_core.embeddings import Embeddings

    class MiniLM(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return model.encode(texts).tolist()  # type: ignore[no-any-return]

        def embed_query(self, text: str) -> list[float]:
            return model.encode([text])[0].tolist()  # type: ignore[no-any-return]

    return MiniLM()


def llama_embeddings(model: SentenceModel) -> Any:
    from llama_index.core.embeddings import BaseEmbedding

    class MiniLM(BaseEmbedding):  # type: ignore[misc]
        def _get_query_embedding(self, query: str) -> list[float]:
            return model.encode([query])[0].tolist()  # type: ignore[no-any-return]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return model.encode([text])[0].tolist()  # type: ignore[no-any-return]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return model.encode(texts).tolist()  # type: ignore[no-any-return]

    return MiniLM(model_name="all-MiniLM-L6-v2", embed_batch_size=BATCH)


def metadata(unit: Unit, small: set[str]) -> dict[str, Any]:
    return {
        "doc_id": unit.doc_id,
        "position": unit.chunk.position,
        "title": unit.title,
        "group": "small" if unit.doc_id in small else "rest",
    }


# --- systems ------------------------------------------------------------------------------------------------------
# Each returns, from search, the (doc_id, position) of its top-k chunks in rank order.

Found = list[tuple[str, int]]


class Guide:
    name = "guide"

    def __init__(self, url: str, table: str) -> None:
        import psycopg2
        from pgvector.psycopg2 import register_vector

        self.table = table
        self.conn = psycopg2.connect(url)
        register_vector(self.conn)
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(
                f"CREATE TABLE {table} (id text PRIMARY KEY, content text, metadata jsonb, embedding vector(384))"
            )
        self.conn.commit()

    def load_texts(self, units: Sequence[Unit], small: set[str], model: SentenceModel) -> None:
        self.load(units, model.encode([u.embed_text for u in units]), small)

    def load(self, units: Sequence[Unit], vectors: np.ndarray, small: set[str]) -> None:
        from psycopg2.extras import Json, execute_values

        rows = [
            (f"{u.doc_id}:{u.chunk.position}", u.embed_text, Json(metadata(u, small)), v)
            for u, v in zip(units, vectors, strict=True)
        ]
        with self.conn.cursor() as cur:
            execute_values(
                cur,
                f"INSERT INTO {self.table} (id, content, metadata, embedding) VALUES %s ON CONFLICT (id) DO UPDATE "
                "SET content = EXCLUDED.content, metadata = EXCLUDED.metadata, embedding = EXCLUDED.embedding",
                rows,
                page_size=500,
            )
        self.conn.commit()

    def index(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE INDEX ON {self.table} USING hnsw (embedding vector_cosine_ops)")
            cur.execute(f"ANALYZE {self.table}")
            cur.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        self.conn.commit()

    def search(self, model: SentenceModel, query: str, group: str | None = None) -> Found:
        vector = model.encode([query])[0]
        where = "WHERE metadata->>'group' = %s" if group else ""
        params: tuple[Any, ...] = (group, vector) if group else (vector,)
        with self.conn.cursor() as cur:
            cur.execute(
                f"SELECT metadata->>'doc_id', (metadata->>'position')::int FROM {self.table} {where} "
                "ORDER BY embedding <=> %s LIMIT 10",
                params,
            )
            rows = cur.fetchall()
        self.conn.commit()
        return [(str(d), int(p)) for d, p in rows]

    def close(self) -> None:
        self.conn.close()


class LangChain:
    name = "langchain"

    def __init__(self, url: str, table: str, model: SentenceModel) -> None:
        from langchain_postgres import PGEngine, PGVectorStore

        self.engine = PGEngine.from_connection_string(url=sqlalchemy_url(url, "psycopg"))
        self.engine.init_vectorstore_table(table_name=table, vector_size=384, overwrite_existing=True)
        self.store = PGVectorStore.create_sync(
            engine=self.engine, table_name=table, embedding_service=langchain_embeddings(model)
        )

    def load_texts(self, units: Sequence[Unit], small: set[str], model: SentenceModel) -> None:
        self.store.add_texts(
            [u.embed_text for u in units],
            metadatas=[metadata(u, small) for u in units],
            ids=[str(uuid.uuid4()) for _ in units],
        )

    def load(self, units: Sequence[Unit], vectors: np.ndarray, small: set[str]) -> None:
        self.store.add_embeddings(
            [u.embed_text for u in units],
            vectors.tolist(),
            metadatas=[metadata(u, small) for u in units],
            ids=[str(uuid.uuid4()) for _ in units],
        )

    def index(self) -> None:
        from langchain_postgres.v2.indexes import HNSWIndex

        self.store.apply_vector_index(HNSWIndex(m=16, ef_construction=64))

    def search(self, model: SentenceModel, query: str, group: str | None = None) -> Found:
        from langchain_postgres.v2.indexes import HNSWQueryOptions

        docs = self.store.similarity_search_with_score(
            query,
            k=K,
            filter={"group": {"$eq": group}} if group else None,
            query_options=HNSWQueryOptions(ef_search=EF_SEARCH),
        )
        return [(str(d.metadata["doc_id"]), int(d.metadata["position"])) for d, _ in docs]

    def close(self) -> None:
        self.engine._run_as_sync(self.engine.close())


class LlamaIndex:
    name = "llamaindex"

    def __init__(self, url: str, table: str, model: SentenceModel) -> None:
        from llama_index.vector_stores.postgres import PGVectorStore

        self.embed = llama_embeddings(model)
        self.store = PGVectorStore.from_params(
            connection_string=sqlalchemy_url(url, "psycopg2"),
            async_connection_string=sqlalchemy_url(url, "asyncpg"),
            table_name=table,
            embed_dim=384,
            hnsw_kwargs={"hnsw_m": 16, "hnsw_ef_construction": 64, "hnsw_ef_search": EF_SEARCH},
        )

    def _nodes(self, units: Sequence[Unit], small: set[str], vectors: np.ndarray | None) -> list[Any]:
        from llama_index.core.schema import TextNode

        return [
            TextNode(
                text=u.embed_text,
                metadata=metadata(u, small),
                embedding=None if vectors is None else vectors[i].tolist(),
            )
            for i, u in enumerate(units)
        ]

    def load_texts(self, units: Sequence[Unit], small: set[str], model: SentenceModel) -> None:
        from llama_index.core import StorageContext, VectorStoreIndex

        context = StorageContext.from_defaults(vector_store=self.store)
        VectorStoreIndex(self._nodes(units, small, None), storage_context=context, embed_model=self.embed)

    def load(self, units: Sequence[Unit], vectors: np.ndarray, small: set[str]) -> None:
        self.store.add(self._nodes(units, small, vectors))

    def index(self) -> None:
        pass  # the store created its HNSW index with the table, before the load

    def search(self, model: SentenceModel, query: str, group: str | None = None) -> Found:
        from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters, VectorStoreQuery

        filters = MetadataFilters(filters=[ExactMatchFilter(key="group", value=group)]) if group else None
        result = self.store.query(
            VectorStoreQuery(query_embedding=self.embed.get_query_embedding(query), similarity_top_k=K, filters=filters)
        )
        return [(str(n.metadata["doc_id"]), int(n.metadata["position"])) for n in result.nodes or []]

    def close(self) -> None:
        # The async engine was never used (every call here is sync); disposing the sync one frees its connections.
        if self.store._engine is not None:
            self.store._engine.dispose()


class Pgseek:
    name = "pgseek"

    def __init__(self, base: Any, url: str, database: str, embedder: Any, *, create: bool = True) -> None:
        from pgseek import Seek

        if create:
            create_database(url, database)
        self.settings = base.model_copy(update={"database_url": with_database(url, database)})
        self.seek = Seek(self.settings, embedder=embedder)
        self.embedder = embedder
        self.load_seconds = self.index_seconds = float("nan")

    def documents(self, docs: Sequence[dict[str, Any]], small: set[str]) -> list[Any]:
        from pgseek import Document

        return [
            Document(
                str(d["_id"]),
                str(d.get("text") or ""),
                title=d.get("title") or None,
                metadata={"group": "small" if str(d["_id"]) in small else "rest"},
            )
            for d in docs
        ]

    def ingest(self, docs: Sequence[dict[str, Any]], small: set[str]) -> Any:
        return self.seek.ingest_documents(self.documents(docs, small), collection="bench")

    def write(
        self, docs: Sequence[dict[str, Any]], units: Sequence[Unit], vectors: np.ndarray, small: set[str]
    ) -> None:
        """The write path alone: pgseek's store functions on chunks and vectors computed beforehand."""
        asyncio.run(self._write(self.documents(docs, small), units, vectors))

    async def _write(self, documents: Sequence[Any], units: Sequence[Unit], vectors: np.ndarray) -> None:
        import psycopg
        from pgvector.psycopg import register_vector_async

        from bench_write import as_pending, pgseek_batches
        from pgseek.db import catalog as db_catalog
        from pgseek.db import versions as db_versions
        from pgseek.db import writes as db_writes

        chunks: dict[str, list[Any]] = {}
        for u in units:  # in corpus order, each document's chunks together: the order of ``vectors``
            chunks.setdefault(u.doc_id, []).append(u.chunk)
        groups = pgseek_batches([(d, chunks[d.external_id]) for d in documents if d.external_id in chunks], vectors)
        info = self.embedder.info
        started = time.perf_counter()
        conn = await psycopg.AsyncConnection.connect(self.settings.database_url)
        async with conn:
            await register_vector_async(conn)
            async with conn.transaction():
                await db_catalog.setup_lock(conn)
                await db_catalog.ensure_tenant(conn, self.settings.tenant)
                collection = await db_catalog.get_collection(conn, "bench", create=True)
                collection = await db_catalog.ensure_active_version(
                    conn, collection, info, chunk_tokens=200, chunk_overlap=32
                )
            version = (await db_versions.live_versions(conn, collection.id))[0]
            for group in groups:
                pending = as_pending(group, version)
                async with conn.transaction():
                    await db_writes.write_documents(conn, self.settings.tenant, collection, [version.id], pending)
            self.load_seconds = time.perf_counter() - started
            s = self.settings
            await db_writes.ensure_hnsw_index(
                conn,
                str(collection.table),
                collection.distance,
                m=s.hnsw_m,
                ef_construction=s.hnsw_ef_construction,
                memory=s.index_build_memory,
            )
            await db_writes.analyze(conn, ["documents", "chunks", str(collection.table)])
        self.index_seconds = time.perf_counter() - started - self.load_seconds

    def search(self, model: SentenceModel, query: str, group: str | None = None, mode: str | None = None) -> Found:
        from pgseek import SearchFilter

        flt = SearchFilter(contains={"group": group}) if group else None
        hits = self.seek.search(query, k=K, mode=mode or "vector", filter=flt, collection="bench").hits
        return [(h.document_id, h.position) for h in hits]

    def close(self) -> None:
        self.seek.close()


# --- plumbing -----------------------------------------------------------------------------------------------------


def with_database(url: str, database: str) -> str:
    # Embedded URLs look like postgresql://postgres:@/postgres?host=/path/pgdata
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def sqlalchemy_url(url: str, driver: str) -> str:
    return url.replace("postgresql://", f"postgresql+{driver}://", 1)


def create_database(url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def enable_vector(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def checkpoint(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def load_and_index(system: Any, units: Sequence[Unit], small: set[str], model: SentenceModel) -> None:
    system.load_texts(units, small, model)
    system.index()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def ndcg(found: Found, qrels: dict[str, int]) -> float:
    from pgseek.evaluate.metrics import dedupe_documents, ndcg_at_k

    return ndcg_at_k(dedupe_documents(d for d, _ in found), qrels, K)


# --- phases -------------------------------------------------------------------------------------------------------


def run_queries(
    system: Any, model: SentenceModel, queries: Sequence[tuple[str, str]], qrels: dict[str, dict[str, int]], **kw: Any
) -> dict[str, float]:
    for _, text in queries[:WARMUP]:
        system.search(model, text, **kw)
    latencies, scores = [], []
    for qid, text in queries:
        seconds, found = timed(partial(system.search, model, text, **kw))
        latencies.append(seconds * 1000)
        scores.append(ndcg(found, qrels.get(qid, {})))
    return {
        "query_p50_ms": common.percentile(latencies, 50),
        "query_p99_ms": common.percentile(latencies, 99),
        "ndcg@10": statistics.fmean(scores),
    }


def exact_small(query_vectors: np.ndarray, units: Sequence[Unit], vectors: np.ndarray, small: set[str]) -> list[Found]:
    rows = [i for i, u in enumerate(units) if u.doc_id in small]
    scores = query_vectors @ vectors[rows].T
    top = np.argsort(-scores, axis=1)[:, :K]
    return [[(units[rows[j]].doc_id, units[rows[j]].chunk.position) for j in line] for line in top]


def run_filtered(system: Any, model: SentenceModel, queries: Sequence[str], truth: list[Found]) -> dict[str, float]:
    returned, recalls = [], []
    for text, expected in zip(queries, truth, strict=True):
        found = system.search(model, text, group="small")
        returned.append(len(found))
        recalls.append(len(set(found) & set(expected)) / len(expected))
    return {"filtered_rows_mean": statistics.fmean(returned), "filtered_recall@10": statistics.fmean(recalls)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--e2e-docs", type=int, default=500, help="documents ingested with the model (default 500)")
    parser.add_argument("--queries", type=int, default=300, help="SciFact test queries timed (default all 300)")
    parser.add_argument("--filter-queries", type=int, default=100, help="queries for the small-group test")
    parser.add_argument("--corpus-docs", type=int, default=None, help="use only the first N documents (quick checks)")
    parser.add_argument("--systems", default="pgseek,guide,langchain,llamaindex")
    args = parser.parse_args(argv)
    names = args.systems.split(",")

    from importlib.metadata import version

    from pgseek import Seek

    corpus = [d for d in common.load_corpus(args.corpus_docs) if str(d.get("text") or "").strip()]
    small = {str(d["_id"]) for i, d in enumerate(corpus) if i % SMALL_EVERY == 0}
    queries = common.load_test_queries()[: args.queries]
    qrels = common.load_qrels("test")
    results: dict[str, dict[str, Any]] = {n: {"system": n} for n in names}

    with common.bench_home() as home:
        base = common.settings_for(home)
        with Seek(base) as admin:
            admin.status()
            url = admin._core._url
            assert url is not None
            pg_embedder = admin.embedder()
        peers_url = with_database(url, "peers")
        create_database(url, "peers")
        enable_vector(peers_url)
        model = SentenceModel()
        units = embed_cache.scifact_units(pg_embedder, corpus, base.chunk_tokens, base.chunk_overlap)
        vectors = embed_cache.vectors_for(pg_embedder, [u.embed_text for u in units])
        print(f"{len(corpus):,} documents, {len(units):,} chunks; small group: {len(small)} documents", flush=True)

        # e2e: the real model, a slice of the corpus, empty tables.
        e2e_docs = corpus[: args.e2e_docs]
        e2e_ids = {str(d["_id"]) for d in e2e_docs}
        e2e_units = [u for u in units if u.doc_id in e2e_ids]
        for name in names:
            checkpoint(url)
            if name == "pgseek":
                system: Any = Pgseek(base, url, "pgseek_e2e", pg_embedder)
                system.seek.status()  # migrations, outside the timed span
                seconds, report = timed(partial(system.ingest, e2e_docs, small))
                assert report.chunks_embedded == len(e2e_units), report
            else:
                system = make_peer(name, peers_url, f"{name}_e2e", model)
                seconds, _ = timed(partial(load_and_index, system, e2e_units, small, model))
            system.close()
            results[name].update(
                e2e_seconds=seconds,
                e2e_docs_per_s=len(e2e_docs) / seconds,
                e2e_chunks_per_s=len(e2e_units) / seconds,
            )
            print(f"e2e {name}: {len(e2e_units) / seconds:.1f} chunks/s", flush=True)

        # write: whole corpus on precomputed vectors; these tables then serve the query phases.
        systems: dict[str, Any] = {}
        for name in names:
            checkpoint(url)
            if name == "pgseek":
                system = Pgseek(base, url, "pgseek_full", pg_embedder)
                system.seek.status()  # migrations, outside the timed span
                seconds, _ = timed(partial(system.write, corpus, units, vectors, small))
                load, index = system.load_seconds, system.index_seconds
            else:
                system = make_peer(name, peers_url, f"{name}_full", model)
                load, _ = timed(partial(system.load, units, vectors, small))
                index, _ = timed(system.index)
                seconds = load + (0.0 if index != index else index)
            systems[name] = system
            results[name].update(
                write_seconds=seconds, write_rows_per_s=len(units) / seconds, load_seconds=load, index_seconds=index
            )
            print(f"write {name}: {len(units) / seconds:,.0f} chunks/s", flush=True)

        # query + filter
        query_vectors = pg_embedder.embed([t for _, t in queries[: args.filter_queries]], purpose="query")
        truth = exact_small(query_vectors, units, vectors, small)
        filter_texts = [t for _, t in queries[: args.filter_queries]]
        for name, system in systems.items():
            results[name].update(run_queries(system, model, queries, qrels))
            results[name].update(run_filtered(system, model, filter_texts, truth))
            print(f"query {name}: {results[name]}", flush=True)
        if "pgseek" in systems:
            hybrid: dict[str, Any] = {"system": "pgseek hybrid"}
            hybrid.update(run_queries(systems["pgseek"], model, queries, qrels, mode="hybrid"))
            results["pgseek hybrid"] = hybrid
        for system in systems.values():
            system.close()

        meta = common.base_meta(url)
        meta.update(
            corpus={"documents": len(corpus), "chunks": len(units), "small_group_documents": len(small)},
            e2e_documents=len(e2e_docs),
            e2e_chunks=len(e2e_units),
            queries=len(queries),
            filter_queries=len(filter_texts),
            peers={
                p: version(p)
                for p in (
                    "langchain-postgres",
                    "langchain-core",
                    "llama-index-vector-stores-postgres",
                    "llama-index-core",
                    "psycopg2-binary",
                    "sentence-transformers",
                )
            },
            embedder={f"pgseek_{purpose}": backend for purpose, backend in common.embed_backends(pg_embedder).items()},
            notes=__doc__,
        )
    rows = list(results.values())
    meta["ratios"] = ratios(results)
    common.write_results("peers", rows, meta)
    write_markdown(rows, meta)
    plot(rows)
    return 0


def make_peer(name: str, url: str, table: str, model: SentenceModel) -> Any:
    if name == "guide":
        return Guide(url, table)
    if name == "langchain":
        return LangChain(url, table, model)
    if name == "llamaindex":
        return LlamaIndex(url, table, model)
    raise SystemExit(f"unknown system {name!r}: choose from pgseek, guide, langchain, llamaindex")


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    p, lc, g = results.get("pgseek", {}), results.get("langchain", {}), results.get("guide", {})
    out: dict[str, Any] = {}
    if p and lc:
        out["e2e_vs_langchain"] = p["e2e_chunks_per_s"] / lc["e2e_chunks_per_s"]
        out["query_p50_vs_langchain"] = p["query_p50_ms"] / lc["query_p50_ms"]
    if p and g:
        out["write_vs_guide"] = p["write_rows_per_s"] / g["write_rows_per_s"]
    out["targets"] = TARGETS
    return out


def write_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    columns = [
        ("system", "system"),
        ("e2e_docs_per_s", "e2e docs/s"),
        ("e2e_chunks_per_s", "e2e chunks/s"),
        ("write_rows_per_s", "write chunks/s"),
        ("index_seconds", "index s"),
        ("query_p50_ms", "query p50 ms"),
        ("query_p99_ms", "query p99 ms"),
        ("ndcg@10", "nDCG@10"),
        ("filtered_rows_mean", "small-group rows (k=10)"),
        ("filtered_recall@10", "small-group recall@10"),
    ]
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(common._fmt(row.get(key, float("nan"))) for key, _ in columns) + " |")
    r = meta["ratios"]
    lines += [
        "",
        f"Ratios: e2e pgseek/langchain {r.get('e2e_vs_langchain', float('nan')):.2f}x (target >= 1.2x); "
        f"write pgseek/guide {r.get('write_vs_guide', float('nan')):.2f}x (target >= 5x); "
        f"query p50 pgseek/langchain {r.get('query_p50_vs_langchain', float('nan')):.2f} (target <= 0.6).",
        "",
        f"Machine: {meta['machine']}; servers: {meta.get('versions')}; peers: {meta['peers']}; "
        f"command: `{meta['command']}`; {meta['date']}.",
    ]
    path = common.RESULTS / "peers.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path.relative_to(common.REPO)}")


def plot(rows: list[dict[str, Any]]) -> None:
    labels = [r["system"] for r in rows]

    def series(key: str) -> list[float]:
        return [float(r.get(key, float("nan"))) for r in rows]

    common.bar_chart(
        common.RESULTS / "peers_throughput.png",
        labels=labels,
        values={"e2e chunks/s (real model)": series("e2e_chunks_per_s")},
        title="End-to-end ingestion, SciFact slice, same model",
        ylabel="chunks/s",
    )
    common.bar_chart(
        common.RESULTS / "peers_write.png",
        labels=labels,
        values=series("write_rows_per_s"),
        title="Load + index on precomputed vectors (whole SciFact)",
        ylabel="chunks/s",
    )
    common.bar_chart(
        common.RESULTS / "peers_query.png",
        labels=labels,
        values={"p50": series("query_p50_ms"), "p99": series("query_p99_ms")},
        title="Query latency, query embedding included",
        ylabel="ms",
    )
    common.bar_chart(
        common.RESULTS / "peers_quality.png",
        labels=labels,
        values={"nDCG@10": series("ndcg@10"), "small-group recall@10": series("filtered_recall@10")},
        title="Retrieval quality (SciFact test) and filtered recall",
        ylabel="score",
    )
    print("wrote bench/results/peers_{throughput,write,query,quality}.png")


if __name__ == "__main__":
    sys.exit(main())
