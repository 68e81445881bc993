"""How a collection's vectors are stored, float32 (pgvector ``vector``) or float16 (``halfvec``), and the widths
pgvector's HNSW index takes in each: a model too wide for float32 is stored as float16, one too wide for both is
refused before anything is written.

pgvector stores up to 16,000 dimensions in either type, but its HNSW index takes at most 2,000 of ``vector`` and
4,000 of ``halfvec``; pgseek indexes every collection, so those are its limits.
"""

from __future__ import annotations

from typing import Literal

from pgseek.errors import ConfigurationError
from pgseek.types import ModelInfo

__all__ = ["HNSW_MAX_DIMENSIONS", "PRECISIONS", "Precision", "require_indexable", "storage_precision"]

Precision = Literal["float32", "float16"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float16")
HNSW_MAX_DIMENSIONS: dict[str, int] = {"float32": 2000, "float16": 4000}


def storage_precision(info: ModelInfo, setting: str) -> str:
    """The precision a model's vectors are stored at under ``PGSEEK_EMBED_PRECISION``: ``auto`` keeps the model's own
    unless it is wider than float32's index allows, then float16; an explicit choice is kept as given. Raises
    ConfigurationError when the result cannot be indexed."""
    if setting == "auto":
        chosen = info.precision if info.dimensions <= HNSW_MAX_DIMENSIONS["float32"] else "float16"
    else:
        chosen = setting
    require_indexable(info.name, info.dimensions, chosen)
    return chosen


def require_indexable(name: str, dimensions: int, precision: str) -> None:
    """Refuse, with what to do instead, a width pgvector's HNSW index cannot take at this precision."""
    if precision not in HNSW_MAX_DIMENSIONS:
        raise ConfigurationError(f"{name}: vector precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    limit = HNSW_MAX_DIMENSIONS[precision]
    if dimensions <= limit:
        return
    if precision == "float32" and dimensions <= HNSW_MAX_DIMENSIONS["float16"]:
        raise ConfigurationError(
            f"{name}: {dimensions:,} dimensions exceed the {limit:,} pgvector indexes as float32 (vector); "
            "store them as float16 (PGSEEK_EMBED_PRECISION=float16 or auto)"
        )
    raise ConfigurationError(
        f"{name}: {dimensions:,} dimensions exceed the {HNSW_MAX_DIMENSIONS['float16']:,} pgvector indexes even as "
        "float16 (halfvec); ask the model for fewer (PGSEEK_EMBED_DIMENSIONS, for models that shorten their vectors "
        "such as text-embedding-3) or choose a smaller model"
    )
