"""Retrieval metrics against hand-computed values (linear-gain nDCG, MRR, recall, percentiles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pgseek.evaluate.metrics import dedupe_documents, mean, mrr_at_k, ndcg_at_k, percentile, recall_at_k

GRADED = {"a": 2, "b": 1, "c": 0}  # c is judged, but not relevant
LOG3 = math.log2(3)  # the discount at rank 2
IDEAL = 2 / 1 + 1 / LOG3  # a (2) at rank 1, b (1) at rank 2


def test_dedupe_keeps_the_best_rank() -> None:
    assert dedupe_documents(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert dedupe_documents([]) == []


def test_ndcg_perfect_ranking_is_one() -> None:
    assert ndcg_at_k(["a", "b", "c"], GRADED, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)


def test_ndcg_graded_linear_gain() -> None:
    # c (0) at 1, b (1) at 2, a (2) at 3: DCG = 0 + 1/log2(3) + 2/log2(4)
    assert ndcg_at_k(["c", "b", "a"], GRADED, 3) == pytest.approx((1 / LOG3 + 2 / 2) / IDEAL)
    assert ndcg_at_k(["c", "b", "a"], GRADED, 3) == pytest.approx(0.619906, abs=1e-6)
    # swapping the grades: the less relevant first costs, linearly (not 2^g - 1)
    assert ndcg_at_k(["b", "a"], GRADED, 2) == pytest.approx((1 + 2 / LOG3) / IDEAL)
    assert ndcg_at_k(["b", "a"], GRADED, 1) == pytest.approx(1 / 2)  # the ideal at 1 is a (2)


def test_ndcg_counts_a_duplicate_once_at_its_best_rank() -> None:
    # chunks of b twice, then a: the documents are [b, a]
    assert ndcg_at_k(["b", "b", "a"], GRADED, 2) == pytest.approx((1 + 2 / LOG3) / IDEAL)
    assert ndcg_at_k(["a", "a", "a"], {"a": 1}, 3) == pytest.approx(1.0)  # not 1 + 1/log2(3) + ...


def test_no_relevant_document_retrieved_scores_zero() -> None:
    for metric in (ndcg_at_k, mrr_at_k, recall_at_k):
        assert metric(["x", "y", "c"], GRADED, 10) == 0.0
        assert metric([], GRADED, 10) == 0.0
        assert metric(["a"], {"a": 0}, 10) == 0.0  # nothing relevant at all


def test_k_larger_than_the_list() -> None:
    assert ndcg_at_k(["b"], GRADED, 10) == pytest.approx(1 / IDEAL)
    assert recall_at_k(["b"], GRADED, 100) == pytest.approx(0.5)
    assert mrr_at_k(["x", "b"], GRADED, 100) == pytest.approx(0.5)


def test_ideal_dcg_is_cut_at_k() -> None:
    qrels = {"a": 1, "b": 1, "c": 1, "d": 1}
    assert ndcg_at_k(["a", "b"], qrels, 2) == pytest.approx(1.0)  # two relevant in two slots is perfect at 2


def test_mrr() -> None:
    assert mrr_at_k(["a", "b"], GRADED, 10) == 1.0
    assert mrr_at_k(["x", "c", "b"], GRADED, 10) == pytest.approx(1 / 3)  # c is judged 0: not relevant
    assert mrr_at_k(["x", "c", "b"], GRADED, 2) == 0.0
    assert mrr_at_k(["x", "x", "b"], GRADED, 2) == pytest.approx(1 / 2)  # the duplicate x takes one rank


def test_recall() -> None:
    assert recall_at_k(["a", "x", "b"], GRADED, 2) == pytest.approx(0.5)
    assert recall_at_k(["a", "x", "b"], GRADED, 3) == pytest.approx(1.0)
    assert recall_at_k(["a", "a", "a", "b"], GRADED, 2) == pytest.approx(1.0)
    assert recall_at_k(["c"], GRADED, 10) == 0.0


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], GRADED, 0)


def test_percentile_matches_numpy_linear() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile(values, 99) == pytest.approx(3.97)
    rng = np.random.default_rng(7)
    sample = rng.exponential(5.0, 101).tolist()
    for p in (1, 25, 50, 90, 99):
        assert percentile(sample, p) == pytest.approx(float(np.percentile(sample, p)))
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_mean() -> None:
    assert mean([1.0, 0.0, 0.5]) == pytest.approx(0.5)
    assert mean([]) == 0.0
