"""Cache entries as bytes: a search result as JSON, a query vector as raw little-endian float32. Never pickle."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pgseek.types import Hit, LegRank, QueryVector, SearchResult, Timings

_FLOAT32 = np.dtype("<f4")


class EntryError(ValueError):
    """An entry that does not decode (another format, a truncated value): treated as a miss."""


def encode_vector(vector: NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype=_FLOAT32).tobytes()


def decode_vector(data: bytes, dimensions: int) -> NDArray[np.float32]:
    if len(data) != dimensions * _FLOAT32.itemsize:
        raise EntryError(f"a cached vector of {len(data)} bytes, not {dimensions} float32s")
    return np.frombuffer(data, dtype=_FLOAT32).astype(np.float32)


def encode_result(result: SearchResult) -> bytes:
    """Everything a search returns but its timings and cache use, which belong to the request that serves it."""
    vector = result.query_vector
    body = {
        "hits": [_hit(h) for h in result.hits],
        "mode": result.mode,
        "plan": result.plan,
        "estimated_rows": result.estimated_rows,
        "fewer_than_k": result.fewer_than_k,
        "distance": result.distance,
        "query_vector": None
        if vector is None
        else {"model": list(vector.model), "vector": base64.b64encode(encode_vector(vector.vector)).decode()},
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def decode_result(data: bytes, timings: Timings) -> SearchResult:
    try:
        body = json.loads(data)
        vector = body["query_vector"]
        query_vector = None
        if vector is not None:
            provider, name, version, dimensions, precision = vector["model"]
            raw = base64.b64decode(vector["vector"], validate=True)
            model = (str(provider), str(name), str(version), int(dimensions), str(precision))
            query_vector = QueryVector(model, decode_vector(raw, int(dimensions)))
        return SearchResult(
            tuple(_read_hit(h) for h in body["hits"]),
            timings,
            str(body["mode"]),
            plan=body["plan"],
            estimated_rows=body["estimated_rows"],
            fewer_than_k=bool(body["fewer_than_k"]),
            distance=str(body["distance"]),
            query_vector=query_vector,
        )
    except (KeyError, TypeError, ValueError) as exc:  # json's and base64's errors are ValueErrors
        raise EntryError(f"a cached result that does not decode: {exc}") from exc


def _hit(h: Hit) -> dict[str, Any]:
    return {
        "document_id": h.document_id,
        "title": h.title,
        "source": h.source,
        "chunk": h.chunk,
        "position": h.position,
        "score": h.score,
        "metadata": dict(h.metadata),
        "chunk_id": h.chunk_id,
        "heading_path": list(h.heading_path),
        "start": h.start,
        "end": h.end,
        "legs": {name: [leg.rank, leg.score] for name, leg in h.legs.items()},
        "page": h.page,
        "page_end": h.page_end,
    }


def _read_hit(h: dict[str, Any]) -> Hit:
    return Hit(
        document_id=h["document_id"],
        title=h["title"],
        source=h["source"],
        chunk=h["chunk"],
        position=h["position"],
        score=float(h["score"]),
        metadata=h["metadata"],
        chunk_id=h["chunk_id"],
        heading_path=tuple(h["heading_path"]),
        start=h["start"],
        end=h["end"],
        legs={name: LegRank(int(rank), float(score)) for name, (rank, score) in h["legs"].items()},
        page=h["page"],
        page_end=h["page_end"],
    )
