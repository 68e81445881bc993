"""The facade: everything the CLI, the API and user scripts do goes through ``AsyncSeek`` (or its sync ``Seek``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import AsyncGenerator, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pgseek import catalog, keys
from pgseek.answer.ask import AskPolicy, answer_events
from pgseek.cache.caches import CacheCounts, SearchCaches
from pgseek.config import Settings
from pgseek.db import catalog as db_catalog
from pgseek.db import connect, migrate, writes
from pgseek.db.connect import Pool, PoolUsage, pool_usage, translate_errors
from pgseek.db.fusion import collection_fusion, set_collection_fusion
from pgseek.db.indexes import BuildOptions
from pgseek.db.read_router import ReadRouter, ReadTarget, check_lsn, commit_lsn, read_urls
from pgseek.db.search import VectorTuning
from pgseek.db.status import DatabaseStatus, database_status, ping
from pgseek.db.supervisor import Supervisor
from pgseek.embedding import Embedders
from pgseek.errors import ConflictError, DatabaseUnavailableError, InputError, PayloadTooLargeError, PgseekError
from pgseek.filters import SearchFilter
from pgseek.ingest.pipeline import Ingestion, IngestOptions, ProgressCallback
from pgseek.names import check_document_id, check_name
from pgseek.providers.protocols import Generator, TokenizingEmbedder
from pgseek.providers.registry import make_generator
from pgseek.search import engine
from pgseek.search.engine import SearchOptions
from pgseek.search.hybrid import Fusion
from pgseek.types import (
    Answer,
    AnswerEvent,
    ApiKey,
    CollectionInfo,
    Document,
    DocumentPage,
    IngestReport,
    LoadFailure,
    NewApiKey,
    Readiness,
    ReplicaLag,
    SearchResult,
    SkippedFile,
    StoredDocument,
)

if TYPE_CHECKING:  # evaluation loads where it runs: not for a search (decision 0015)
    from pgseek.evaluate.ann import AnnProbe
    from pgseek.evaluate.answer_suite import AnswerSuite
    from pgseek.evaluate.answers import AnswerSuiteReport
    from pgseek.evaluate.claims import ClaimSet
    from pgseek.evaluate.datasets import EvalDataset
    from pgseek.evaluate.rag import RagReport
    from pgseek.evaluate.runner import EvalProgressCallback, EvalReport
    from pgseek.evaluate.tune import TuneReport
    from pgseek.jobs.facade import AsyncJobs, Jobs
    from pgseek.ops.capacity import CapacityReport
    from pgseek.ops.findings import DoctorReport
    from pgseek.ops.maintain import MaintainReport
    from pgseek.ops.partitions import MoveReport, PartitionReport
    from pgseek.ops.watch import Recall, RecallWatch
    from pgseek.versions.facade import AsyncModels, Models

T = TypeVar("T")
READINESS_TIMEOUT_S = 0.8
"""/readyz answers within a second, whatever the database does: past this, it reports not ready."""


class AsyncSeek:
    """pgseek's core, async. ``async with AsyncSeek() as seek: await seek.search("...")``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: TokenizingEmbedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._embedders = Embedders(self.settings, embedder)
        self._generator = generator
        self._pool: Pool | None = None
        self._url: str | None = None
        self._lock = asyncio.Lock()
        self._supervisor: Supervisor | None = None
        self._watch: RecallWatch | None = None
        self._caches = SearchCaches.from_settings(self.settings)
        self._router: ReadRouter | None = None
        self._last_lsn: str | None = None

    async def __aenter__(self) -> AsyncSeek:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Start (or find) the database, apply migrations, open the pool. Idempotent."""
        async with self._lock:
            if self._pool is not None:
                return
            url = await asyncio.to_thread(connect.resolve_url, self.settings)
            await connect.prepare_database(url)
            self._pool = await connect.open_pool(url, self.settings)
            self._url = url
            urls = await asyncio.to_thread(read_urls, self.settings, url)
            if urls:
                self._router = ReadRouter(self.settings, urls, self._ready)
                self._router.start()

    async def supervise(self) -> None:
        """Open, then keep the database usable for as long as this process runs (``pgseek serve``): while it is
        down, calls fail at once with DatabaseUnavailableError; an embedded server this process owns is restarted;
        a fresh pool serves as soon as the database answers again (pgseek.db.supervisor)."""
        await self.open()
        async with self._lock:
            if self._supervisor is None:
                assert self._pool is not None and self._url is not None
                self._supervisor = Supervisor(self.settings, self._url, self._pool)
                self._supervisor.start()

    def suspect_database(self) -> None:
        """A caller met an outage: have the supervisor (when there is one) check the database now."""
        if self._supervisor is not None:
            self._supervisor.suspect()

    async def close(self) -> None:
        if self._router is not None:
            await self._router.close()
            self._router = None
        if self._supervisor is not None:
            await self._supervisor.close()
            self._supervisor = None
            self._pool = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        aclose = getattr(self._generator, "aclose", None)
        if aclose is not None:
            await aclose()
        await self._caches.close()
        await asyncio.to_thread(self._embedders.close)

    async def _ready(self) -> Pool:
        if self._supervisor is not None:
            return self._supervisor.pool()
        await self.open()
        assert self._pool is not None
        return self._pool

    async def embedder(self, collection: str | None = None) -> TokenizingEmbedder:
        """The embedding model of a collection (default: PGSEEK_COLLECTION): the one it was embedded with, or for a
        collection without vectors yet the one the settings name (PGSEEK_EMBED_PROVIDER, PGSEEK_MODEL). Loaded on
        first use, in a thread: loading takes seconds."""
        embedder, _ = await self._timed_embedder(collection)
        return embedder

    async def _timed_embedder(self, collection: str | None) -> tuple[TokenizingEmbedder, float]:
        """The collection's embedding model, and the milliseconds this call spent loading it (0 when it was
        already loaded)."""
        name = check_name(collection or self.settings.collection, field="collection", what="collection name")
        return await self._embedders.for_collection(await self._ready(), name)

    async def _model_and_pool(self, collection: str | None) -> tuple[TokenizingEmbedder, float, Pool]:
        """The collection's model (with its load's ms, as ``_timed_embedder``) and the pool. A command's first search
        would otherwise wait for the model (a thread, mostly ONNX Runtime's C++) and then for the database (mostly
        waiting on the server), one after the other: the model the settings name, which most collections use, loads
        while the database opens (decision 0015); a collection embedded with another model loads that one after."""
        name = check_name(collection or self.settings.collection, field="collection", what="collection name")
        if self._embedders.loaded:
            pool = await self._ready()
            embedder, load_ms = await self._embedders.for_collection(pool, name)
            return embedder, load_ms, pool
        # Both run to their end (a thread cannot be stopped). The preload's own failure is not the request's: the
        # collection may use another model, and loading the one it needs reports its own error.
        preloaded, opened = await asyncio.gather(self._embedders.preload(), self._ready(), return_exceptions=True)
        if isinstance(opened, BaseException):
            raise opened
        embedder, load_ms = await self._embedders.for_collection(opened, name)
        return embedder, load_ms + (preloaded if isinstance(preloaded, float) else 0.0), opened

    async def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        glob: str | None = None,
        progress: ProgressCallback | None = None,
        stdin_id: str | None = None,
        prune: bool = False,
    ) -> IngestReport:
        """Load files, folders or ``-`` (stdin) and ingest them; see ``ingest_documents``. stdin's document has the
        id ``stdin_id``, or by default ``stdin-`` and a hash of its content (the same text again is the same one).

        ``prune``: then delete the tenant's documents whose id is the path of a file under one of the folders
        given that is no longer there (``IngestReport.documents_pruned``).

        InputError, before anything is created, when a path does not exist: a mistyped path is a mistake to report,
        not an empty collection to make."""
        missing = [str(p) for p in paths if str(p) != "-" and not Path(p).exists()]
        if missing:
            listed = ", ".join(repr(p) for p in missing)
            raise InputError(f"no such file or directory: {listed}; nothing was ingested", field="paths")
        if stdin_id is not None:
            check_document_id(stdin_id, field="id")
        from pgseek.ingest.loaders import load_paths  # pypdf and the HTML parser: not for a search (decision 0015)

        skipped: list[SkippedFile] = []
        sources = load_paths(
            [str(p) for p in paths],
            glob=glob,
            stdin_id=stdin_id,
            on_skip=lambda path, reason: skipped.append(SkippedFile(path, reason)),
            max_file_bytes=self.settings.max_file_bytes,
        )
        report = await self.ingest_documents(sources, collection=collection, tenant=tenant, progress=progress)
        report = replace(report, skipped=tuple(skipped))
        if not prune:
            return report
        name, pool = collection or self.settings.collection, await self._ready()
        pruned = 0
        for folder in [Path(p) for p in paths if str(p) != "-" and Path(p).is_dir()]:
            prefix = folder.resolve().as_posix().rstrip("/") + "/"  # the loaders' ids: resolved absolute paths
            pruned += await catalog.prune_documents(pool, self._tenant(tenant), name, prefix, _file_gone)
        if pruned:
            await self._remember_write(pool)
        return replace(report, documents_pruned=pruned)

    async def ingest_documents(
        self,
        documents: Iterable[Document | LoadFailure],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest documents idempotently: unchanged ones cost nothing, changed ones are replaced atomically.

        ``progress`` is called on the event loop's thread as documents are read and as each model batch is embedded.
        Cancelled, the run stops after the model batch in progress and raises IngestInterruptedError, whose
        ``report`` counts the documents kept: every group committed before stays, the rest is not written."""
        s = self.settings
        collection = check_name(collection or s.collection, field="collection", what="collection name")
        tenant = check_name(tenant or s.tenant, field="tenant", what="tenant")
        pool = await self._ready()
        embedder = await self.embedder(collection)
        options = IngestOptions(
            tenant=tenant,
            collection=collection,
            distance=s.distance,
            text_search_config=s.text_search_config,
            index_kind=s.index_kind,
            quantization=s.quantization,
            partitions=s.partitions,
            chunk_tokens=s.chunk_tokens,
            chunk_overlap=s.chunk_overlap,
            index_m=s.hnsw_m,
            index_ef_construction=s.hnsw_ef_construction,
            index_memory=s.index_build_memory,
            ivfflat_min_rows=s.ivfflat_min_rows,
            analyze_after_rows=s.analyze_after_rows,
            embed_batch=s.embed_batch_size,
        )
        report = await Ingestion(pool, embedder, options, progress, models=self._embedders).run(documents)
        if s.partial_indexes == "auto":
            from pgseek.ops.maintain import partial_indexes_after_ingest

            await partial_indexes_after_ingest(pool, s, collection)
        if self._router is None:
            # Without replicas every read sees every commit; and a WAL position counts every tenant's writes, a figure
            # that is not the caller's to see (decision 0007): given only where it buys read-your-writes.
            return report
        return replace(report, commit_lsn=await self._remember_write(pool))

    async def _remember_write(self, pool: Pool) -> str | None:
        """Where the primary's WAL stands after this session's last commit (a read that passes it sees every write of
        it), kept for this session's own reads (PGSEEK_READ_YOUR_WRITES); None without replicas."""
        if self._router is None:
            return None
        self._last_lsn = await commit_lsn(pool)
        return self._last_lsn

    async def _read_target(self, min_lsn: str | None) -> ReadTarget:
        """Where a search runs: a replica that has replayed ``min_lsn`` (by default this session's own last ingest,
        PGSEEK_READ_YOUR_WRITES), else the primary (decision 0029)."""
        if self._router is None:
            return ReadTarget(await self._ready(), None)
        if min_lsn is None and self.settings.read_your_writes:
            min_lsn = self._last_lsn
        return await self._router.target(min_lsn)

    async def ingest_files(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        progress: ProgressCallback | None = None,
        max_documents: int | None = None,
    ) -> IngestReport:
        """Ingest files received as (name, bytes), such as HTTP uploads, with the loaders ``ingest`` uses for paths.

        With ``max_documents``, PayloadTooLargeError (and nothing stored) when the files hold more documents than
        that, each record of a ``.jsonl`` file counting as one."""

        from pgseek.ingest.loaders import load_bytes

        for name, _ in files:
            check_document_id(name, field="files")

        def load() -> list[Document | LoadFailure]:
            return [item for name, data in files for item in load_bytes(name, data)]

        sources = await asyncio.to_thread(load)  # PDF and HTML parsing is CPU work
        if max_documents is not None and len(sources) > max_documents:
            raise PayloadTooLargeError(
                f"the files hold {len(sources)} records (each line of a .jsonl file is one); the limit is "
                f"{max_documents} (PGSEEK_MAX_BATCH_DOCUMENTS): split them into several requests",
                field="files",
            )
        return await self.ingest_documents(sources, collection=collection, tenant=tenant, progress=progress)

    async def search(
        self,
        query: str,
        options: SearchOptions | None = None,
        *,
        k: int | None = None,
        mode: str | None = None,
        filter: SearchFilter | None = None,
        collection: str | None = None,
        tenant: str | None = None,
        min_score: float | None = None,
        fusion: str | None = None,
        rrf_k: int | None = None,
        vector_weight: float | None = None,
        keyword_weight: float | None = None,
        candidates: int | None = None,
        min_lsn: str | None = None,
    ) -> SearchResult:
        """Search a collection. Each keyword argument given (not None) overrides the same field of ``options``
        (``SearchOptions``: its docstring says what each means).

        ``min_lsn``: an ingest's ``commit_lsn``; the search then sees that ingest's documents, on a replica that has
        replayed it or else on the primary (docs/replicas.md)."""
        given = {
            "k": k,
            "mode": mode,
            "filter": filter,
            "collection": collection,
            "tenant": tenant,
            "min_score": min_score,
            "fusion": fusion,
            "rrf_k": rrf_k,
            "vector_weight": vector_weight,
            "keyword_weight": keyword_weight,
            "candidates": candidates,
        }
        opts = (options or SearchOptions()).merged({name: value for name, value in given.items() if value is not None})
        embedder, load_ms, pool = await self._model_and_pool(opts.collection)
        s = self.settings
        tuning = VectorTuning(s.ef_search, s.max_scan_tuples, s.exact_search_below, s.ivfflat_probes, s.rerank_factor)
        defaults = engine.Defaults(s.collection, s.tenant, tuning, s.recent_queries_days)
        target = await self._read_target(check_lsn(min_lsn))
        try:
            result = await engine.search(
                target.pool, embedder, query, opts, defaults, self._embedders, self._caches, primary=pool
            )
        except DatabaseUnavailableError as exc:
            if target.replica is None or self._router is None:
                raise
            # The replica went away mid-search: the primary answers this one, the check decides when it returns.
            self._router.failed(target.replica, str(exc))
            result = await engine.search(pool, embedder, query, opts, defaults, self._embedders, self._caches)
        # A cached result is no new search: offering it would count one query's recall as many.
        if self._watch is not None and result.cache.result != "hit":
            exact_question = opts.mode == "vector" and opts.filter is None and opts.min_score is None
            names = (opts.tenant or s.tenant, opts.collection or s.collection)
            self._watch.offer(*names, opts.k, result, exact_question=exact_question and opts.version is None)
        return _with_load(result, load_ms)

    async def watch_recall(self) -> None:
        """Sample this process's vector searches (``PGSEEK_RECALL_WATCH_RATE``) and re-run them exactly in the
        background until cancelled: ``live_recall`` and the doctor read the figure (``pgseek serve`` runs this)."""
        from pgseek.ops.watch import RecallWatch

        s = self.settings
        if s.recall_watch_rate <= 0:
            return
        self._watch = RecallWatch(s.recall_watch_rate)
        await self._watch.run(await self._ready(), s.max_scan_tuples, s.recall_watch_interval)

    def live_recall(self) -> list[Recall]:
        """Recall@k per collection of the sampled searches re-run so far by ``watch_recall`` (empty without it)."""
        return [] if self._watch is None else self._watch.figures()

    def cache_counts(self) -> list[CacheCounts]:
        """Hits, misses and errors of each cache (query embeddings, search results) in this process so far."""
        return self._caches.counts()

    async def generator(self) -> Generator:
        """The generator ``ask`` uses: the one given, else the one the settings name (PGSEEK_GENERATOR)."""
        if self._generator is None:
            # Only the extractive generator needs the model: a misconfigured server then fails before it loads.
            embedder = await self.embedder() if self.settings.generator == "extractive" else None
            self._generator = make_generator(self.settings, embedder)
        return self._generator

    async def ask(
        self,
        question: str,
        *,
        k: int = 8,
        mode: str = "hybrid",
        collection: str | None = None,
        tenant: str | None = None,
        filter: SearchFilter | None = None,
        generator: Generator | None = None,
        min_lsn: str | None = None,
    ) -> Answer:
        """Answer ``question`` from the top ``k`` chunks of a search (hybrid by default), citing them as [n].

        Refuses (``Answer.refused``, no citations) when nothing relevant was retrieved or the generator finds no
        answer in the context. Raises QueryError for a bad question or option, GenerationError when the model fails.
        ``min_lsn``: as ``search``'s, an ingest's ``commit_lsn`` that the answer's search must see (read replicas).
        """
        answer: Answer | None = None
        events = self._answer(question, k, mode, collection, tenant, filter, generator, min_lsn, stream=False)
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Answer):
                    answer = event
        assert answer is not None
        return answer

    async def ask_stream(
        self,
        question: str,
        *,
        k: int = 8,
        mode: str = "hybrid",
        collection: str | None = None,
        tenant: str | None = None,
        filter: SearchFilter | None = None,
        generator: Generator | None = None,
        min_lsn: str | None = None,
    ) -> AsyncGenerator[AnswerEvent, None]:
        """``ask``, streamed: ``AnswerDelta`` pieces of text as the generator writes them, then the final ``Answer``."""
        events = self._answer(question, k, mode, collection, tenant, filter, generator, min_lsn, stream=True)
        async with aclosing(events):
            async for event in events:
                yield event

    async def _answer(
        self,
        question: str,
        k: int,
        mode: str,
        collection: str | None,
        tenant: str | None,
        search_filter: SearchFilter | None,
        generator: Generator | None,
        min_lsn: str | None,
        *,
        stream: bool,
    ) -> AsyncGenerator[AnswerEvent, None]:
        # The total is the answer's own work: a first call's model load is reported apart, as ``load``.
        embedder, load_ms, _ = await self._model_and_pool(collection)
        writer = generator or await self.generator()
        started = time.perf_counter()
        result = await self.search(
            question, k=k, mode=mode, collection=collection, tenant=tenant, filter=search_filter, min_lsn=min_lsn
        )
        result = _with_load(result, load_ms)
        policy = AskPolicy(self.settings.context_tokens, self.settings.refusal_threshold)
        pool, tenant_name = await self._ready(), self._tenant(tenant)
        collection_name = check_name(collection or self.settings.collection, field="collection", what="collection name")

        async def collection_words(words: Sequence[str]) -> set[str]:
            return await engine.collection_words(pool, collection_name, tenant_name, words)

        events = answer_events(
            question,
            result,
            counter=embedder.counter,
            generator=writer,
            policy=policy,
            stream=stream,
            started=started,
            collection_words=collection_words,
        )
        async with aclosing(events):
            async for event in events:
                yield event

    async def evaluate(
        self,
        dataset: EvalDataset,
        *,
        modes: Sequence[str] = ("vector", "keyword", "hybrid"),
        k: int = 10,
        collection: str | None = None,
        tenant: str | None = None,
        progress: EvalProgressCallback | None = None,
    ) -> EvalReport:
        """Score retrieval on a BEIR dataset (ingested first, idempotently) or a golden set: nDCG, MRR, recall."""
        from pgseek.evaluate.runner import evaluate

        return await evaluate(self, dataset, modes=modes, k=k, collection=collection, tenant=tenant, progress=progress)

    async def evaluate_rag(
        self,
        claims: ClaimSet,
        *,
        collection: str,
        tenant: str | None = None,
        k: int = 8,
        mode: str = "hybrid",
        progress: EvalProgressCallback | None = None,
    ) -> RagReport:
        """Ask every claim of a claims file and judge the answers' citations and evidence (docs/evaluation.md)."""
        from pgseek.evaluate.rag import evaluate_rag

        return await evaluate_rag(self, claims, collection=collection, tenant=tenant, k=k, mode=mode, progress=progress)

    async def evaluate_answers(
        self,
        suite: AnswerSuite,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        k: int = 8,
        mode: str = "hybrid",
        progress: EvalProgressCallback | None = None,
    ) -> AnswerSuiteReport:
        """Ingest an answer suite's corpus, ask its questions and judge the answers and refusals
        (docs/evaluation.md)."""
        from pgseek.evaluate.answers import evaluate_answers

        return await evaluate_answers(
            self, suite, collection=collection, tenant=tenant, k=k, mode=mode, progress=progress
        )

    async def ann_recall(
        self,
        queries: Sequence[str],
        *,
        collection: str,
        tenant: str | None = None,
        k: int = 10,
        ef_values: Sequence[int] | None = None,
    ) -> AnnProbe:
        """Recall of the HNSW index against exact search over a sweep of ef_search, with latencies. ``ef_values``
        None: ``pgseek.evaluate.DEFAULT_EF_VALUES`` (10 to 320)."""
        from pgseek.evaluate.ann import DEFAULT_EF_VALUES, ann_recall

        pool, embedder = await self._ready(), await self.embedder(collection)
        return await ann_recall(
            pool,
            embedder,
            queries,
            collection=collection,
            tenant=self._tenant(tenant),
            k=k,
            ef_values=DEFAULT_EF_VALUES if ef_values is None else ef_values,
        )

    async def tune(
        self,
        train: EvalDataset,
        held_out: EvalDataset,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        k: int = 10,
        split: str = "train",
        held_out_name: str = "test",
        store: bool = True,
        progress: EvalProgressCallback | None = None,
    ) -> TuneReport:
        """Fit the collection's hybrid fusion on ``train`` and keep it (``store``): every search and ask that names
        no fusion parameter then uses it. Reports nDCG@k of ``held_out`` before and after (docs/evaluation.md)."""
        from pgseek.evaluate.tune import tune

        return await tune(
            self,
            train,
            held_out,
            collection=collection,
            tenant=tenant,
            k=k,
            split=split,
            held_out_name=held_out_name,
            store=store,
            progress=progress,
        )

    async def fusion(self, collection: str | None = None) -> Fusion | None:
        """The hybrid fusion stored on a collection (``tune``), or None when it uses the default."""
        name = check_name(collection or self.settings.collection, field="collection", what="collection name")
        async with translate_errors("reading the fusion setting"), (await self._ready()).connection() as conn:
            found = await db_catalog.get_collection(conn, name)
            stored = await collection_fusion(conn, found.id)
        return None if stored is None else Fusion.from_json(stored)

    async def set_fusion(
        self, fusion: Fusion | None, *, collection: str | None = None, note: Mapping[str, Any] | None = None
    ) -> None:
        """Store the collection's hybrid fusion (None: back to the default), with ``note`` (how it was chosen)
        alongside. The collection's setting is shared by every tenant that uses it."""
        name = check_name(collection or self.settings.collection, field="collection", what="collection name")
        value = None if fusion is None else {**(note or {}), **fusion.to_json()}
        async with translate_errors("storing the fusion setting"), (await self._ready()).connection() as conn:
            found = await db_catalog.get_collection(conn, name)
            await set_collection_fusion(conn, found.id, value)

    async def ensure_indexes(self) -> list[str]:
        """Build every vector index a collection needs and lacks, or has invalid (a build that was killed); returns
        the tables indexed now. ``ingest`` does the same for the table it writes."""
        pool = await self._ready()
        s = self.settings
        built: list[str] = []
        async with translate_errors("checking the vector indexes"), pool.connection() as conn:
            build = BuildOptions(s.hnsw_m, s.hnsw_ef_construction, s.index_build_memory, s.ivfflat_min_rows)
            for used in await db_catalog.vector_tables_in_use(conn):
                if await writes.ensure_vector_index(
                    conn, used.table, used.index, build, collection_id=used.collection_id
                ):
                    await writes.analyze(conn, [used.table])
                    built.append(used.table)
        return built

    async def doctor(
        self, collection: str | None = None, *, recall: bool = True, queries: int = 20, target: float = 0.95
    ) -> DoctorReport:
        """Check the vector indexes and tables of every collection (or one) and say what to do about each finding
        (docs/operations.md). ``recall``: also measure recall@10 against exact search, with ``queries`` sample
        queries per tenant size bucket, and find the ef_search that reaches ``target``. An operator's view: it
        names tenants and their sizes."""
        from pgseek.ops.doctor import doctor
        from pgseek.ops.recall import RecallOptions

        if collection is not None:
            check_name(collection, field="collection", what="collection name")
        if not 1 <= queries <= 1000:
            raise InputError(f"queries must be between 1 and 1000, got {queries}", field="queries")
        if not 0 < target <= 1:
            raise InputError(f"target is a recall between 0 and 1 (such as 0.95), got {target}", field="target")
        s = self.settings
        options = RecallOptions(queries=queries, target=target, max_scan_tuples=s.max_scan_tuples) if recall else None
        return await doctor(await self._ready(), s, collection=collection, recall=options)

    async def capacity(self, *, p99_target_ms: float = 100.0, queries: int = 50) -> CapacityReport:
        """Where this deployment stands, now and at 10x and 100x its vectors (docs/capacity.md): the vector index
        against memory, p99 (measured with ``queries`` searches of stored vectors) against ``p99_target_ms``, the vector
        count against pgvector's ranges; each verdict with its reasons. An operator's view (every collection)."""
        from pgseek.ops.capacity import capacity

        if not 1 <= queries <= 1000:
            raise InputError(f"queries must be between 1 and 1000, got {queries}", field="queries")
        if not 0 < p99_target_ms <= 60_000:
            raise InputError(
                f"p99_target_ms must be above 0 and at most 60000, got {p99_target_ms}", field="p99_target_ms"
            )
        pool = await self._ready()
        replicas: list[ReplicaLag] = []
        if self._router is not None:  # the rotation as it is now, not as the last background check left it
            await self._router.check()
            replicas = self._router.lags()
        return await capacity(
            pool,
            self.settings,
            p99_target_ms=p99_target_ms,
            queries=queries,
            replicas=replicas,
            primary_url=self._url,
        )

    async def maintain(self, collection: str | None = None, *, apply: bool = False) -> MaintainReport:
        """The online fixes for what ``doctor`` finds (REINDEX INDEX CONCURRENTLY, VACUUM (ANALYZE), autovacuum
        scale factors, missing indexes, pg_prewarm): listed, or run with ``apply``. Safe while searches run."""
        from pgseek.ops.maintain import maintain

        if collection is not None:
            check_name(collection, field="collection", what="collection name")
        return await maintain(await self._ready(), self.settings, collection=collection, apply=apply)

    async def partition_chunks(self, buckets: int) -> int:
        """Partition the chunks table (every collection's) by tenant into ``buckets`` hash partitions: a choice made
        once, when the database is set up, before anything is ingested (decision 0031). Returns the buckets; a
        database partitioned already with as many is left as it is."""
        from pgseek.db import partitions

        if not 1 <= buckets <= 1024:
            raise InputError(f"buckets must be between 1 and 1024, got {buckets}", field="chunk_partitions")
        pool = await self._ready()
        async with translate_errors("partitioning the chunks table"), pool.connection() as conn:
            found = await partitions.chunks_partitioned(conn)
            if found == buckets:
                return found
            if found:
                raise ConflictError(
                    f"the chunks table is partitioned into {found} buckets already; the number is fixed at setup"
                )
            try:
                async with conn.transaction():
                    await partitions.partition_chunks(conn, buckets)
            except ValueError:
                raise ConflictError(
                    "the chunks table holds rows already: it is partitioned when the database is set up, before the "
                    "first ingest (to partition an existing database, dump it, partition a new one, restore)"
                ) from None
        return buckets

    async def partitions(self, collection: str) -> PartitionReport:
        """A partitioned collection's partitions (decision 0031): each tenant's own and each hash bucket of the
        others, with rows and bytes. An operator's view: it names tenants and their sizes."""
        from pgseek.ops import partitions

        check_name(collection, field="collection", what="collection name")
        return await partitions.report(await self._ready(), collection)

    async def move_tenant_partition(self, collection: str, tenant: str) -> MoveReport:
        """Give ``tenant`` a partition (and an HNSW graph) of its own in the partitioned ``collection``, in one
        transaction: writes to the collection wait until it ends; searches go on but for the last step (the attach),
        when the other tenants' searches wait too (docs/partitions.md)."""
        from pgseek.ops import partitions

        check_name(collection, field="collection", what="collection name")
        check_name(tenant, field="tenant", what="tenant")
        return await partitions.move(await self._ready(), self.settings, collection, tenant)

    async def status(self) -> DatabaseStatus:
        pool = await self._ready()
        assert self._url is not None
        async with translate_errors("reading status"), pool.connection() as conn:
            found = await database_status(conn, embedded=self.settings.embedded, url=self._url)
        if self._router is None:
            return found
        await self._router.check()
        return replace(found, replicas=tuple(self._router.lags()))

    def replica_lags(self) -> list[ReplicaLag]:
        """Each read replica as the last health check saw it (empty without replicas): for /metrics."""
        return [] if self._router is None else self._router.lags()

    # --- collections and documents, as one tenant sees them ----------------------------------------------------

    @property
    def models(self) -> AsyncModels:
        """Embedding versions: list, add, backfill, compare, activate, rollback, retire (decision 0018)."""
        from pgseek.versions.facade import AsyncModels  # the evaluation code it needs is not for a search

        return AsyncModels(self.settings, self._ready, self._embedders)

    @property
    def jobs(self) -> AsyncJobs:
        """The work queue: enqueue, follow and manage jobs, synced tables, workers (docs/freshness.md)."""
        from pgseek.jobs.facade import AsyncJobs

        async def ingest(documents: Sequence[Document], collection: str, tenant: str) -> IngestReport:
            return await self.ingest_documents(documents, collection=collection, tenant=tenant)

        return AsyncJobs(self.settings, self._ready, ingest)

    def _tenant(self, tenant: str | None) -> str:
        return check_name(tenant or self.settings.tenant, field="tenant", what="tenant")

    async def collections(self, *, tenant: str | None = None) -> list[CollectionInfo]:
        """The collections the tenant uses, with its own document and chunk counts."""
        return await catalog.list_collections(await self._ready(), self._tenant(tenant))

    async def collection(self, name: str | None = None, *, tenant: str | None = None) -> CollectionInfo:
        """One of the tenant's collections with its counts; NotFoundError when the tenant does not use it."""
        return await catalog.collection_info(
            await self._ready(), self._tenant(tenant), name or self.settings.collection
        )

    async def create_collection(
        self,
        name: str,
        *,
        tenant: str | None = None,
        distance: str | None = None,
        text_search_config: str | None = None,
    ) -> CollectionInfo:
        """Create a collection (or start using an existing one whose settings agree); ConflictError otherwise."""
        s = self.settings
        return await catalog.create_collection(
            await self._ready(),
            self._tenant(tenant),
            name,
            distance=distance,
            text_search_config=text_search_config,
            defaults=(s.distance, s.text_search_config),
            layout=(s.index_kind, s.quantization, s.partitions),
        )

    async def delete_collection(self, name: str, *, tenant: str | None = None) -> int:
        """Delete the tenant's documents in a collection; returns how many. Other tenants' documents stay."""
        pool = await self._ready()
        deleted = await catalog.delete_collection(pool, self._tenant(tenant), name)
        await self._remember_write(pool)  # this session's next searches do not see them, on a replica either
        return deleted

    async def documents(
        self,
        collection: str | None = None,
        *,
        tenant: str | None = None,
        limit: int = 100,
        after: str | None = None,
        prefix: str | None = None,
        source_prefix: str | None = None,
    ) -> DocumentPage:
        """A page of the tenant's documents in a collection (ids, titles, sources, chunk counts; no text), in
        external-id order: pass the page's ``next_after`` as ``after`` for the next one. ``prefix`` /
        ``source_prefix`` keep the documents whose id / source starts with it. NotFoundError when the tenant does
        not use the collection; InputError for a limit outside 1..1000."""
        return await catalog.list_documents(
            await self._ready(),
            self._tenant(tenant),
            collection or self.settings.collection,
            limit=limit,
            after=after,
            prefix=prefix,
            source_prefix=source_prefix,
        )

    async def document(
        self, external_id: str, *, collection: str | None = None, tenant: str | None = None
    ) -> StoredDocument:
        """A stored document by external id; NotFoundError when the tenant has no such document there."""
        name = collection or self.settings.collection
        return await catalog.get_document(await self._ready(), self._tenant(tenant), name, external_id)

    async def delete_document(
        self, external_id: str, *, collection: str | None = None, tenant: str | None = None
    ) -> None:
        """Delete a document with its chunks and vectors; NotFoundError when the tenant has no such document."""
        name = collection or self.settings.collection
        pool = await self._ready()
        await catalog.delete_document(pool, self._tenant(tenant), name, external_id)
        await self._remember_write(pool)  # this session's next searches do not see it, on a replica either

    # --- API keys of the HTTP service ----------------------------------------------------------------------------

    async def create_api_key(self, tenant: str, *, name: str | None = None) -> NewApiKey:
        """A new key for ``tenant``; its secret (``.key``) is returned this once and stored only as a digest."""
        return await keys.create(await self._ready(), tenant, name)

    async def revoke_api_key(self, key_id: str) -> ApiKey:
        return await keys.revoke(await self._ready(), key_id)

    async def api_keys(self, *, tenant: str | None = None) -> list[ApiKey]:
        return await keys.list_keys(await self._ready(), tenant)

    async def authenticate(self, key: str) -> ApiKey:
        """The live API key behind a secret; AuthenticationError when it is malformed, unknown or revoked."""
        return await keys.authenticate(await self._ready(), key)

    # --- health --------------------------------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Can this process serve: database reachable, every migration applied, embedding model loaded.

        Answers within READINESS_TIMEOUT_S: a database that is down, or too busy to lend a connection that fast,
        makes it not ready rather than slow."""
        database, problem = False, None
        pending: tuple[int, ...] = ()
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S):
                pool = await self._ready()
                async with translate_errors("checking readiness"), pool.connection() as conn:
                    await ping(conn)
                    pending = tuple(await migrate.pending(conn))
            database = True
        except PgseekError as exc:
            problem = str(exc)
        except TimeoutError:
            problem = f"the database did not answer within {READINESS_TIMEOUT_S} s"
        return Readiness(database=database, pending_migrations=pending, model=self._embedders.loaded, problem=problem)

    def pool_usage(self) -> PoolUsage | None:
        """The connection pool's current use; None before the database is opened (or while it is down)."""
        pool = self._supervisor.current if self._supervisor is not None else self._pool
        return pool_usage(pool) if pool is not None else None


def _with_load(result: SearchResult, load_ms: float) -> SearchResult:
    if not load_ms:
        return result
    return replace(result, timings_ms=replace(result.timings_ms, load=load_ms))


async def _as_task(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    return asyncio.get_running_loop().create_task(coro)


async def _outcome(task: asyncio.Task[T]) -> T:
    # Shielded: cancelling this wait (a concurrent future cannot be cancelled half-way) leaves the task to ``cancel``.
    return await asyncio.shield(task)


def _file_gone(path: str) -> bool:
    return not Path(path).is_file()


class Seek:
    """Synchronous pgseek for scripts and the CLI: runs ``AsyncSeek`` on a private event loop thread.

    Every public method has the signature of its ``AsyncSeek`` twin, written out (tests/unit/test_sync_facade.py
    compares them), so that mypy checks sync callers as strictly as async ones.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: TokenizingEmbedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self._core = AsyncSeek(settings, embedder=embedder, generator=generator)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pgseek-loop", daemon=True)
        self._thread.start()

    @property
    def settings(self) -> Settings:
        return self._core.settings

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(_as_task(coro), self._loop)
        task = future.result()
        outcome = asyncio.run_coroutine_threadsafe(_outcome(task), self._loop)
        try:
            return outcome.result()
        except KeyboardInterrupt:
            # Ctrl-C: cancel the call and wait for it to stop cleanly (an ingest stops after its model batch and
            # raises IngestInterruptedError); the loop is left with nothing running, so closing it warns of nothing.
            self._loop.call_soon_threadsafe(task.cancel)
            try:
                return outcome.result()
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                raise KeyboardInterrupt from None

    def __enter__(self) -> Seek:
        # Lazy, unlike ``async with AsyncSeek()``: a CLI command that fails validation never starts the database.
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """See ``AsyncSeek.open``."""
        self._run(self._core.open())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._core.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def embedder(self, collection: str | None = None) -> TokenizingEmbedder:
        return self._run(self._core.embedder(collection))

    @property
    def models(self) -> Models:
        """See ``AsyncSeek.models``."""
        from pgseek.versions.facade import Models

        return Models(self._core.models, self._run)

    @property
    def jobs(self) -> Jobs:
        """See ``AsyncSeek.jobs``."""
        from pgseek.jobs.facade import Jobs

        return Jobs(self._core.jobs, self._run)

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        glob: str | None = None,
        progress: ProgressCallback | None = None,
        stdin_id: str | None = None,
        prune: bool = False,
    ) -> IngestReport:
        """See ``AsyncSeek.ingest``."""
        return self._run(
            self._core.ingest(
                paths,
                collection=collection,
                tenant=tenant,
                glob=glob,
                progress=progress,
                stdin_id=stdin_id,
                prune=prune,
            )
        )

    def ingest_documents(
        self,
        documents: Iterable[Document | LoadFailure],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """See ``AsyncSeek.ingest_documents``."""
        return self._run(
            self._core.ingest_documents(documents, collection=collection, tenant=tenant, progress=progress)
        )

    def ingest_files(
        self,
        files: Sequence[tuple[str, bytes]],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        progress: ProgressCallback | None = None,
        max_documents: int | None = None,
    ) -> IngestReport:
        """See ``AsyncSeek.ingest_files``."""
        return self._run(
            self._core.ingest_files(
                files, collection=collection, tenant=tenant, progress=progress, max_documents=max_documents
            )
        )

    def search(
        self,
        query: str,
        options: SearchOptions | None = None,
        *,
        k: int | None = None,
        mode: str | None = None,
        filter: SearchFilter | None = None,
        collection: str | None = None,
        tenant: str | None = None,
        min_score: float | None = None,
        fusion: str | None = None,
        rrf_k: int | None = None,
        vector_weight: float | None = None,
        keyword_weight: float | None = None,
        candidates: int | None = None,
        min_lsn: str | None = None,
    ) -> SearchResult:
        """See ``AsyncSeek.search``."""
        return self._run(
            self._core.search(
                query,
                options,
                k=k,
                mode=mode,
                filter=filter,
                collection=collection,
                tenant=tenant,
                min_score=min_score,
                fusion=fusion,
                rrf_k=rrf_k,
                vector_weight=vector_weight,
                keyword_weight=keyword_weight,
                candidates=candidates,
                min_lsn=min_lsn,
            )
        )

    def generator(self) -> Generator:
        return self._run(self._core.generator())

    def ask(
        self,
        question: str,
        *,
        k: int = 8,
        mode: str = "hybrid",
        collection: str | None = None,
        tenant: str | None = None,
        filter: SearchFilter | None = None,
        generator: Generator | None = None,
        min_lsn: str | None = None,
    ) -> Answer:
        """See ``AsyncSeek.ask``."""
        return self._run(
            self._core.ask(
                question,
                k=k,
                mode=mode,
                collection=collection,
                tenant=tenant,
                filter=filter,
                generator=generator,
                min_lsn=min_lsn,
            )
        )

    def ask_stream(
        self,
        question: str,
        *,
        k: int = 8,
        mode: str = "hybrid",
        collection: str | None = None,
        tenant: str | None = None,
        filter: SearchFilter | None = None,
        generator: Generator | None = None,
        min_lsn: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """See ``AsyncSeek.ask_stream``; stopping early closes the stream (and its HTTP request)."""
        events = self._core.ask_stream(
            question,
            k=k,
            mode=mode,
            collection=collection,
            tenant=tenant,
            filter=filter,
            generator=generator,
            min_lsn=min_lsn,
        )

        async def step() -> AnswerEvent | None:
            try:
                return await anext(events)
            except StopAsyncIteration:
                return None

        try:
            while (event := self._run(step())) is not None:
                yield event
        finally:
            self._run(events.aclose())

    def evaluate(
        self,
        dataset: EvalDataset,
        *,
        modes: Sequence[str] = ("vector", "keyword", "hybrid"),
        k: int = 10,
        collection: str | None = None,
        tenant: str | None = None,
        progress: EvalProgressCallback | None = None,
    ) -> EvalReport:
        """See ``AsyncSeek.evaluate``."""
        return self._run(
            self._core.evaluate(dataset, modes=modes, k=k, collection=collection, tenant=tenant, progress=progress)
        )

    def evaluate_rag(
        self,
        claims: ClaimSet,
        *,
        collection: str,
        tenant: str | None = None,
        k: int = 8,
        mode: str = "hybrid",
        progress: EvalProgressCallback | None = None,
    ) -> RagReport:
        """See ``AsyncSeek.evaluate_rag``."""
        return self._run(
            self._core.evaluate_rag(claims, collection=collection, tenant=tenant, k=k, mode=mode, progress=progress)
        )

    def evaluate_answers(
        self,
        suite: AnswerSuite,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        k: int = 8,
        mode: str = "hybrid",
        progress: EvalProgressCallback | None = None,
    ) -> AnswerSuiteReport:
        """See ``AsyncSeek.evaluate_answers``."""
        return self._run(
            self._core.evaluate_answers(suite, collection=collection, tenant=tenant, k=k, mode=mode, progress=progress)
        )

    def ann_recall(
        self,
        queries: Sequence[str],
        *,
        collection: str,
        tenant: str | None = None,
        k: int = 10,
        ef_values: Sequence[int] | None = None,
    ) -> AnnProbe:
        """See ``AsyncSeek.ann_recall``."""
        return self._run(self._core.ann_recall(queries, collection=collection, tenant=tenant, k=k, ef_values=ef_values))

    def tune(
        self,
        train: EvalDataset,
        held_out: EvalDataset,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        k: int = 10,
        split: str = "train",
        held_out_name: str = "test",
        store: bool = True,
        progress: EvalProgressCallback | None = None,
    ) -> TuneReport:
        """See ``AsyncSeek.tune``."""
        return self._run(
            self._core.tune(
                train,
                held_out,
                collection=collection,
                tenant=tenant,
                k=k,
                split=split,
                held_out_name=held_out_name,
                store=store,
                progress=progress,
            )
        )

    def fusion(self, collection: str | None = None) -> Fusion | None:
        return self._run(self._core.fusion(collection))

    def set_fusion(
        self, fusion: Fusion | None, *, collection: str | None = None, note: Mapping[str, Any] | None = None
    ) -> None:
        """See ``AsyncSeek.set_fusion``."""
        self._run(self._core.set_fusion(fusion, collection=collection, note=note))

    def status(self) -> DatabaseStatus:
        return self._run(self._core.status())

    def replica_lags(self) -> list[ReplicaLag]:
        """See ``AsyncSeek.replica_lags``."""
        return self._core.replica_lags()

    def doctor(
        self, collection: str | None = None, *, recall: bool = True, queries: int = 20, target: float = 0.95
    ) -> DoctorReport:
        """See ``AsyncSeek.doctor``."""
        return self._run(self._core.doctor(collection, recall=recall, queries=queries, target=target))

    def capacity(self, *, p99_target_ms: float = 100.0, queries: int = 50) -> CapacityReport:
        """See ``AsyncSeek.capacity``."""
        return self._run(self._core.capacity(p99_target_ms=p99_target_ms, queries=queries))

    def maintain(self, collection: str | None = None, *, apply: bool = False) -> MaintainReport:
        """See ``AsyncSeek.maintain``."""
        return self._run(self._core.maintain(collection, apply=apply))

    def partition_chunks(self, buckets: int) -> int:
        """See ``AsyncSeek.partition_chunks``."""
        return self._run(self._core.partition_chunks(buckets))

    def partitions(self, collection: str) -> PartitionReport:
        """See ``AsyncSeek.partitions``."""
        return self._run(self._core.partitions(collection))

    def move_tenant_partition(self, collection: str, tenant: str) -> MoveReport:
        """See ``AsyncSeek.move_tenant_partition``."""
        return self._run(self._core.move_tenant_partition(collection, tenant))

    def ensure_indexes(self) -> list[str]:
        """See ``AsyncSeek.ensure_indexes``."""
        return self._run(self._core.ensure_indexes())

    def collections(self, *, tenant: str | None = None) -> list[CollectionInfo]:
        return self._run(self._core.collections(tenant=tenant))

    def collection(self, name: str | None = None, *, tenant: str | None = None) -> CollectionInfo:
        return self._run(self._core.collection(name, tenant=tenant))

    def create_collection(
        self,
        name: str,
        *,
        tenant: str | None = None,
        distance: str | None = None,
        text_search_config: str | None = None,
    ) -> CollectionInfo:
        return self._run(
            self._core.create_collection(name, tenant=tenant, distance=distance, text_search_config=text_search_config)
        )

    def delete_collection(self, name: str, *, tenant: str | None = None) -> int:
        return self._run(self._core.delete_collection(name, tenant=tenant))

    def documents(
        self,
        collection: str | None = None,
        *,
        tenant: str | None = None,
        limit: int = 100,
        after: str | None = None,
        prefix: str | None = None,
        source_prefix: str | None = None,
    ) -> DocumentPage:
        """See ``AsyncSeek.documents``."""
        return self._run(
            self._core.documents(
                collection, tenant=tenant, limit=limit, after=after, prefix=prefix, source_prefix=source_prefix
            )
        )

    def document(self, external_id: str, *, collection: str | None = None, tenant: str | None = None) -> StoredDocument:
        return self._run(self._core.document(external_id, collection=collection, tenant=tenant))

    def delete_document(self, external_id: str, *, collection: str | None = None, tenant: str | None = None) -> None:
        self._run(self._core.delete_document(external_id, collection=collection, tenant=tenant))

    def create_api_key(self, tenant: str, *, name: str | None = None) -> NewApiKey:
        return self._run(self._core.create_api_key(tenant, name=name))

    def revoke_api_key(self, key_id: str) -> ApiKey:
        return self._run(self._core.revoke_api_key(key_id))

    def api_keys(self, *, tenant: str | None = None) -> list[ApiKey]:
        return self._run(self._core.api_keys(tenant=tenant))

    def authenticate(self, key: str) -> ApiKey:
        return self._run(self._core.authenticate(key))

    def readiness(self) -> Readiness:
        return self._run(self._core.readiness())

    def pool_usage(self) -> PoolUsage | None:
        return self._core.pool_usage()

    def cache_counts(self) -> list[CacheCounts]:
        return self._core.cache_counts()
