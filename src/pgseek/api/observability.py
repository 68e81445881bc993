"""What the HTTP service tells its operators: Prometheus metrics and one JSON log line per event, with request ids.

Metrics live in a registry per app (two apps in one process, as in tests, never share counters). With several
uvicorn workers each process has its own: a scrape sees the worker that answered it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from pgseek.cache.caches import CacheCounts
from pgseek.errors import PgseekError
from pgseek.seek import AsyncSeek
from pgseek.types import IngestReport, Timings

log = logging.getLogger("pgseek.api")

# Seconds; the service answers most searches in milliseconds, uploads and answers can take seconds.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# The *_created series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass
class RequestContext:
    """The request being served: its id, and its tenant once the API key is known (for the log lines)."""

    id: str
    tenant: str | None = None


current_request: ContextVar[RequestContext | None] = ContextVar("pgseek_request", default=None)


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token (so ids can be followed across services), else a new one."""
    if incoming is not None and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class CacheCollector(Collector):
    """The caches' own counts (pgseek.cache), as they stood at the last ``Metrics.refresh``: hits, misses, and
    errors (a Redis call that failed or timed out; the search went on uncached)."""

    def __init__(self) -> None:
        self.counts: list[CacheCounts] = []

    def collect(self) -> Any:
        families = {
            "hits": CounterMetricFamily("pgseek_cache_hits", "Cache lookups that were served.", labels=["cache"]),
            "misses": CounterMetricFamily("pgseek_cache_misses", "Cache lookups that found nothing.", labels=["cache"]),
            "errors": CounterMetricFamily(
                "pgseek_cache_errors",
                "Cache calls that failed (Redis down or slow): searched uncached.",
                labels=["cache"],
            ),
        }
        for c in self.counts:
            for name, family in families.items():
                family.add_metric([c.name], getattr(c, name))
        yield from families.values()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.caches = CacheCollector()
        r.register(self.caches)
        self.requests = Counter(
            "pgseek_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "pgseek_http_request_duration_seconds",
            "HTTP request latency by method and route template (to the end of the body, streams included).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge("pgseek_http_requests_in_progress", "HTTP requests being served.", registry=r)
        self.stages = Histogram(
            "pgseek_stage_duration_seconds",
            "Time per stage of a search or an answer: embed, search, fuse, generate, total.",
            ["operation", "stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.ingested = Counter(
            "pgseek_ingest_documents",
            "Documents received by HTTP ingest requests, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.pool = Gauge(
            "pgseek_pool_connections", "Database pool connections: in_use, idle, max, waiting.", ["state"], registry=r
        )
        self.documents = Gauge(
            "pgseek_collection_documents", "Documents per collection, all tenants.", ["collection"], registry=r
        )
        self.chunks = Gauge(
            "pgseek_collection_chunks", "Chunks per collection, all tenants.", ["collection"], registry=r
        )
        self.replica_lag = Gauge(
            "pgseek_replica_lag_seconds", "How far each read replica is behind the primary.", ["replica"], registry=r
        )
        self.replica_lag_bytes = Gauge(
            "pgseek_replica_lag_bytes", "WAL bytes each read replica has yet to replay.", ["replica"], registry=r
        )
        self.replica_in_rotation = Gauge(
            "pgseek_replica_in_rotation",
            "1 while a read replica serves reads, 0 while it is out.",
            ["replica"],
            registry=r,
        )

        self.recall = Gauge(
            "pgseek_live_recall",
            "Recall@k of sampled live vector searches against exact search, per collection (PGSEEK_RECALL_WATCH_RATE).",
            ["collection", "k"],
            registry=r,
        )
        self.recall_samples = Gauge(
            "pgseek_live_recall_queries", "Sampled searches the live recall is over.", ["collection"], registry=r
        )
        self.queue = Gauge(
            "pgseek_queue_jobs",
            "Jobs of the work queue per collection: pending, running, failed.",
            ["collection", "state"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "pgseek_queue_oldest_pending_seconds",
            "Age of the oldest change not yet searchable.",
            ["collection"],
            registry=r,
        )
        self.queue_throughput = Gauge(
            "pgseek_queue_throughput_jobs_per_second",
            "Jobs finished per second, last 15 minutes.",
            ["collection"],
            registry=r,
        )
        self.queue_lag = Gauge(
            "pgseek_queue_lag_seconds",
            "Change committed to document searchable, last 15 minutes: p50, p99.",
            ["collection", "quantile"],
            registry=r,
        )
        self.workers = Gauge("pgseek_queue_workers", "Queue workers alive (a heartbeat in the last 30 s).", registry=r)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_stages(self, operation: str, timings: Timings | Mapping[str, float]) -> None:
        """Stage timings as the facade reports them, in milliseconds."""
        values = timings if isinstance(timings, Mapping) else _timings(timings)
        for stage, ms in values.items():
            self.stages.labels(operation, stage).observe(ms / 1000)

    def observe_ingest(self, report: IngestReport) -> None:
        for outcome, count in (
            ("added", report.documents_added),
            ("updated", report.documents_updated),
            ("unchanged", report.documents_unchanged),
            ("failed", report.documents_failed),
        ):
            self.ingested.labels(outcome).inc(count)

    async def refresh(self, seek: AsyncSeek) -> None:
        """Read the gauges that describe now: pool use, the caches' counts, and documents and chunks per collection."""
        self.caches.counts = seek.cache_counts()
        usage = seek.pool_usage()
        if usage is not None:
            for state, value in (
                ("in_use", usage.in_use),
                ("idle", usage.available),
                ("max", usage.max_size),
                ("waiting", usage.waiting),
            ):
                self.pool.labels(state).set(value)
        for live in seek.live_recall():
            self.recall.labels(live.collection, str(live.k)).set(live.recall)
            self.recall_samples.labels(live.collection).set(live.queries)
        try:
            status = await seek.status()
        except PgseekError as exc:  # the scrape still reports the process; the database trouble goes to the log
            log.warning("metrics: cannot count collections", extra={"fields": {"problem": str(exc)}})
            return
        self.documents.clear()
        self.chunks.clear()
        for c in status.collections:
            self.documents.labels(c.name).set(c.documents)
            self.chunks.labels(c.name).set(c.chunks)
        for gauge in (self.replica_lag, self.replica_lag_bytes, self.replica_in_rotation):
            gauge.clear()
        for replica in status.replicas:
            self.replica_in_rotation.labels(replica.url).set(1 if replica.healthy else 0)
            if replica.lag_seconds is not None:
                self.replica_lag.labels(replica.url).set(replica.lag_seconds)
            if replica.lag_bytes is not None:
                self.replica_lag_bytes.labels(replica.url).set(replica.lag_bytes)
        await self._refresh_queue(seek)

    async def _refresh_queue(self, seek: AsyncSeek) -> None:
        try:
            report = await seek.jobs.status()
        except PgseekError as exc:
            log.warning("metrics: cannot read the queue", extra={"fields": {"problem": str(exc)}})
            return
        for gauge in (self.queue, self.queue_oldest, self.queue_throughput, self.queue_lag):
            gauge.clear()
        for q in report.queues:
            for state, count in (("pending", q.pending), ("running", q.running), ("failed", q.failed)):
                self.queue.labels(q.collection, state).set(count)
            self.queue_oldest.labels(q.collection).set(q.oldest_pending_s or 0.0)
            self.queue_throughput.labels(q.collection).set(q.throughput_per_s)
            for quantile, value in (("0.5", q.lag_p50_s), ("0.99", q.lag_p99_s)):
                if value is not None:
                    self.queue_lag.labels(q.collection, quantile).set(value)
        self.workers.set(len(report.workers))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _timings(t: Timings) -> dict[str, float]:
    return {"embed": t.embed, "search": t.search, "fuse": t.fuse, "total": t.total}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id and tenant, and any ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_request.get()
        if context is not None:
            entry["request_id"] = context.id
            if context.tenant is not None:
                entry["tenant"] = context.tenant
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for pgseek and uvicorn; uvicorn's access log is off (the service logs each request)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("pgseek", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True
