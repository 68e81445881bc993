"""Fit a collection's hybrid fusion on judged queries: ``pgseek tune`` (decision 0020).

Each query of the training and the held-out split is searched once per leg (vector, then keyword), as deep as the
hybrid search of ``pgseek eval`` goes (``hybrid_depth(100)`` chunks a leg); every setting of the grid then fuses
those legs in Python, exactly as ``Fusion.fuse`` does in a search, so a grid of dozens of settings costs two
searches a query. The setting with the best mean nDCG@k on the training split is chosen (ties: the setting in force,
then the earlier in the grid, the default first); the held-out split is scored with the setting in force before and
with the chosen one, and takes no part in the choice.

Grid: RRF with k in ``RRF_KS`` and the vector leg's share of the weight in ``SHARES``, then the min-max and the
z-score normalized combinations with the same shares.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pgseek.errors import InputError, QueryError
from pgseek.evaluate.datasets import EvalDataset, load_beir, load_golden
from pgseek.evaluate.metrics import dedupe_documents, mean, ndcg_at_k
from pgseek.evaluate.protocols import Retriever
from pgseek.evaluate.runner import RECALL_DEPTH, UNCACHED, EvalProgress, EvalProgressCallback
from pgseek.search.engine import hybrid_depth
from pgseek.search.hybrid import DEFAULT_FUSION, Fusion
from pgseek.types import IngestReport

__all__ = ["RRF_KS", "SHARES", "TuneReport", "grid", "load_tuning_sets", "tune"]

RRF_KS = (1, 5, 10, 20, 40, 60, 100)
SHARES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""The vector leg's share of the weight; the keyword leg has the rest."""
HELD_OUT_SHARE = 0.3
"""A golden set's queries held out for scoring: those whose id hashes into this share."""

Legs = dict[str, list[tuple[int, float]]]
"""One query's legs: chunk ids, best first, with their scores."""


class Tuner(Retriever, Protocol):
    """What tuning needs of the facade: search, and the collection's stored fusion setting."""

    async def fusion(self, collection: str | None = None) -> Fusion | None: ...

    async def set_fusion(
        self, fusion: Fusion | None, *, collection: str | None = None, note: Mapping[str, Any] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class TuneReport:
    dataset: str
    collection: str
    tenant: str
    split: str
    """The training split (a golden set's: "train", the queries not held out)."""
    held_out: str
    k: int
    train_queries: int
    held_out_queries: int
    before: Fusion
    """The setting in force before: the collection's stored one, else the default."""
    chosen: Fusion
    train_before: float
    train_after: float
    held_out_before: float
    held_out_after: float
    settings_tried: int
    stored: bool
    seconds: float
    ingest: IngestReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "collection": self.collection,
            "tenant": self.tenant,
            "split": self.split,
            "held_out": self.held_out,
            "k": self.k,
            "train_queries": self.train_queries,
            "held_out_queries": self.held_out_queries,
            "before": self.before.to_json(),
            "chosen": self.chosen.to_json(),
            f"train_ndcg@{self.k}": {"before": self.train_before, "after": self.train_after},
            f"held_out_ndcg@{self.k}": {"before": self.held_out_before, "after": self.held_out_after},
            "settings_tried": self.settings_tried,
            "stored": self.stored,
            "seconds": self.seconds,
        }


def grid() -> list[Fusion]:
    """The settings tried, the default first."""
    settings = [DEFAULT_FUSION]
    for rrf_k in RRF_KS:
        settings += [Fusion("rrf", rrf_k, share, round(1 - share, 2)) for share in SHARES]
    for method in ("minmax", "zscore"):
        settings += [Fusion(method, DEFAULT_FUSION.rrf_k, share, round(1 - share, 2)) for share in SHARES]
    return list(dict.fromkeys(settings))


def load_tuning_sets(path: Path | str, split: str = "train") -> tuple[EvalDataset, EvalDataset, str]:
    """The training and held-out queries of a BEIR folder (qrels/<split>.tsv and qrels/test.tsv) or a golden set
    (its queries split by a hash of their ids: ``HELD_OUT_SHARE`` held out), and the held-out split's name."""
    source = Path(path)
    if source.is_dir():
        if split == "test":
            raise InputError("--split test is the held-out split: tune on another one (train, dev)", field="split")
        return load_beir(source, split=split), load_beir(source, split="test"), "test"
    if not source.exists():
        raise InputError(f"{source} does not exist: give a BEIR dataset folder or a golden-set .jsonl file")
    if split != "train":
        raise InputError(f"a golden set has no split {split!r}: its queries are split in train and held-out")
    golden = load_golden(source)
    held = {qid for qid in golden.queries if _held_out(qid)}
    train = {qid for qid in golden.queries if qid not in held}
    if not held or not train:
        raise InputError(
            f"{source} has {len(golden.queries)} queries: too few to split into train and held-out; give more",
            field="golden",
        )
    return _subset(golden, train), _subset(golden, held), "held-out"


async def tune(
    seek: Tuner,
    train: EvalDataset,
    held_out: EvalDataset,
    *,
    collection: str | None = None,
    tenant: str | None = None,
    k: int = 10,
    split: str = "train",
    held_out_name: str = "test",
    store: bool = True,
    progress: EvalProgressCallback | None = None,
) -> TuneReport:
    """Choose the fusion with the best nDCG@k on ``train``, score ``held_out`` before and after, and (``store``)
    keep it on the collection. A dataset with a corpus is ingested first (idempotently), into ``collection`` or
    ``eval-<name>``, as ``evaluate`` does."""
    if not 1 <= k <= RECALL_DEPTH:
        raise InputError(f"k must be between 1 and {RECALL_DEPTH}, got {k}", field="k")
    for name, data in (("train", train), ("held-out", held_out)):
        if not data.queries:
            raise InputError(f"the {name} split of {data.name!r} has no queries", field="dataset")
    overlap = set(train.queries) & set(held_out.queries)
    if overlap:
        raise InputError(
            f"{len(overlap)} queries are in both the training and the held-out split (first: {sorted(overlap)[0]!r})",
            field="split",
        )
    started = time.perf_counter()
    target = collection or (f"eval-{train.name}" if train.corpus_path is not None else seek.settings.collection)
    ingest = None
    if train.corpus_path is not None:
        ingest = await seek.ingest([train.corpus_path], collection=target, tenant=tenant)
    before = await seek.fusion(target) or DEFAULT_FUSION
    depth = max(k, RECALL_DEPTH)
    train_legs = await _legs(seek, train, target, tenant, depth, "train", progress)
    held_legs = await _legs(seek, held_out, target, tenant, depth, held_out_name, progress)
    settings = list(dict.fromkeys([before, *grid()]))  # the setting in force wins a tie: tuning never fits worse
    scored = [(_score(train, train_legs, fusion, k, depth), i, fusion) for i, fusion in enumerate(settings)]
    best, _, chosen = max(scored, key=lambda s: (s[0], -s[1]))
    report = TuneReport(
        dataset=train.name,
        collection=target,
        tenant=tenant or seek.settings.tenant,
        split=split,
        held_out=held_out_name,
        k=k,
        train_queries=len(train.queries),
        held_out_queries=len(held_out.queries),
        before=before,
        chosen=chosen,
        train_before=_score(train, train_legs, before, k, depth),
        train_after=best,
        held_out_before=_score(held_out, held_legs, before, k, depth),
        held_out_after=_score(held_out, held_legs, chosen, k, depth),
        settings_tried=len(settings),
        stored=store,
        seconds=0.0,
        ingest=ingest,
    )
    if store:
        note = {"tuned_on": f"{train.name}/{split}", f"{held_out_name}_ndcg@{k}": report.held_out_after}
        await seek.set_fusion(chosen, collection=target, note=note)
    return replace(report, seconds=time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class _Searched:
    """One query's legs (chunk ids, best first, with their scores) and the documents of their chunks."""

    legs: Legs
    documents: dict[int, str]


async def _legs(
    seek: Tuner,
    dataset: EvalDataset,
    collection: str,
    tenant: str | None,
    depth: int,
    stage: str,
    progress: EvalProgressCallback | None,
) -> dict[str, _Searched | None]:
    """Each query's legs, as deep as a hybrid search for ``depth`` hits reads them; None for a query the search
    refuses (too long for the model): it scores 0, as in ``evaluate``."""
    per_leg = hybrid_depth(depth)
    found: dict[str, _Searched | None] = {}
    for done, (qid, text) in enumerate(dataset.queries.items(), start=1):
        searched = _Searched({}, {})
        try:
            for mode in ("vector", "keyword"):
                result = await seek.search(text, UNCACHED, k=per_leg, mode=mode, collection=collection, tenant=tenant)
                searched.legs[mode] = [(hit.chunk_id, hit.score) for hit in result.hits]
                searched.documents.update((hit.chunk_id, hit.document_id) for hit in result.hits)
        except QueryError:
            found[qid] = None
        else:
            found[qid] = searched
        if progress is not None:
            progress(EvalProgress(stage, done, len(dataset.queries)))
    return found


def _score(dataset: EvalDataset, searched: Mapping[str, _Searched | None], fusion: Fusion, k: int, depth: int) -> float:
    """Mean nDCG@k of the queries fused with ``fusion``, chunk hits deduplicated to documents as ``evaluate`` does."""
    scores = []
    for qid in dataset.queries:
        query = searched[qid]
        if query is None:
            scores.append(0.0)
            continue
        fused = fusion.fuse(query.legs, limit=depth)
        ranked = dedupe_documents(query.documents[f.key] for f in fused)
        scores.append(ndcg_at_k(ranked, dataset.qrels[qid], k))
    return mean(scores)


def _held_out(query_id: str) -> bool:
    digest = hashlib.sha256(query_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") < HELD_OUT_SHARE * 2**32


def _subset(dataset: EvalDataset, ids: set[str]) -> EvalDataset:
    return EvalDataset(
        name=dataset.name,
        corpus_path=dataset.corpus_path,
        queries={qid: text for qid, text in dataset.queries.items() if qid in ids},
        qrels={qid: judged for qid, judged in dataset.qrels.items() if qid in ids},
    )
