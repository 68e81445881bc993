"""The generations a cached search result is keyed by (migration 0011, decision 0023): read under the tenant's scope,
in one statement, before anything else of the search is read."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row

from pgseek.db.connect import Pool
from pgseek.db.scope import tenant_transaction

# The collection's id and both generations; no row when there is no such collection. Row-level security shows the
# tenant its own generation row only. No row of its own yet (nothing written): 0, which no bump ever produces.
READ_GENERATIONS = """
SELECT n.id::text AS namespace, c.id AS collection_id, coalesce(cg.generation, 0) AS collection,
       coalesce(sg.generation, 0) AS tenant
FROM search_cache_namespace n
CROSS JOIN collections c
LEFT JOIN collection_generations cg ON cg.collection_id = c.id
LEFT JOIN search_generations sg ON sg.collection_id = c.id AND sg.tenant_id = %(tenant)s
WHERE c.name = %(name)s"""


@dataclass(frozen=True, slots=True)
class Generations:
    namespace: str
    """This database's id in a cache several databases share."""
    collection_id: int
    collection: int
    """Bumped by version changes and the collection's own settings: every tenant's results."""
    tenant: int
    """Bumped by every write of the tenant's chunks in the collection."""


async def read_generations(pool: Pool, tenant: str, collection: str) -> Generations | None:
    """The collection's generations as ``tenant`` sees them now; None when there is no such collection."""
    async with tenant_transaction(pool, tenant) as scope, scope.conn.cursor(row_factory=class_row(Generations)) as cur:
        await cur.execute(READ_GENERATIONS, {"tenant": scope.tenant, "name": collection})
        return await cur.fetchone()
