-- The SHA-256 of what the model read for a chunk (title prefix included) under the model's identity, so that
-- re-ingesting a changed document reuses the vectors of the chunks whose embedded text did not change
-- (docs/decisions/0017). Nullable without a default: adding it rewrites no rows, and chunks written before it are
-- never a reuse source (they are embedded again once, then carry a hash). Looked up within one document, through
-- chunks_document_idx: no index of its own.
ALTER TABLE chunks ADD COLUMN embed_hash bytea CHECK (octet_length(embed_hash) = 32);
