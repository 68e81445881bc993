"""The bounded keyword leg's arithmetic: which words the first pass takes and how far a pass must widen."""

from __future__ import annotations

import math

import pytest

from pgseek.db.search import ChunkRow, TermFrequency
from pgseek.search.keyword import essential_for, first_essential, merge, upper_bound

N = 10_000.0
TERMS = [TermFrequency("rare", 5), TermFrequency("middle", 400), TermFrequency("common", 3_000)]


def test_a_words_bound_is_its_idf_times_k1_plus_one() -> None:
    assert upper_bound(TERMS[0], N) == pytest.approx(math.log(1 + (N - 5 + 0.5) / 5.5) * 2.2)
    assert upper_bound(TERMS[0], N) > upper_bound(TERMS[1], N) > upper_bound(TERMS[2], N) > 0


@pytest.mark.parametrize(("budget", "taken"), [(1, 1), (404, 1), (405, 2), (3_405, 3), (10**9, 3)])
def test_the_first_pass_takes_the_rarest_words_that_fit(budget: int, taken: int) -> None:
    assert first_essential(TERMS, budget) == taken


def test_widening_takes_just_enough_words_for_the_rest_to_stay_below_theta() -> None:
    middle, common = (upper_bound(t, N) for t in TERMS[1:])
    assert essential_for(TERMS, N, middle + common + 0.01, 1) == 1
    assert essential_for(TERMS, N, middle + common, 1) == 2  # a chunk could tie theta: it must be read
    assert essential_for(TERMS, N, common + 0.01, 1) == 2
    assert essential_for(TERMS, N, common, 1) == 3
    assert essential_for(TERMS, N, None, 1) == 3  # fewer than k found: every word


def _row(chunk_id: int, value: float) -> ChunkRow:
    return ChunkRow(chunk_id, str(chunk_id), None, None, "", 0, {}, (), 0, 0, None, None, value)


def test_two_passes_merge_in_the_full_scans_order() -> None:
    merged = merge([_row(1, 3.0), _row(4, 2.0)], [_row(2, 2.0), _row(3, 5.0)], 3)
    assert [r.chunk_id for r in merged] == [3, 1, 2]  # ties by chunk id, as ORDER BY score DESC, id
