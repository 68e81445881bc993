-- How hybrid search fuses a collection's vector and keyword legs, as `pgseek tune` chose it (docs/decisions/0020):
-- {"method": "rrf" | "minmax" | "zscore", "rrf_k": int, "vector_weight": number, "keyword_weight": number, ...}
-- plus how it was tuned. Null: the built-in default (RRF, k = 60, equal weights). Searches that name any fusion
-- parameter ignore it. A collection's setting is shared by the tenants that use it, like its distance.
ALTER TABLE collections ADD COLUMN fusion jsonb CHECK (fusion IS NULL OR jsonb_typeof(fusion) = 'object');
