"""A third-party embedder package, installed for real: a module and a ``.dist-info`` with an ``entry_points.txt``
that registers it in the ``pgseek.embedders`` group, written to a folder that is then put on ``sys.path``, which is
all ``importlib.metadata`` (and so pgseek's registry) looks at."""

from __future__ import annotations

from pathlib import Path

MODULE = '''
"""Toy embedder: word-hashing bag of words, unit length. Real vectors of a real (if weak) model."""

import hashlib
import re

import numpy as np

from pgseek.types import ModelInfo

DIMENSIONS = 64
WORD = re.compile(r"\\w+")


class WordCounter:
    def token_spans(self, text):
        return [m.span() for m in WORD.finditer(text)]


class HashingEmbedder:
    def __init__(self, name, version):
        self.info = ModelInfo("toy-hash", name, DIMENSIONS, version, max_tokens=128)
        self.counter = WordCounter()
        self.max_tokens = 126
        self.calls = 0

    def embed(self, texts, *, purpose="document"):
        self.calls += 1
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                vectors[row, hashlib.sha256(word.encode()).digest()[0] % DIMENSIONS] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms


def from_spec(spec, settings):
    return HashingEmbedder(spec.name, VERSION)


VERSION = "1"
'''


def install(root: Path, *, distribution: str = "toy_embedder", provider: str = "toy-hash") -> Path:
    """Write the plugin under ``root`` and return the folder to put on ``sys.path``."""
    package = root / distribution
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(MODULE)
    info = root / f"{distribution}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pgseek.embedders]\n{provider} = {distribution}:from_spec\n")
    return root
