"""pgseek's search joined to your own table, in one SQL statement, from asyncpg.

    python examples/asyncpg_join.py --url postgresql://... TENANT "query text"

Prints one line per hit: document id, ticket owner and cosine distance, tab-separated, nearest first. Only documents
whose ticket is open are listed, and only the tenant's own (row-level security; see docs/schema.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg
from pgvector.asyncpg import register_vector

from pgseek import AsyncSeek

APP_TABLE = """
CREATE TABLE IF NOT EXISTS app_tickets (
    tenant_id text NOT NULL, doc_id text NOT NULL, status text NOT NULL, owner text NOT NULL,
    PRIMARY KEY (tenant_id, doc_id)
);
GRANT SELECT ON app_tickets TO pgseek_app"""
# The tenant's transaction: pgseek's unprivileged role, its tenant, and an HNSW scan that keeps walking the graph
# until LIMIT rows have passed the join's conditions. All three end with the transaction (the `true` arguments).
SCOPE = """
SELECT set_config('role', 'pgseek_app', true), set_config('pgseek.tenant', $1, true),
       set_config('hnsw.iterative_scan', 'strict_order', true)"""
# asyncpg has no identifier composition: the server quotes the table name.
EMBEDDINGS_TABLE = """
SELECT quote_ident(v.table_name) FROM collections c
JOIN embedding_versions v ON v.collection_id = c.id AND v.state = 'active'
WHERE c.name = $1"""
SEARCH = """
SELECT d.external_id, t.owner, e.embedding <=> $1 AS distance
FROM {embeddings} e
JOIN chunks c ON c.id = e.chunk_id
JOIN documents d ON d.id = c.document_id
JOIN app_tickets t ON t.tenant_id = d.tenant_id AND t.doc_id = d.external_id
WHERE e.collection_id = (SELECT id FROM collections WHERE name = $2) AND t.status = 'open'
ORDER BY e.embedding <=> $1
LIMIT $3"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PGSEEK_DATABASE_URL"), help="default: $PGSEEK_DATABASE_URL")
    parser.add_argument("--collection", default="default")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("tenant")
    parser.add_argument("query")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set PGSEEK_DATABASE_URL")

    embedder = await AsyncSeek().embedder()  # pgseek's model only: this opens no connection of pgseek's own
    query = embedder.embed([args.query], purpose="query")[0]

    conn = await asyncpg.connect(args.url)
    try:
        await register_vector(conn)
        await conn.execute(APP_TABLE)  # several statements, no parameters: one implicit transaction
        async with conn.transaction():
            await conn.execute(SCOPE, args.tenant)
            table = await conn.fetchval(EMBEDDINGS_TABLE, args.collection)
            if table is None:
                raise SystemExit(f"collection {args.collection!r} has no embeddings yet: ingest into it first")
            rows = await conn.fetch(SEARCH.format(embeddings=table), query, args.collection, args.k)
        for doc_id, owner, distance in rows:
            print(f"{doc_id}\t{owner}\t{distance:.4f}")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
