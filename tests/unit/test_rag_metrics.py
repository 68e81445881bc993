"""RAG metrics and the claims format, on hand-made examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgseek.errors import InputError
from pgseek.evaluate.claims import Claim, load_rag_claims
from pgseek.evaluate.rag_metrics import contains_sentence, score_answer, summarize

SUPPORTED = Claim(
    "1",
    "Aspirin lowers the risk of heart attacks.",
    frozenset({"d1", "d2"}),
    {"d1": ("Daily aspirin reduced myocardial infarction by 30%.",)},
    "SUPPORT",
)
NOINFO = Claim("2", "Aspirin cures baldness.", frozenset({"d3"}), {}, "NOINFO")


def test_an_answer_quoting_gold_evidence_and_citing_gold() -> None:
    text = "Daily  aspirin reduced myocardial\ninfarction by 30%. [1] Unrelated finding. [2]"
    scores = score_answer(SUPPORTED, text=text, cited=["d1", "d9", "d1"], refused=False)
    assert scores.cited == ("d1", "d9") and scores.gold_cited == 1 and scores.cites_gold
    assert scores.has_evidence is True


def test_an_answer_without_evidence_or_gold() -> None:
    scores = score_answer(SUPPORTED, text="Aspirin is an old drug. [1]", cited=["d7"], refused=False)
    assert not scores.cites_gold and scores.has_evidence is False
    # A sentence cut short is not the gold sentence.
    partial = score_answer(
        SUPPORTED, text="Daily aspirin reduced myocardial infarction. [1]", cited=["d1"], refused=False
    )
    assert partial.has_evidence is False and partial.cites_gold


def test_a_claim_without_evidence_is_left_out_of_the_evidence_share() -> None:
    assert score_answer(NOINFO, text="Nothing. [1]", cited=["d3"], refused=False).has_evidence is None


def test_summaries() -> None:
    scores = [
        score_answer(SUPPORTED, text="Daily aspirin reduced myocardial infarction by 30%. [1]", cited=["d1", "d2"],
                     refused=False),  # 2 cited, both gold, evidence
        score_answer(SUPPORTED, text="Something else. [1]", cited=["d1", "d8", "d9"], refused=False),  # 1 of 3 gold
        score_answer(SUPPORTED, text="The documents do not answer this question.", cited=[], refused=True),
        score_answer(NOINFO, text="The documents do not answer this question.", cited=[], refused=True),
        score_answer(NOINFO, text="", cited=[], refused=False, failed=True),
    ]  # fmt: skip
    s = summarize(scores)
    assert (s.claims, s.answered, s.refused, s.failed) == (5, 2, 2, 1)
    assert s.cites_gold == pytest.approx(2 / 5)
    assert s.citations == 5 and s.citation_precision == pytest.approx(3 / 5)
    assert s.evidence_claims == 3 and s.evidence == pytest.approx(1 / 3)  # the refused SUPPORT claim counts as 0
    assert s.refusal_rate == pytest.approx(2 / 5)
    assert s.refusal_rate_by_label == {"NOINFO": 0.5, "SUPPORT": pytest.approx(1 / 3)}
    nothing_cited = summarize([score_answer(NOINFO, text="x", cited=[], refused=True)])
    assert (
        nothing_cited.citation_precision == 0.0 and nothing_cited.evidence == 0.0 and nothing_cited.evidence_claims == 0
    )
    with pytest.raises(ValueError):
        summarize([])


def test_contains_sentence_normalises_whitespace_case_and_markers() -> None:
    assert contains_sentence("A [1]. THE  Result held [2][3].", ["the result held."])  # a marker before the stop
    assert not contains_sentence("The result [1] was held.", ["the result held."])
    assert contains_sentence("The  result held. [2]", ["the result\theld."])
    assert not contains_sentence("anything", [""])
    # A paper's own reference markers are not content: the extractive answer leaves them out.
    assert contains_sentence("Lenses focus light. [1]", ["Lenses focus light [12, 13]."])


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_load_claims_with_sentence_indices_and_texts(tmp_path: Path) -> None:
    _write(
        tmp_path / "corpus_sentences.jsonl",
        [{"_id": "d1", "sentences": ["S zero.", "S one.", "S two."]}, {"_id": "d2", "sentences": ["T zero."]}],
    )
    claims = _write(
        tmp_path / "claims.jsonl",
        [
            {"id": "a", "claim": "first", "cited_doc_ids": ["d1"], "evidence": {"d1": [{"label": "SUPPORT",
             "sentences": [2, 0]}, {"sentences": [2]}]}, "label": "SUPPORT"},
            {"id": 7, "question": "second", "cited_doc_ids": ["d2", 5], "evidence": {"d2": ["Given as text."]}},
            {"claim": "third", "cited_doc_ids": ["d2"], "evidence": {}},
        ],
    )  # fmt: skip
    loaded = load_rag_claims(claims)
    assert loaded.name == tmp_path.name and [c.id for c in loaded.claims] == ["a", "7", "3"]
    first, second, third = loaded.claims
    assert first.evidence == {"d1": ("S two.", "S zero.")} and first.label == "SUPPORT"
    assert (
        second.text == "second"
        and second.gold_documents == {"d2", "5"}
        and second.evidence_sentences == ("Given as text.",)
    )
    assert third.evidence == {} and third.label is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"claim": "", "cited_doc_ids": ["d1"]}, "'claim'"),
        ({"claim": "x", "cited_doc_ids": []}, "cited_doc_ids"),
        ({"claim": "x", "cited_doc_ids": ["d1"], "evidence": ["d1"]}, "'evidence' must be an object"),
        ({"claim": "x", "cited_doc_ids": ["d1"], "evidence": {"d1": [{"sentences": [9]}]}}, "no sentence 9"),
        ({"claim": "x", "cited_doc_ids": ["d1"], "evidence": {"dX": [0]}}, "no sentences for document 'dX'"),
        ({"claim": "x", "cited_doc_ids": ["d1"], "evidence": {"d1": [{"sentences": [1.5]}]}}, "sentence indices"),
    ],
)
def test_bad_claims_name_the_line_and_field(tmp_path: Path, row: dict[str, object], message: str) -> None:
    _write(tmp_path / "corpus_sentences.jsonl", [{"_id": "d1", "sentences": ["Only one."]}])
    claims = _write(tmp_path / "claims.jsonl", [row])
    with pytest.raises(InputError, match=message) as caught:
        load_rag_claims(claims)
    assert "claims.jsonl:1" in str(caught.value) and caught.value.field == "claims"


def test_indices_without_a_sentences_file(tmp_path: Path) -> None:
    claims = _write(tmp_path / "c.jsonl", [{"claim": "x", "cited_doc_ids": ["d1"], "evidence": {"d1": [0]}}])
    with pytest.raises(InputError, match=r"corpus_sentences\.jsonl is missing") as caught:
        load_rag_claims(claims)
    assert caught.value.field == "sentences"
    with pytest.raises(InputError, match="missing"):
        load_rag_claims(tmp_path / "nope.jsonl")
