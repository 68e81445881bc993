"""Evaluation: score pgseek's retrieval on BEIR datasets or a golden set, and probe the vector index's recall.

    dataset = load_beir(Path("scifact"))            # or load_golden("golden.jsonl")
    async with AsyncSeek() as seek:
        report = await evaluate(seek, dataset, modes=("vector", "keyword", "hybrid"))
        probe = await ann_recall(seek, list(dataset.queries.values()), collection=report.collection)
        claims = load_rag_claims(Path("scifact/rag_dev_claims.jsonl"))
        rag = await evaluate_rag(seek, claims, collection=report.collection)   # answers with citations
        suite = await evaluate_answers(seek, load_answer_suite("eval/answers/local-docs.jsonl"))  # right answers
        tuned = await tune(seek, *load_tuning_sets(Path("scifact"))[:2])   # hybrid fusion fitted on qrels/train.tsv
    plot_report(report, "eval.png"); plot_ann(probe, "ann.png")

See docs/evaluation.md for the formats and the metric definitions.
"""

from pgseek.evaluate.ann import DEFAULT_EF_VALUES, AnnProbe, AnnRow, ann_recall
from pgseek.evaluate.answer_suite import AnswerCase, AnswerSuite, is_answer_suite, load_answer_suite
from pgseek.evaluate.answers import AnswerSuiteReport, CaseResult, evaluate_answers
from pgseek.evaluate.claims import Claim, ClaimSet, load_rag_claims
from pgseek.evaluate.datasets import EvalDataset, load_beir, load_golden
from pgseek.evaluate.metrics import dedupe_documents, mrr_at_k, ndcg_at_k, percentile, recall_at_k
from pgseek.evaluate.plots import plot_ann, plot_answers, plot_report
from pgseek.evaluate.rag import RagReport, evaluate_rag
from pgseek.evaluate.rag_metrics import AnswerScores, RagScores, contains_sentence, score_answer, summarize
from pgseek.evaluate.runner import EvalProgress, EvalReport, ModeScores, QueryScores, evaluate
from pgseek.evaluate.tune import TuneReport, load_tuning_sets, tune

__all__ = [
    "DEFAULT_EF_VALUES",
    "AnnProbe",
    "AnnRow",
    "AnswerCase",
    "AnswerScores",
    "AnswerSuite",
    "AnswerSuiteReport",
    "CaseResult",
    "Claim",
    "ClaimSet",
    "EvalDataset",
    "EvalProgress",
    "EvalReport",
    "ModeScores",
    "QueryScores",
    "RagReport",
    "RagScores",
    "TuneReport",
    "ann_recall",
    "contains_sentence",
    "dedupe_documents",
    "evaluate",
    "evaluate_answers",
    "evaluate_rag",
    "is_answer_suite",
    "load_answer_suite",
    "load_beir",
    "load_golden",
    "load_rag_claims",
    "load_tuning_sets",
    "mrr_at_k",
    "ndcg_at_k",
    "percentile",
    "plot_ann",
    "plot_answers",
    "plot_report",
    "recall_at_k",
    "score_answer",
    "summarize",
    "tune",
]
