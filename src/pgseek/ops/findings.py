"""What the doctor reports: findings, each with a severity and what to do, and recall against exact search per
tenant size bucket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["ok", "warn", "problem"]
"""ok: nothing to do. warn: worth doing, nothing is wrong yet (slower builds, a cache too small, recall under target
at the configured ef_search). problem: searches are wrong or about to be (an invalid or missing index, heavy
bloat, autovacuum off): ``pgseek doctor`` exits non-zero."""
SEVERITIES: tuple[Severity, ...] = ("ok", "warn", "problem")
Figure = str | int | float | bool | None


def worst(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=SEVERITIES.index, default="ok")


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict on one subject (the server, a table, an index, a collection's tenants)."""

    check: str
    severity: Severity
    subject: str
    message: str
    """What was found, with its figures."""
    advice: str = ""
    """What to do; empty when nothing is."""
    figures: Mapping[str, Figure] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LadderStep:
    ef_search: int
    recall_at_10: float


@dataclass(frozen=True, slots=True)
class RecallBucket:
    """Recall@10 of the HNSW search path against exact search, for the tenants of one size bucket of a collection.

    ``bucket``: ``large`` (over 5% of the collection's chunks), ``mid`` (0.4% to 5%), ``small`` (under 0.4%), each
    of tenants above the exact-search bound; ``exact``: tenants at or below it, whose searches scan exactly (recall
    1.0 by construction, not measured). ``ef_to_target``: the smallest ef_search of the ladder that reaches
    ``target``; None when none does (or for ``exact``).
    """

    collection: str
    bucket: str
    tenants: int
    tenants_sampled: int
    queries: int
    ef_search: int
    recall_at_10: float
    target: float
    ef_to_target: int | None
    ladder: tuple[LadderStep, ...] = ()


@dataclass(frozen=True, slots=True)
class DoctorReport:
    findings: tuple[Finding, ...]
    recall: tuple[RecallBucket, ...] = ()

    @property
    def status(self) -> Severity:
        return worst(f.severity for f in self.findings)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "problem")

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "findings": [{**asdict(f), "figures": dict(f.figures)} for f in self.findings],
            "recall": [asdict(r) for r in self.recall],
        }
