"""The same MiniLM model run by ONNX Runtime: exported once from the torch weights, checked, cached, and timed.

fp32 only: int8 dynamic quantization changed a fifth of top-10 results in our probe.
"""

from __future__ import annotations

import fcntl
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pgseek.errors import EmbeddingError

MAX_DIFF = 1e-4
_PROBES = [
    "How do I rebuild an HNSW index without blocking writes?",
    "Row-level security keeps each tenant's documents separate.",
    "The mitochondria is the powerhouse of the cell.",
    "Reciprocal rank fusion merges keyword and vector results.",
]


class OnnxEncoder:
    """Tokenize, run the transformer graph, mean-pool over the attention mask, L2-normalise."""

    def __init__(self, model_file: Path, tokenizer: Any, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # The arena keeps the peak of every input shape it has seen and never gives it back: after a few ingest
        # groups of 64 x 256 tokens it held ~1 GB. Without it, buffers go back to malloc (then malloc_trim) after
        # each run, at no measurable cost per batch. See docs/decisions/0011-memory-after-ingest.md.
        options.enable_cpu_mem_arena = False
        # Spinning worker threads would steal the CPU from torch and the database on a small machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        # Length-sorted batches pad less: the same trick sentence-transformers uses.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), 0), dtype=np.float32)
        parts: list[tuple[list[int], NDArray[np.float32]]] = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            parts.append((idx, self._encode_batch([texts[i] for i in idx])))
        if parts:
            out = np.empty((len(texts), parts[0][1].shape[1]), dtype=np.float32)
            for idx, vectors in parts:
                out[idx] = vectors
        return out

    def _encode_batch(self, texts: list[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: NDArray[np.float32] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalised


def export(model_dir: Path, target: Path) -> None:
    """Export the transformer of a sentence-transformers model directory to ONNX (fp32)."""
    import torch
    from transformers import AutoModel

    class _Graph(torch.nn.Module):
        # Keyword arguments: transformers' positional order changes between major versions.
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(model_dir))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    model = _Graph().eval()
    ids = torch.ones((2, 16), dtype=torch.int64)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape-dependent branches; the export is verified against torch afterwards.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,
        )


def _best_ms(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Fastest of ``repeat`` runs of each, alternating: other work on the machine only ever adds time, so the minimum
    of interleaved runs compares the two backends, where a median taken while something else runs would not."""
    a()  # warm-up
    b()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((a, b)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], (time.perf_counter() - start) * 1000)
    return best[0], best[1]


def is_verified(cache_dir: Path) -> bool:
    """Whether ``cache_dir`` holds an export that passed the check against torch (meta.json is written after it)."""
    return (cache_dir / "meta.json").is_file() and (cache_dir / "model.onnx").is_file()


def build_cache(
    cache_dir: Path,
    model_dir: Path,
    tokenizer: Any,
    torch_encode: Callable[[Sequence[str]], NDArray[np.float32]],
) -> dict[str, Any]:
    """Export, verify against torch and time both backends once; the result is cached under ``cache_dir``.

    Returns the cache's metadata: ``{"max_abs_diff", "query_ms": {...}, "batch_ms_per_text": {...}}``.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    meta_file = cache_dir / "meta.json"
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if meta_file.exists():
            return dict(json.loads(meta_file.read_text()))
        model_file = cache_dir / "model.onnx"
        tmp = cache_dir / "model.onnx.tmp"
        try:
            export(model_dir, tmp)
        except Exception as exc:
            raise EmbeddingError(f"ONNX export of {model_dir} failed: {exc}") from exc
        tmp.rename(model_file)
        encoder = OnnxEncoder(model_file, tokenizer)
        meta = _verify_and_time(encoder, torch_encode)
        meta_file.write_text(json.dumps(meta, indent=2))
        return meta


def _verify_and_time(
    encoder: OnnxEncoder, torch_encode: Callable[[Sequence[str]], NDArray[np.float32]]
) -> dict[str, Any]:
    batch = [" ".join(_PROBES[i % 4 :] * 6) for i in range(32)]  # up to 200 word pieces, the default chunk size
    diff = max(float(np.abs(encoder.encode(texts) - torch_encode(texts)).max()) for texts in (_PROBES, batch[:8]))
    if diff > MAX_DIFF:
        raise EmbeddingError(f"the ONNX export differs from the torch model by {diff:.2e} (> {MAX_DIFF}); not used")
    query_torch, query_onnx = _best_ms(lambda: torch_encode(_PROBES[:1]), lambda: encoder.encode(_PROBES[:1]), 15)
    batch_torch, batch_onnx = _best_ms(lambda: torch_encode(batch), lambda: encoder.encode(batch), 3)
    return {
        "max_abs_diff": diff,
        "query_ms": {"torch": query_torch, "onnx": query_onnx},
        "batch_ms_per_text": {"torch": batch_torch / len(batch), "onnx": batch_onnx / len(batch)},
    }
