"""Run an answer suite through ``ask`` and judge each answer: right text, or a refusal where one is due.

Verdicts, per question:

- answerable question: **correct** when the answer (not refused) contains one of the accepted texts, markers removed,
  case folded, whitespace collapsed; **partial** when it does not but one of the chunks it cites does (the right
  source, the wrong sentences); **wrong** otherwise, a refusal included (``refused`` tells them apart);
- unanswerable question: **refused** (right) or **answered** (wrong).

Answer accuracy is correct / answerable questions; refusal accuracy is refused / unanswerable questions.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

from pgseek.errors import InputError, QueryError
from pgseek.evaluate.answer_suite import AnswerCase, AnswerSuite
from pgseek.evaluate.metrics import percentile
from pgseek.evaluate.protocols import SuiteRunner
from pgseek.evaluate.rag_metrics import contains_sentence
from pgseek.evaluate.runner import EvalProgress, EvalProgressCallback, _ingest_progress
from pgseek.search.engine import MAX_K, MODES
from pgseek.types import Answer, IngestReport

__all__ = ["AnswerSuiteReport", "CaseResult", "Verdict", "evaluate_answers", "judge"]

Verdict = Literal["correct", "partial", "wrong", "refused", "answered", "failed"]


@dataclass(frozen=True, slots=True)
class CaseResult:
    id: str
    question: str
    answerable: bool
    verdict: Verdict
    refused: bool
    text: str
    refusal_reason: str | None
    cited: tuple[str, ...]
    """Document ids cited, each once."""
    latency_ms: float | None

    @property
    def right(self) -> bool:
        return self.verdict in ("correct", "refused")


@dataclass(frozen=True, slots=True)
class AnswerSuiteReport:
    suite: str
    collection: str
    generator: str
    mode: str
    k: int
    results: tuple[CaseResult, ...]
    latency_p50_ms: float
    latency_p99_ms: float
    seconds: float
    ingest: IngestReport | None = None

    def _of(self, answerable: bool) -> list[CaseResult]:
        return [r for r in self.results if r.answerable == answerable]

    @property
    def answer_accuracy(self) -> float:
        cases = self._of(True)
        return sum(r.verdict == "correct" for r in cases) / len(cases) if cases else 0.0

    @property
    def refusal_accuracy(self) -> float:
        cases = self._of(False)
        return sum(r.verdict == "refused" for r in cases) / len(cases) if cases else 0.0

    def ids(self, verdict: Verdict) -> list[str]:
        return [r.id for r in self.results if r.verdict == verdict]

    def to_json(self, *, per_question: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "suite": self.suite,
            "collection": self.collection,
            "generator": self.generator,
            "mode": self.mode,
            "k": self.k,
            "answerable": len(self._of(True)),
            "unanswerable": len(self._of(False)),
            "answer_accuracy": self.answer_accuracy,
            "refusal_accuracy": self.refusal_accuracy,
            "false_refusals": sum(r.refused for r in self._of(True)),
            "partial": self.ids("partial"),
            "wrong": self.ids("wrong"),
            "answered_unanswerable": self.ids("answered"),
            "failed": self.ids("failed"),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "seconds": self.seconds,
            "ingest": None if self.ingest is None else dataclasses.asdict(self.ingest),
        }
        if per_question:
            out["per_question"] = [dataclasses.asdict(r) for r in self.results]
        return out


def judge(case: AnswerCase, answer: Answer) -> Verdict:
    """One answer's verdict (see the module's docstring)."""
    if not case.answerable:
        return "refused" if answer.refused else "answered"
    if answer.refused:
        return "wrong"
    if contains_sentence(answer.text, case.answers):
        return "correct"
    if any(contains_sentence(c.chunk, case.answers) for c in answer.citations):
        return "partial"
    return "wrong"


async def evaluate_answers(
    seek: SuiteRunner,
    suite: AnswerSuite,
    *,
    collection: str | None = None,
    tenant: str | None = None,
    k: int = 8,
    mode: str = "hybrid",
    progress: EvalProgressCallback | None = None,
) -> AnswerSuiteReport:
    """Ingest the suite's corpus (when it names one; idempotent) into ``collection`` (default ``eval-<suite name>``,
    or the configured collection for a suite without a corpus), then ask every question one at a time."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}", field="mode")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}, got {k}", field="k")
    started = time.perf_counter()
    target = collection or (f"eval-{suite.name}" if suite.corpus else seek.settings.collection)
    ingest = None
    if suite.corpus:
        ingest = await seek.ingest(
            list(suite.corpus), collection=target, tenant=tenant, progress=_ingest_progress(progress)
        )
    generator = await seek.generator()
    results: list[CaseResult] = []
    for done, case in enumerate(suite.cases, start=1):
        results.append(await _ask(seek, case, target, tenant, k, mode))
        if progress is not None:
            progress(EvalProgress("answers", done, len(suite.cases)))
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return AnswerSuiteReport(
        suite=suite.name,
        collection=target,
        generator=generator.model,
        mode=mode,
        k=k,
        results=tuple(results),
        latency_p50_ms=percentile(latencies, 50) if latencies else 0.0,
        latency_p99_ms=percentile(latencies, 99) if latencies else 0.0,
        seconds=time.perf_counter() - started,
        ingest=ingest,
    )


async def _ask(
    seek: SuiteRunner, case: AnswerCase, collection: str, tenant: str | None, k: int, mode: str
) -> CaseResult:
    try:
        answer = await seek.ask(case.question, k=k, mode=mode, collection=collection, tenant=tenant)
    except QueryError as exc:
        return CaseResult(case.id, case.question, case.answerable, "failed", False, str(exc), None, (), None)
    return CaseResult(
        id=case.id,
        question=case.question,
        answerable=case.answerable,
        verdict=judge(case, answer),
        refused=answer.refused,
        text=answer.text,
        refusal_reason=answer.refusal_reason,
        cited=tuple(dict.fromkeys(c.document_id for c in answer.citations)),
        latency_ms=answer.timings_ms.total,
    )
