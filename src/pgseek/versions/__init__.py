"""Embedding versions of a collection (decision 0018): add a candidate, backfill it, compare it with the active one,
activate it, roll back, retire. The database side is pgseek.db.versions."""
