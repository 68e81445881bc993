"""The keyword leg with a bounded cost: exact Okapi BM25 top k without scoring every chunk that holds a query word.

MaxScore (Turtle and Flood, 1995) over PostgreSQL's GIN index (docs/decisions/0024). A word's contribution to a
chunk's score is idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), always below idf * (k1 + 1): its upper
bound. With the words sorted rarest first, the chunks holding one of the first few ("essential") words are scored in
full (every query word's tf), and the k-th best score among them that passes the filter is theta. A chunk holding
none of them holds only the other words, so its score is below the sum of their bounds: when that sum is below
theta, no such chunk can enter the top k and none is read. When it is not, the essential set grows by just enough
words for the sum of the rest to fall below theta, and one more pass scores the chunks those words add. theta can
only rise as candidates are added, so the bound found then holds: at most two passes, and the result is the full
scan's, ties in floating point aside. A filter or search operators only lower theta (a chunk they reject cannot set
it), so the result stays exact and may cost a widening; with fewer than k passing chunks, every word is essential
and the second pass is the full scan's remainder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pgseek.db.catalog import Collection
from pgseek.db.scope import TenantConn
from pgseek.db.search import NO_FILTER, ChunkRow, TermFrequency, Where, keyword_pass, keyword_terms

K1 = 1.2
ESSENTIAL_POSTINGS = 1_000
"""The first pass takes the rarest words while their document frequencies add up to at most this many (and always
the rarest one): cheap enough to read, and usually enough chunks to set a high theta."""
MARGIN = 1e-9
"""Relative slack between the bounds computed here and the scores summed in SQL (float8 both, summed in other
orders), so that rounding can never prune a chunk that ties theta."""


def upper_bound(term: TermFrequency, chunk_count: float) -> float:
    """The most ``term`` can add to any chunk's score: its idf (as the SQL computes it) times k1 + 1."""
    return math.log(1 + (chunk_count - term.df + 0.5) / (term.df + 0.5)) * (K1 + 1)


def first_essential(terms: Sequence[TermFrequency], budget: int = ESSENTIAL_POSTINGS) -> int:
    """How many of ``terms`` (rarest first) the first pass takes: at least one, then while their postings fit."""
    taken, postings = 0, 0
    for term in terms:
        if taken and postings + term.df > budget:
            break
        taken, postings = taken + 1, postings + term.df
    return taken


def essential_for(terms: Sequence[TermFrequency], chunk_count: float, theta: float | None, start: int) -> int:
    """The fewest of ``terms`` (at least ``start``) to score so that the rest, summed at their bounds, stay below
    ``theta`` (the k-th best score found; None when fewer than k chunks were found: then all of them)."""
    if theta is None:
        return len(terms)
    rest = sum(upper_bound(t, chunk_count) for t in terms[start:])
    taken = start
    while taken < len(terms) and rest * (1 + MARGIN) >= theta:
        rest -= upper_bound(terms[taken], chunk_count)
        taken += 1
    return taken


def merge(first: Sequence[ChunkRow], second: Sequence[ChunkRow], k: int) -> list[ChunkRow]:
    """The k best of two disjoint passes, in the full scan's order: score descending, then chunk id."""
    return sorted([*first, *second], key=lambda row: (-row.value, row.chunk_id))[:k]


async def keyword_search(
    scope: TenantConn,
    collection: Collection,
    text: str,
    *,
    k: int,
    where: Where = NO_FILTER,
    budget: int = ESSENTIAL_POSTINGS,
) -> list[ChunkRow]:
    """Chunks matching ``text`` as a web-style query (quotes, OR, -word), by Okapi BM25 (value: score), as
    db.search.full_keyword_search finds them. Run in one snapshot (``tenant_transaction(snapshot=True)``): the
    document frequencies read first must be those of the chunks scored after. ``budget``: see ESSENTIAL_POSTINGS."""
    found = await keyword_terms(scope, collection, text)
    terms = found.terms
    if not terms or k <= 0:
        return []
    taken = first_essential(terms, budget)
    lexemes = [t.lexeme for t in terms]
    rows = await keyword_pass(scope, collection, text, terms, essential=lexemes[:taken], scored=[], k=k, where=where)
    theta = rows[k - 1].value if len(rows) >= k else None
    widened = essential_for(terms, found.chunk_count, theta, taken)
    if widened == taken:
        return rows
    more = await keyword_pass(
        scope, collection, text, terms, essential=lexemes[taken:widened], scored=lexemes[:taken], k=k, where=where
    )
    return merge(rows, more, k)
