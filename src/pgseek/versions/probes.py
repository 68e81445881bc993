"""The fingerprint check a writer runs before writing into a version: once per loaded model and version in a
process, recording the version's probe vectors when it has none yet."""

from __future__ import annotations

import asyncio

from pgseek.db import versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.versions import Version
from pgseek.providers.protocols import Embedder
from pgseek.versions import fingerprint

_verified: dict[tuple[int, int], Embedder] = {}
"""(id of the embedder, version id) checked in this process; the embedder is held so that its id is not reused."""
_lock = asyncio.Lock()


async def verify(pool: Pool, version: Version, embedder: Embedder) -> None:
    """EmbeddingDriftError when ``embedder`` does not reproduce the version's probe vectors; the first writer of a
    version without probes records its own."""
    key = (id(embedder), version.id)
    if key in _verified:
        return
    async with _lock:  # concurrent runs in one process embed the probes once
        if key not in _verified:
            await _verify(pool, version, embedder)
            _verified[key] = embedder


async def _verify(pool: Pool, version: Version, embedder: Embedder) -> None:
    current = await asyncio.to_thread(fingerprint.probe_vectors, embedder)
    stored = version.probes
    if stored is None:
        async with translate_errors("recording the version's fingerprint"), pool.connection() as conn:
            await versions.set_probes(conn, version.id, fingerprint.flatten(current))
            # Another writer may have recorded its probes first: those are the reference.
            found = await versions.get_version(conn, version.id)
        stored = found.probes if found is not None else None
    if stored is not None:
        fingerprint.check(version.id, version.collection, stored, current)
