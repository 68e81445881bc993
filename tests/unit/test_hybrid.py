from __future__ import annotations

from typing import Any

import pytest

from pgseek.search.hybrid import DEFAULT_FUSION, Fusion, FusionError, minmax, reciprocal_rank_fusion, zscore
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


def test_min_max_fusion_by_hand() -> None:
    lists = {"vector": [("a", 0.9), ("b", 0.7), ("c", 0.5)], "keyword": [("c", 12.0), ("a", 2.0)]}
    fused = Fusion("minmax", vector_weight=0.6, keyword_weight=0.4).fuse(lists)
    # vector: a 1, b 0.5, c 0; keyword: c 1, a 0 (its worst), b absent (as if its worst: 0).
    expected = {"a": 0.6 * 1 + 0.4 * 0, "b": 0.6 * 0.5, "c": 0.6 * 0 + 0.4 * 1}
    assert [f.key for f in fused] == ["a", "c", "b"]
    for f in fused:
        assert f.score == pytest.approx(expected[f.key])
    assert fused[1].legs == {"vector": LegRank(3, 0.5), "keyword": LegRank(1, 12.0)}


def test_z_score_fusion_puts_each_leg_in_standard_deviations() -> None:
    assert zscore([3.0, 1.0]) == [2.0, 0.0]  # mean 2, deviation 1, shifted so that the worst is 0
    assert zscore([5.0, 5.0]) == minmax([5.0, 5.0]) == [1.0, 1.0]
    lists = {"vector": [("a", 0.9), ("b", 0.8)], "keyword": [("b", 30.0), ("c", 10.0)]}
    # a: 2 + 0 (missing from keyword), b: 0 + 2: a tie, kept in first-seen order; a heavier keyword leg decides it.
    assert [f.key for f in Fusion("zscore").fuse(lists, limit=2)] == ["a", "b"]
    assert [f.key for f in Fusion("zscore", keyword_weight=2.0).fuse(lists, limit=2)] == ["b", "a"]


def test_normalized_fusion_reads_the_first_40_scores_of_a_leg() -> None:
    deep = [float(100 - n) for n in range(400)]  # a leg fetched 400 deep: 100, 99, ..., -299
    assert minmax(deep)[:40] == minmax(deep[:40]) and set(minmax(deep)[40:]) == {0.0}
    assert zscore(deep)[:40] == zscore(deep[:40]) and set(zscore(deep)[40:]) == {0.0}
    vector = [(f"v{n}", 1.0 - n / 1000) for n in range(400)]
    keyword = [(f"v{399 - n}", 50.0 - n / 10) for n in range(400)]
    for method in ("minmax", "zscore"):
        fusion = Fusion(method, vector_weight=0.7, keyword_weight=0.3)
        shallow = fusion.fuse({"vector": vector[:40], "keyword": keyword[:40]}, limit=10)
        assert [f.key for f in fusion.fuse({"vector": vector, "keyword": keyword}, limit=10)] == [
            f.key for f in shallow
        ]


def test_the_default_fusion_is_plain_rrf() -> None:
    lists = {"vector": [("a", 0.9), ("b", 0.8), ("c", 0.7)], "keyword": [("c", 12.0), ("a", 3.0)]}
    assert DEFAULT_FUSION.fuse(lists) == reciprocal_rank_fusion(lists)
    tuned = Fusion("rrf", rrf_k=5, vector_weight=0.3, keyword_weight=0.7)
    assert tuned.fuse(lists) == reciprocal_rank_fusion(lists, k=5, weights={"vector": 0.3, "keyword": 0.7})
    assert Fusion.from_json({**tuned.to_json(), "tuned_on": "scifact/train"}) == tuned
    assert tuned.describe() == "rrf k=5, vector 0.3 / keyword 0.7"


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        ({"method": "borda"}, "fusion"),
        ({"rrf_k": -1}, "rrf_k"),
        ({"rrf_k": 2.5}, "rrf_k"),
        ({"vector_weight": float("nan")}, "vector_weight"),
        ({"keyword_weight": -0.1}, "keyword_weight"),
        ({"vector_weight": 0, "keyword_weight": 0}, "vector_weight"),
    ],
)
def test_unusable_settings_name_their_field(setting: dict[str, Any], field: str) -> None:
    with pytest.raises(FusionError) as caught:
        Fusion.from_json(setting)
    assert caught.value.field == field
