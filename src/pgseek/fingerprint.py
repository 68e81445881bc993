"""A vector space's fingerprint (decision 0018): the vectors of a few fixed probe sentences, stored with each
embedding version when it is first written to. A model loaded later to write into the version embeds the probes
again; if any vector moved (cosine below ``DRIFT_COSINE``), the write is refused: a library upgrade, another backend
or a quantized copy of "the same" model must never mix two vector spaces under one name. Writers check once per
loaded model and version in a process (``verify``)."""

from __future__ import annotations

import asyncio
import weakref

import numpy as np
from numpy.typing import NDArray

from pgseek.db import versions
from pgseek.db.connect import Pool, translate_errors
from pgseek.db.versions import Version
from pgseek.errors import EmbeddingDriftError
from pgseek.providers.protocols import Embedder

PROBES = (
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "PostgreSQL stores rows in pages of eight kilobytes.",
    "Mitochondria produce most of the cell's chemical energy.",
    "The contract may be terminated with thirty days' notice.",
    "def main():\n    print('hello, world')",
    "Le chat dort sur le canapé.",
    "Quarterly revenue grew 12% year over year.",
)
"""Short and varied (prose, a question, code, another language, numbers): a drift that spares one kind of text
shows in another."""

DRIFT_COSINE = 0.999
"""Below this, a probe's vector is another vector space's. Probes are compared as the model returns them, before
storage rounds them to float16 or not, so storage precision never counts as drift."""


def probe_vectors(embedder: Embedder) -> NDArray[np.float32]:
    """The probes embedded as documents, one row each."""
    return np.asarray(embedder.embed(list(PROBES), purpose="document"), dtype=np.float32)


def flatten(vectors: NDArray[np.float32]) -> list[float]:
    return [float(x) for x in vectors.reshape(-1)]


def least_cosine(stored: list[float], current: NDArray[np.float32]) -> float:
    """The smallest cosine between a stored probe vector and the same probe's vector now (-1 when the shapes
    differ: another number of dimensions is another space)."""
    if len(stored) != current.size:
        return -1.0
    before = np.asarray(stored, dtype=np.float64).reshape(current.shape)
    now = current.astype(np.float64)
    norms = np.linalg.norm(before, axis=1) * np.linalg.norm(now, axis=1)
    cosines = np.sum(before * now, axis=1) / np.where(norms == 0, 1.0, norms)
    return float(cosines.min())


def check(version_id: int, collection: str, stored: list[float], current: NDArray[np.float32]) -> None:
    """EmbeddingDriftError when the model's probe vectors moved away from the version's."""
    cosine = least_cosine(stored, current)
    if cosine < DRIFT_COSINE:
        raise EmbeddingDriftError(
            f"the embedding model loaded now does not reproduce version {version_id} of collection {collection!r}: "
            f"a probe sentence's vector moved (cosine {cosine:.4f}, below {DRIFT_COSINE}), so it is another vector "
            "space (a library upgrade, another backend or a quantized copy); nothing was written. Restore the model "
            "the version was embedded with, or add a new version with this one (pgseek models add) and re-embed"
        )


_verified: dict[tuple[int, int], Embedder] = {}
"""(id of the embedder, version id) checked in this process; the embedder is held so that its id is not reused."""
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
"""One lock per event loop: a process can hold several (each sync ``Seek`` runs its own), and an asyncio lock
contended from a loop other than its own raises."""


async def verify(pool: Pool, version: Version, embedder: Embedder) -> None:
    """EmbeddingDriftError when ``embedder`` does not reproduce the version's probe vectors; the first writer of a
    version without probes records its own."""
    key = (id(embedder), version.id)
    if key in _verified:
        return
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:  # concurrent runs on one loop embed the probes once
        if key not in _verified:
            await _verify(pool, version, embedder)
            _verified[key] = embedder


async def _verify(pool: Pool, version: Version, embedder: Embedder) -> None:
    current = await asyncio.to_thread(probe_vectors, embedder)
    stored = version.probes
    if stored is None:
        async with translate_errors("recording the version's fingerprint"), pool.connection() as conn:
            await versions.set_probes(conn, version.id, flatten(current))
            # Another writer may have recorded its probes first: those are the reference.
            found = await versions.get_version(conn, version.id)
        stored = found.probes if found is not None else None
    if stored is not None:
        check(version.id, version.collection, stored, current)
