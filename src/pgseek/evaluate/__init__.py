"""Evaluation: score pgseek's retrieval on BEIR datasets or a golden set, and probe the vector index's recall.

    dataset = load_beir(Path("scifact"))            # or load_golden("golden.jsonl")
    async with AsyncSeek() as seek:
        report = await evaluate(seek, dataset, modes=("vector", "keyword", "hybrid"))
        probe = await ann_recall(seek, list(dataset.queries.values()), collection=report.collection)
    plot_report(report, "eval.png"); plot_ann(probe, "ann.png")

See docs/evaluation.md for the formats and the metric definitions.
"""

from pgseek.evaluate.ann import DEFAULT_EF_VALUES, AnnProbe, AnnRow, ann_recall
from pgseek.evaluate.datasets import EvalDataset, load_beir, load_golden
from pgseek.evaluate.metrics import dedupe_documents, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from pgseek.evaluate.plots import plot_ann, plot_report
from pgseek.evaluate.runner import EvalProgress, EvalReport, ModeScores, QueryScores, evaluate

__all__ = [
    "DEFAULT_EF_VALUES",
    "AnnProbe",
    "AnnRow",
    "EvalDataset",
    "EvalProgress",
    "EvalReport",
    "ModeScores",
    "QueryScores",
    "ann_recall",
    "dedupe_documents",
    "evaluate",
    "load_beir",
    "load_golden",
    "mrr_at_k",
    "ndcg_at_k",
    "percentile",
    "plot_ann",
    "plot_report",
    "recall_at_k",
]
