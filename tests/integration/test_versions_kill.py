"""A backfill killed with SIGKILL in the middle of its work (a process of its own, as `pgseek models add` starts
one) leaves whole documents or none; the next run does the rest: no document twice, none missing, and the version
then activates. Real server, real model, real kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from pgseek import Document, Seek
from pgseek.config import Settings

DOCUMENTS = 48

BACKFILL = textwrap.dedent(
    """
    import sys
    from pgseek import Seek

    def progress(p):
        print(p.stage, p.documents_done, p.documents_total, flush=True)

    with Seek() as seek:
        seek.models.backfill(sys.argv[1], progress=progress)
    """
)


def _count(database_url: str, statement: str, *params: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(statement, params).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_a_backfill_killed_with_sigkill_resumes_with_no_duplicate_and_no_missing_row(
    seek: Seek, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    docs = [
        Document(f"doc-{i}", " ".join(f"Paragraph {j} of note {i} about topic {i % 7}." for j in range(12)))
        for i in range(DOCUMENTS)
    ]
    seek.ingest_documents(docs, collection="killed")
    added = seek.models.add("killed", chunk_tokens=24, chunk_overlap=2)
    env = {
        **os.environ,
        "PGSEEK_HOME": str(settings.home),
        "PGSEEK_DATABASE_URL": database_url,
        "HF_HUB_OFFLINE": "1",
    }
    script = tmp_path / "backfill.py"
    script.write_text(BACKFILL)
    killed_at = None
    with subprocess.Popen(
        [sys.executable, str(script), "killed"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        deadline = time.monotonic() + 180
        for line in process.stdout:
            stage, reached, total = line.split()
            if stage == "embedding" and 0 < int(reached) < int(total):
                os.kill(process.pid, signal.SIGKILL)  # in the middle of the work, wherever it stands
                killed_at = int(reached)
                break
            assert time.monotonic() < deadline, "the backfill never reported progress"
        process.wait(30)
        errors = process.stderr.read()
    assert killed_at is not None, errors
    assert process.returncode == -signal.SIGKILL

    stopped = seek.models.status("killed", added.id)
    assert stopped.backfill_stopped and not stopped.backfill_running  # the server dropped its lock
    assert killed_at <= stopped.documents_done < DOCUMENTS

    seek.models.backfill("killed")
    done = seek.models.status("killed", added.id)
    assert done.documents_done == done.documents_total == DOCUMENTS and done.index_ready
    duplicates = (
        "SELECT count(*) FROM (SELECT document_id, position FROM chunks WHERE version_id = %s "
        "GROUP BY 1, 2 HAVING count(*) > 1) AS d"
    )
    assert _count(database_url, duplicates, added.id) == 0
    assert _count(database_url, f'SELECT count(*) FROM "{done.table}"') == done.chunks
    orphans = (
        "SELECT count(*) FROM chunks c WHERE c.version_id = %s "
        f'AND NOT EXISTS (SELECT 1 FROM "{done.table}" e WHERE e.chunk_id = c.id)'
    )
    assert _count(database_url, orphans, added.id) == 0
    assert seek.models.activate("killed", force=True).state == "active"
    assert seek.search("note 5 about topic 5", collection="killed", k=1).hits
