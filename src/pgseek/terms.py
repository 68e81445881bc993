"""A question's key terms, and whether a text covers them: pure, shared by the extractive generator (which sentences
answer) and the refusal gate (whether the context can answer at all).

A term is a lower-cased, lightly stemmed word that is not a stop word: "increase", "increases", "increased" and
"increasing" are one term. Identifiers split at punctuation and underscores ("max_connections" is "max" and
"connection"), so a question and a document that write a name differently still meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["QUESTION_WORDS", "STOP_WORDS", "content_words", "stem", "words"]

_WORD = re.compile(r"[^\W_]+")
# Function words carry no evidence of an answer; matching them would reward any sentence of the right length.
_STOP_WORDS_TEXT = """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this those
through to too under until up very was we were what when where which while who whom why will with would you your
yours don doesn didn isn aren wasn weren won wouldn shouldn couldn haven hasn hadn ll ve re
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
# Words of asking rather than of the subject: a question "how do I use X" is about X, and "use" says nothing about
# which documents hold the answer.
_QUESTION_WORDS_TEXT = """
use using used make get set find way want need tell explain happen happens one thing things possible many much
"""
QUESTION_WORDS = frozenset(_QUESTION_WORDS_TEXT.split())


def words(text: str) -> list[str]:
    """The text's words, lower-cased, in order (numbers included)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> frozenset[str]:
    """Lower-cased, stemmed words of ``text`` that are not stop words (single letters left out)."""
    return frozenset(stem(w) for w in words(text) if w not in STOP_WORDS and len(w) > 1)


def key_terms(question: str) -> dict[str, str]:
    """The question's key terms: content words that are not words of asking, each stem with the word it came from
    (the first one, for a stem written several ways)."""
    terms: dict[str, str] = {}
    for word in words(question):
        if word in STOP_WORDS or len(word) < 2 or stem(word) in _QUESTION_STEMS:
            continue
        terms.setdefault(stem(word), word)
    return terms


def stems(texts: Iterable[str]) -> frozenset[str]:
    """Every stemmed word of ``texts`` (stop words included: cheap, and a superset is all coverage needs)."""
    return frozenset(stem(w) for text in texts for w in words(text))


def stem(word: str) -> str:
    """Plural, -ing/-ed and final -e off, so that increase, increases, increased and increasing meet."""
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


_QUESTION_STEMS = frozenset(stem(w) for w in QUESTION_WORDS)
