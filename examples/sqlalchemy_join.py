"""pgseek's search joined to your own table, in one SQL statement, from SQLAlchemy (Core, psycopg 3 driver).

    python examples/sqlalchemy_join.py --url postgresql://... TENANT "query text"

Prints one line per hit: document id, ticket owner and cosine distance, tab-separated, nearest first. Only documents
whose ticket is open are listed, and only the tenant's own (row-level security; see docs/schema.md).
"""

from __future__ import annotations

import argparse
import os

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, create_engine, func, select, text

from pgseek import Seek

metadata = MetaData()
# Only the columns this program reads: pgseek owns these tables and their migrations (docs/schema.md).
collections = Table("collections", metadata, Column("id", Integer), Column("name", Text))
embedding_versions = Table(
    "embedding_versions",
    metadata,
    Column("collection_id", Integer),
    Column("state", Text),
    Column("table_name", Text),
)
documents = Table(
    "documents", metadata, Column("id", BigInteger), Column("tenant_id", Text), Column("external_id", Text)
)
chunks = Table("chunks", metadata, Column("id", BigInteger), Column("document_id", BigInteger))
app_tickets = Table(
    "app_tickets",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("doc_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("owner", Text, nullable=False),
)


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

    engine = create_engine(args.url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # one transaction, committed on success
        app_tickets.create(conn, checkfirst=True)
        conn.execute(text("GRANT SELECT ON app_tickets TO pgseek_app"))
    with engine.begin() as conn:
        # pgseek's unprivileged role and the tenant, and an HNSW scan that walks on until LIMIT rows pass the join's
        # conditions; all three end with the transaction (the `true` arguments).
        conn.execute(
            select(
                func.set_config("role", "pgseek_app", True),
                func.set_config("pgseek.tenant", args.tenant, True),
                func.set_config("hnsw.iterative_scan", "strict_order", True),
            )
        )
        found = conn.execute(
            select(embedding_versions.c.table_name, collections.c.id)
            .join(collections, collections.c.id == embedding_versions.c.collection_id)
            .where(collections.c.name == args.collection, embedding_versions.c.state == "active")
        ).first()
        if found is None:
            raise SystemExit(f"collection {args.collection!r} has no embeddings yet: ingest into it first")
        embeddings = Table(
            found.table_name,
            MetaData(),
            Column("chunk_id", BigInteger),
            Column("collection_id", Integer),
            Column("embedding", Vector()),
        )
        distance = embeddings.c.embedding.cosine_distance(query)
        search = (
            select(documents.c.external_id, app_tickets.c.owner, distance.label("distance"))
            .select_from(embeddings)
            .join(chunks, chunks.c.id == embeddings.c.chunk_id)
            .join(documents, documents.c.id == chunks.c.document_id)
            .join(
                app_tickets,
                (app_tickets.c.tenant_id == documents.c.tenant_id) & (app_tickets.c.doc_id == documents.c.external_id),
            )
            .where(embeddings.c.collection_id == found.id, app_tickets.c.status == "open")
            .order_by(distance)
            .limit(args.k)
        )
        for doc_id, owner, dist in conn.execute(search):
            print(f"{doc_id}\t{owner}\t{dist:.4f}")


if __name__ == "__main__":
    main()
