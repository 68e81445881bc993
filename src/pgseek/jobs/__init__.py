"""The work queue that keeps collections current: jobs in PostgreSQL, workers that process them, and the sources
that feed them (docs/freshness.md, decision 0025). ``seek.jobs`` is the entry point."""

from pgseek.db.freshness import QueueStatus, WorkerStatus
from pgseek.db.queue import Job, NewJob
from pgseek.db.sync import SyncSource
from pgseek.jobs.facade import AsyncJobs, Jobs, QueueReport
from pgseek.jobs.worker import WorkerOptions, WorkerReport

__all__ = [
    "AsyncJobs",
    "Job",
    "Jobs",
    "NewJob",
    "QueueReport",
    "QueueStatus",
    "SyncSource",
    "WorkerOptions",
    "WorkerReport",
    "WorkerStatus",
]
