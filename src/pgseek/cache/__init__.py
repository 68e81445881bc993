"""Caches of query embeddings and search results (decision 0023): exact keys only, in Redis when one is configured,
in this process otherwise. Nothing here reads the database: what keeps a cached result fresh is the generations in
its key (pgseek.search.cached)."""
