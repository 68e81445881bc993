"""The work queue's HTTP shapes: jobs accepted by an asynchronous ingest, and a job's state."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from pgseek.jobs import Job


class JobAccepted(BaseModel):
    id: int
    document_id: str
    kind: str


class JobsAccepted(BaseModel):
    """An ingest accepted with `wait=false` (202): one job per document; `GET /v1/jobs?ids=...&wait=S` waits until
    they are done (then the documents are searchable)."""

    jobs: list[JobAccepted]


class JobPublic(BaseModel):
    id: int
    collection: str
    kind: str
    document_id: str
    state: str
    """pending, running, done (searchable) or failed (after its tries; `error` says why)."""
    outcome: str | None
    attempts: int
    error: str | None
    enqueued_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            collection=job.collection,
            kind=job.kind,
            document_id=job.external_id,
            state=job.state,
            outcome=job.outcome,
            attempts=job.attempts,
            error=job.error,
            enqueued_at=job.enqueued_at,
            finished_at=job.finished_at,
        )


class JobsPublic(BaseModel):
    jobs: list[JobPublic]
    finished: bool
    """Every job listed is done or failed."""
