"""The backfills an HTTP server process runs: asyncio tasks next to the requests, each with its last progress, so
that ``GET /v1/collections/{c}/versions/{id}`` can give the rate and the time left (decision 0022).

A backfill holds its version's lock in the database for its whole run, so a second server process (another
worker, another host) asked to run the same version gets a ConflictError and leaves it to the first. At startup the
server resumes every candidate whose backfill stopped (a crash, a kill -9, a restart): its work list is what the
version still lacks, so it carries on where it stopped."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pgseek.api.schemas import BackfillPublic
from pgseek.errors import ConflictError, PgseekError
from pgseek.seek import AsyncSeek
from pgseek.versions.backfill import BackfillProgress

log = logging.getLogger("pgseek.api")


@dataclass(slots=True)
class Job:
    collection: str
    version: int
    progress: BackfillProgress | None = None
    baseline: int | None = None
    """Documents the version held when this run's first progress came: the pace counts only this run's."""
    error: str | None = None
    finished: bool = False

    def record(self, progress: BackfillProgress) -> None:
        if self.baseline is None:
            self.baseline = progress.documents_done
        self.progress = progress

    def public(self) -> BackfillPublic:
        p = self.progress
        done, total = (p.documents_done, p.documents_total) if p else (0, 0)
        seconds = p.seconds if p else 0.0
        stage = "failed" if self.error else p.stage if p else "starting"
        written = done - (self.baseline or 0)
        eta = None
        if stage == "embedding" and written > 0 and seconds > 0:
            eta = round((total - done) * seconds / written, 1)
        elif stage in ("indexing", "done"):
            eta = 0.0 if stage == "done" else None
        return BackfillPublic(
            stage=stage,
            documents_done=done,
            documents_total=total,
            chunks_written=p.chunks_written if p else 0,
            seconds=round(seconds, 3),
            rate=round(p.rate, 1) if p else 0.0,
            eta_seconds=eta,
            error=self.error,
        )


class Backfills:
    """The server's backfill tasks, by version id."""

    def __init__(self, seek: AsyncSeek) -> None:
        self._seek = seek
        self._jobs: dict[int, Job] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, collection: str, version: int) -> Job:
        """Start the version's backfill here, unless this process runs it already."""
        task = self._tasks.get(version)
        if task is not None and not task.done():
            return self._jobs[version]
        job = self._jobs[version] = Job(collection, version)
        self._tasks[version] = asyncio.create_task(self._run(job), name=f"backfill-v{version}")
        return job

    def job(self, version: int) -> Job | None:
        return self._jobs.get(version)

    async def _run(self, job: Job) -> None:
        fields = {"collection": job.collection, "version": job.version}
        log.info("backfill started", extra={"fields": fields})
        try:
            report = await self._seek.models.backfill(job.collection, job.version, progress=job.record)
        except ConflictError as exc:
            # Another process runs it (its status comes from the database), or it stopped being a candidate (its
            # state says so): either way this process has no run of its own to show.
            job.error = str(exc)
            if self._jobs.get(job.version) is job:
                del self._jobs[job.version]
            log.info("backfill not run here", extra={"fields": {**fields, "reason": str(exc)}})
        except PgseekError as exc:
            job.error = str(exc)
            log.warning("backfill failed", extra={"fields": {**fields, "error": str(exc)}})
        except Exception as exc:  # a bug: the job says so instead of dying silently in its task
            job.error = f"internal error ({type(exc).__name__}: {exc})"
            log.error("backfill failed", exc_info=exc, extra={"fields": fields})
        else:
            done = {"documents_written": report.documents_written, "chunks_written": report.chunks_written}
            log.info("backfill done", extra={"fields": {**fields, **done, "seconds": round(report.seconds, 3)}})
        finally:
            job.finished = True

    async def resume_stopped(self) -> None:
        """Start every candidate backfill that stopped before its end (a server restart, a crash, a kill)."""
        try:
            status = await self._seek.status()
            for collection in status.collections:
                for info in await self._seek.models.list(collection.name):
                    if info.backfill_stopped:
                        self.start(info.collection, info.id)
        except PgseekError as exc:  # the database went away meanwhile: the next restart looks again
            log.warning("could not look for stopped backfills", extra={"fields": {"error": str(exc)}})

    async def close(self) -> None:
        """Stop the running backfills (each resumes where it stopped, at the next start or by the CLI)."""
        running = [t for t in self._tasks.values() if not t.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
