from __future__ import annotations

import pytest

from pgseek.search.hybrid import reciprocal_rank_fusion
from pgseek.types import LegRank


def test_hand_computed_fusion() -> None:
    fused = reciprocal_rank_fusion(
        {"vector": [("a", 0.9), ("b", 0.8), ("c", 0.7)], "keyword": [("c", 12.0), ("a", 3.0)]}, k=60
    )
    expected = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61}
    assert [f.key for f in fused] == ["a", "c", "b"]
    for f in fused:
        assert f.score == pytest.approx(expected[f.key])
    assert fused[1].legs == {"vector": LegRank(3, 0.7), "keyword": LegRank(1, 12.0)}
    assert fused[2].legs == {"vector": LegRank(2, 0.8)}


def test_weights_shift_the_balance() -> None:
    lists = {"vector": [("a", 1.0), ("b", 0.5)], "keyword": [("b", 9.0), ("a", 1.0)]}
    assert reciprocal_rank_fusion(lists)[0].key == "a"  # tie broken by first-seen order
    assert reciprocal_rank_fusion(lists, weights={"keyword": 2.0})[0].key == "b"


def test_ties_keep_first_seen_order_and_limit_cuts() -> None:
    fused = reciprocal_rank_fusion({"x": [("p", 1.0)], "y": [("q", 1.0)]}, limit=1)
    assert [f.key for f in fused] == ["p"]


def test_duplicates_count_once_at_best_rank() -> None:
    fused = reciprocal_rank_fusion({"x": [("p", 1.0), ("p", 0.5), ("q", 0.1)]}, k=0)
    assert [(f.key, f.score) for f in fused] == [("p", 1.0), ("q", pytest.approx(1 / 3))]


def test_empty_and_bad_arguments() -> None:
    assert reciprocal_rank_fusion({"x": [], "y": []}) == []
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion({"x": []}, k=-1)
    with pytest.raises(ValueError, match="weights name"):
        reciprocal_rank_fusion({"x": []}, weights={"z": 1.0})


def test_search_operators_are_recognised() -> None:
    from pgseek.db.search import uses_search_operators

    assert not uses_search_operators("insulin lowers blood glucose")
    assert not uses_search_operators("x-ray imaging of the knee")
    assert uses_search_operators('"exact phrase" here')
    assert uses_search_operators("cats or dogs")
    assert uses_search_operators("rockets -liquid")
