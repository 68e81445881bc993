"""Okapi BM25 computed in Python from the chunks' own tsvectors and token counts: the keyword leg's reference.

Independent of pgseek's SQL: it reads every chunk of the tenant's collection (all its live versions' chunks are
the active one's when there is one version) as the database owner and counts document frequencies itself.
"""

from __future__ import annotations

import math

import psycopg

K1, B = 1.2, 0.75


def reference_scores(database_url: str, collection: str, query: str, tenant: str = "default") -> dict[str, float]:
    """Scores by document external id (one chunk per document) of every chunk holding a query lexeme."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", (query,)).fetchone()
        assert found is not None
        lexemes = set(found[0])
        rows = conn.execute(
            """SELECT d.external_id, c.token_count, (SELECT array_agg(ARRAY[t.lexeme, cardinality(t.positions)::text])
                                                     FROM unnest(c.tsv) t)
               FROM chunks c JOIN documents d ON d.id = c.document_id JOIN collections k ON k.id = c.collection_id
               JOIN embedding_versions v ON v.id = c.version_id AND v.state = 'active'
               WHERE k.name = %s AND c.tenant_id = %s""",
            (collection, tenant),
        ).fetchall()
    tfs = {doc: {lexeme: int(n) for lexeme, n in pairs} for doc, _, pairs in rows}
    lengths = {doc: length for doc, length, _ in rows}
    n, avgdl = len(rows), sum(lengths.values()) / len(rows)
    scores: dict[str, float] = {}
    for doc, tf in tfs.items():
        score = 0.0
        for lexeme in lexemes & tf.keys():
            df = sum(lexeme in other for other in tfs.values())
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf[lexeme] * (K1 + 1) / (tf[lexeme] + K1 * (1 - B + B * lengths[doc] / avgdl))
        if score:
            scores[doc] = score
    return scores


def ranked(scores: dict[str, float], k: int) -> list[str]:
    return sorted(scores, key=lambda doc: -scores[doc])[:k]
