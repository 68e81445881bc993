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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        """Read the gauges that describe now: pool use, and documents and chunks per collection."""
        usage = seek.pool_usage()
        if usage is not None:
            for state, value in (
                ("in_use", usage.in_use),
                ("idle", usage.available),
                ("max", usage.max_size),
                ("waiting", usage.waiting),
            ):
                self.pool.labels(state).set(value)
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
