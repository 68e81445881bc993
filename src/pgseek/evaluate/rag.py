"""Run a claims file through ``ask`` and judge the answers: gold citations, citation precision, evidence, refusals.

Each claim is asked as it is written, one at a time, against a collection that holds the corpus (for a BEIR dataset,
the ``eval-<name>`` collection that ``evaluate`` ingests). See ``rag_metrics`` for the definitions.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from pgseek.errors import InputError, QueryError
from pgseek.evaluate.claims import ClaimSet
from pgseek.evaluate.metrics import percentile
from pgseek.evaluate.protocols import Answerer
from pgseek.evaluate.rag_metrics import AnswerScores, RagScores, score_answer, summarize
from pgseek.evaluate.runner import EvalProgress, EvalProgressCallback
from pgseek.search.engine import MAX_K, MODES

__all__ = ["RagReport", "evaluate_rag"]


@dataclass(frozen=True, slots=True)
class RagReport:
    dataset: str
    collection: str
    generator: str
    mode: str
    k: int
    scores: RagScores
    latency_p50_ms: float
    latency_p99_ms: float
    seconds: float
    per_claim: tuple[AnswerScores, ...] = ()

    def to_json(self, *, per_claim: bool = False) -> dict[str, Any]:
        s = self.scores
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "collection": self.collection,
            "generator": self.generator,
            "mode": self.mode,
            "k": self.k,
            "claims": s.claims,
            "answered": s.answered,
            "refused": s.refused,
            "failed": s.failed,
            "cites_gold": s.cites_gold,
            "citation_precision": s.citation_precision,
            "citations": s.citations,
            "evidence": s.evidence,
            "evidence_claims": s.evidence_claims,
            "refusal_rate": s.refusal_rate,
            "refusal_rate_by_label": s.refusal_rate_by_label,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "seconds": self.seconds,
        }
        if per_claim:
            out["per_claim"] = [dataclasses.asdict(c) for c in self.per_claim]
        return out


async def evaluate_rag(
    seek: Answerer,
    claims: ClaimSet,
    *,
    collection: str,
    tenant: str | None = None,
    k: int = 8,
    mode: str = "hybrid",
    progress: EvalProgressCallback | None = None,
) -> RagReport:
    """Ask every claim with the facade's generator and score the answers; a claim the search refuses (too long)
    counts as failed: an answer that cites nothing."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}", field="mode")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, got {k}", field="k")
    started = time.perf_counter()
    generator = await seek.generator()
    scores: list[AnswerScores] = []
    latencies: list[float] = []
    total = len(claims.claims)
    for done, claim in enumerate(claims.claims, start=1):
        try:
            answer = await seek.ask(claim.text, k=k, mode=mode, collection=collection, tenant=tenant)
        except QueryError:
            scores.append(score_answer(claim, text="", cited=(), refused=False, failed=True))
        else:
            cited = [c.document_id for c in answer.citations]
            scores.append(score_answer(claim, text=answer.text, cited=cited, refused=answer.refused))
            latencies.append(answer.timings_ms.total)
        if progress is not None:
            progress(EvalProgress("rag", done, total))
    return RagReport(
        dataset=claims.name,
        collection=collection,
        generator=generator.model,
        mode=mode,
        k=k,
        scores=summarize(scores),
        latency_p50_ms=percentile(latencies, 50) if latencies else 0.0,
        latency_p99_ms=percentile(latencies, 99) if latencies else 0.0,
        seconds=time.perf_counter() - started,
        per_claim=tuple(scores),
    )
