"""pgseek's search joined to your own table, in one SQL statement, from psycopg2.

    python examples/psycopg2_join.py --url postgresql://... TENANT "query text"

Prints one line per hit: document id, ticket owner and cosine distance, tab-separated, nearest first. Only documents
whose ticket is open are listed, and only the tenant's own (row-level security; see docs/schema.md).
"""

from __future__ import annotations

import argparse
import os

import psycopg2
from pgvector.psycopg2 import register_vector
from psycopg2 import sql

from pgseek import Seek

APP_TABLE = """
CREATE TABLE IF NOT EXISTS app_tickets (
    tenant_id text NOT NULL, doc_id text NOT NULL, status text NOT NULL, owner text NOT NULL,
    PRIMARY KEY (tenant_id, doc_id)
);
GRANT SELECT ON app_tickets TO pgseek_app"""
# The tenant's transaction: pgseek's unprivileged role, its tenant, and an HNSW scan that keeps walking the graph
# until LIMIT rows have passed the join's conditions. All three end with the transaction (the `true` arguments).
SCOPE = """
SELECT set_config('role', 'pgseek_app', true), set_config('pgseek.tenant', %s, true),
       set_config('hnsw.iterative_scan', 'strict_order', true)"""
EMBEDDINGS_TABLE = """
SELECT v.table_name FROM collections c
JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
WHERE c.name = %s"""
SEARCH = sql.SQL("""
SELECT d.external_id, t.owner, e.embedding <=> %(query)s AS distance
FROM {embeddings} e
JOIN chunks c ON c.id = e.chunk_id
JOIN documents d ON d.id = c.document_id
JOIN app_tickets t ON t.tenant_id = d.tenant_id AND t.doc_id = d.external_id
WHERE e.collection_id = (SELECT id FROM collections WHERE name = %(collection)s) AND t.status = 'open'
ORDER BY e.embedding <=> %(query)s
LIMIT %(k)s""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PGSEEK_DATABASE_URL"), help="default: $PGSEEK_DATABASE_URL")
    parser.add_argument("--collection", default="default")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("tenant")
    parser.add_argument("query")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set PGSEEK_DATABASE_URL")

    with Seek() as seek:
        query = seek.embedder().embed([args.query], purpose="query")[0]

    conn = psycopg2.connect(args.url)
    try:
        register_vector(conn)
        with conn, conn.cursor() as cur:  # `with conn` is one transaction: commit on success
            cur.execute(APP_TABLE)
        with conn, conn.cursor() as cur:
            cur.execute(SCOPE, (args.tenant,))
            cur.execute(EMBEDDINGS_TABLE, (args.collection,))
            found = cur.fetchone()
            if found is None:
                raise SystemExit(f"collection {args.collection!r} has no embeddings yet: ingest into it first")
            search = SEARCH.format(embeddings=sql.Identifier(found[0]))
            cur.execute(search, {"query": query, "collection": args.collection, "k": args.k})
            for doc_id, owner, distance in cur.fetchall():
                print(f"{doc_id}\t{owner}\t{distance:.4f}")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
