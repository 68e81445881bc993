"""RAG metrics, pure: one answer against its claim's gold documents and evidence sentences, then the averages.

- **cites gold**: the answer cites at least one gold document. Share of all claims (a refusal cites nothing).
- **citation precision**: of the documents the answers cite (each once per answer), the share that are gold; summed
  over all answers, then divided (micro-average), so an answer citing three documents weighs three times one citing
  one. 0 when nothing at all was cited.
- **evidence**: the answer contains a gold evidence sentence: the sentence, whitespace collapsed and case folded, is a
  substring of the answer; bracketed numbers ([n] markers, a paper's own "[12]") are removed from both first. Share of
  the claims that have evidence sentences.
- **refusal rate**: share of all claims answered with a refusal; also per gold label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pgseek.evaluate.claims import Claim
from pgseek.providers.markers import strip_markers

__all__ = ["AnswerScores", "RagScores", "contains_sentence", "score_answer", "summarize"]


@dataclass(frozen=True, slots=True)
class AnswerScores:
    """One claim's answer, judged. ``has_evidence`` is None when the claim has no evidence sentences."""

    claim_id: str
    label: str | None
    refused: bool
    cited: tuple[str, ...]
    """Documents the answer cites, each once, in order of first citation."""
    gold_cited: int
    has_evidence: bool | None
    failed: bool = False
    """The question could not be asked (e.g. longer than the model reads); it counts as an answer citing nothing."""

    @property
    def cites_gold(self) -> bool:
        return self.gold_cited > 0


@dataclass(frozen=True, slots=True)
class RagScores:
    claims: int
    answered: int
    refused: int
    failed: int
    cites_gold: float
    citation_precision: float
    citations: int
    """Documents cited, summed over answers (the denominator of citation precision)."""
    evidence: float
    evidence_claims: int
    """Claims with evidence sentences (the denominator of ``evidence``)."""
    refusal_rate: float
    refusal_rate_by_label: dict[str, float]


def normalize(text: str) -> str:
    return " ".join(text.split()).casefold()


def contains_sentence(answer: str, sentences: Iterable[str]) -> bool:
    """Whether the answer contains one of ``sentences``: markers removed, whitespace and case normalised."""
    haystack = normalize(strip_markers(answer))
    return any(needle and needle in haystack for needle in (normalize(strip_markers(s)) for s in sentences))


def score_answer(claim: Claim, *, text: str, cited: Sequence[str], refused: bool, failed: bool = False) -> AnswerScores:
    """Judge one answer: ``cited`` is the document ids of its citations in order (repeats allowed)."""
    documents = tuple(dict.fromkeys(cited))
    evidence = claim.evidence_sentences
    has_evidence = None if not evidence else (not refused and contains_sentence(text, evidence))
    return AnswerScores(
        claim_id=claim.id,
        label=claim.label,
        refused=refused,
        cited=documents,
        gold_cited=sum(doc in claim.gold_documents for doc in documents),
        has_evidence=has_evidence,
        failed=failed,
    )


def summarize(scores: Sequence[AnswerScores]) -> RagScores:
    if not scores:
        raise ValueError("no answers to summarize")
    n = len(scores)
    cited = sum(len(s.cited) for s in scores)
    with_evidence = [s.has_evidence for s in scores if s.has_evidence is not None]
    refused = sum(s.refused for s in scores)
    failed = sum(s.failed for s in scores)
    per_label = Counter(s.label or "-" for s in scores)
    refused_per_label = Counter(s.label or "-" for s in scores if s.refused)
    return RagScores(
        claims=n,
        answered=n - refused - failed,
        refused=refused,
        failed=failed,
        cites_gold=sum(s.cites_gold for s in scores) / n,
        citation_precision=sum(s.gold_cited for s in scores) / cited if cited else 0.0,
        citations=cited,
        evidence=sum(with_evidence) / len(with_evidence) if with_evidence else 0.0,
        evidence_claims=len(with_evidence),
        refusal_rate=refused / n,
        refusal_rate_by_label={label: refused_per_label[label] / count for label, count in sorted(per_label.items())},
    )
