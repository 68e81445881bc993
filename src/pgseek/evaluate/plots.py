"""PNG charts of an ``EvalReport``, an ``AnnProbe`` and an ``AnswerSuiteReport`` (matplotlib, imported only when a
chart is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pgseek.errors import ConfigurationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pgseek.evaluate.ann import AnnProbe
    from pgseek.evaluate.answers import AnswerSuiteReport
    from pgseek.evaluate.runner import EvalReport

__all__ = ["plot_ann", "plot_answers", "plot_report"]


def _figure(width: float, height: float) -> Figure:
    # A bare Figure renders with the Agg canvas and leaves pyplot's global backend alone.
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigurationError("charts need matplotlib: pip install 'pgseek[bench]' (or matplotlib)") from exc
    return Figure(figsize=(width, height), layout="constrained")


def plot_report(report: EvalReport, path: Path | str) -> Path:
    """A grouped bar chart: nDCG@k, MRR@k, Recall@k and Recall@100 for each mode, with p50 latency in the legend."""
    labels = [f"nDCG@{report.k}", f"MRR@{report.k}", f"Recall@{report.k}", "Recall@100"]
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    width = 0.8 / max(len(report.rows), 1)
    for i, row in enumerate(report.rows):
        values = [row.ndcg_at_k, row.mrr_at_k, row.recall_at_k, row.recall_at_100]
        xs = [x + (i - (len(report.rows) - 1) / 2) * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width, label=f"{row.mode} (p50 {row.latency_p50_ms:.1f} ms)")
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("score")
    ax.set_title(
        f"{report.dataset}: {report.rows[0].queries if report.rows else 0} queries, collection {report.collection}"
    )
    ax.legend(loc="upper left", fontsize=8, ncols=max(len(report.rows), 1))
    ax.grid(axis="y", alpha=0.3)
    out = Path(path)
    fig.savefig(out, dpi=120)
    return out


def plot_ann(probe: AnnProbe, path: Path | str) -> Path:
    """Recall@k against p50 latency, one point per ef_search (labelled), joined in ef order; exact search marked."""
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    xs = [r.latency_p50_ms for r in probe.rows]
    ys = [r.recall_at_k for r in probe.rows]
    ax.plot(xs, ys, marker="o", label="HNSW index")
    for row in probe.rows:
        ax.annotate(
            f"ef={row.ef_search}",
            (row.latency_p50_ms, row.recall_at_k),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=8,
        )
    ax.plot([probe.exact_latency_p50_ms], [1.0], marker="s", linestyle="none", color="black", label="exact scan")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel(f"recall@{probe.k} vs exact")
    ax.set_ylim(min([*ys, 1.0]) - 0.05, 1.02)
    ax.set_title(f"ANN recall: {probe.collection or 'collection'}, {probe.queries} queries")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    out = Path(path)
    fig.savefig(out, dpi=120)
    return out


def plot_answers(report: AnswerSuiteReport, path: Path | str) -> Path:
    """Stacked bars of the verdicts: answerable questions (correct, partial, wrong) and unanswerable ones (refused,
    answered), with the accuracies and p50 latency in the title."""
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    groups = [("answerable", ("correct", "partial", "wrong", "failed")), ("unanswerable", ("refused", "answered"))]
    colours = {"correct": "tab:green", "refused": "tab:green", "partial": "tab:orange", "wrong": "tab:red"}
    colours |= {"answered": "tab:red", "failed": "tab:gray"}
    for x, (label, verdicts) in enumerate(groups):
        bottom = 0
        for verdict in verdicts:
            count = sum(r.verdict == verdict and r.answerable == (label == "answerable") for r in report.results)
            if count:
                bars = ax.bar([x], [count], 0.6, bottom=bottom, color=colours[verdict], label=verdict)
                ax.bar_label(bars, labels=[f"{verdict} {count}"], label_type="center", fontsize=8)
                bottom += count
    ax.set_xticks(range(len(groups)), [g[0] for g in groups])
    ax.set_ylabel("questions")
    ax.set_title(
        f"{report.suite}: answers {report.answer_accuracy:.0%} correct, refusals {report.refusal_accuracy:.0%} right"
        f"\n{report.generator}, {report.mode} k={report.k}, p50 {report.latency_p50_ms:.0f} ms",
        fontsize=9,
    )
    ax.grid(axis="y", alpha=0.3)
    out = Path(path)
    fig.savefig(out, dpi=120)
    return out
