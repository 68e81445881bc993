"""SciFact as pgseek chunks it, and the model's vectors for those chunks, computed once and kept on disk.

Benchmarks that measure something other than the model (write paths, query plans, nDCG of each system) read the
vectors from here, so a run does not spend ten minutes re-embedding the same 11,000 chunks. Timed end-to-end runs
never use it. The cache lives in ``bench/.cache/`` (ignored by git), named by a digest of the model identity and of
every text embedded: another model, chunk size or corpus gets another file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

CACHE = common.REPO / "bench" / ".cache"


@dataclass(frozen=True, slots=True)
class Unit:
    """One chunk as every system receives it: its document, its text and the text the model embeds."""

    doc_id: str
    title: str | None
    embed_text: str
    chunk: Any  # the pgseek Chunk: text, position, offsets and token count


def scifact_units(embedder: Any, docs: Sequence[dict[str, Any]], chunk_tokens: int, overlap: int) -> list[Unit]:
    from pgseek.ingest.pipeline import chunk_for_embedding
    from pgseek.types import Document

    units: list[Unit] = []
    for d in docs:
        doc = Document(str(d["_id"]), str(d.get("text") or ""), title=d.get("title") or None)
        chunks, texts = chunk_for_embedding(doc, embedder, chunk_tokens, overlap)
        units += [Unit(doc.external_id, doc.title, t, c) for c, t in zip(chunks, texts, strict=True)]
    return units


def vectors_for(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    """The model's vectors for ``texts``: from the cache file when it exists, else embedded now and saved."""
    info = embedder.info
    digest = hashlib.sha256(json.dumps([info.name, info.version, *texts]).encode()).hexdigest()[:16]
    path = CACHE / f"vectors-{digest}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    print(f"embedding {len(texts):,} texts once for the cache ({path.name}) ...", file=sys.stderr)
    started = time.perf_counter()
    parts = []
    for i in range(0, len(texts), 512):
        parts.append(embedder.embed(list(texts[i : i + 512]), purpose="document"))
        print(
            f"  {min(i + 512, len(texts)):,}/{len(texts):,} in {time.perf_counter() - started:.0f} s", file=sys.stderr
        )
    vectors = np.concatenate(parts).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


if __name__ == "__main__":
    from pgseek import Settings
    from pgseek.providers.local import LocalEmbedder

    settings = Settings()
    model = LocalEmbedder(settings.model, backend="auto", cache_dir=settings.home / "models")
    units = scifact_units(model, common.load_corpus(), settings.chunk_tokens, settings.chunk_overlap)
    vectors = vectors_for(model, [u.embed_text for u in units])
    print(f"{len(units):,} chunks, vectors {vectors.shape}")
