-- A model's whole identity, so that pgseek can rebuild the embedder a collection was embedded with from this row
-- alone (registry.embedder_for) and, later, key versions of a collection's model by it.
--   max_tokens: tokens the model reads per input (null: not recorded, as for rows written before this migration);
--   precision: how its vectors are stored, float32 (vector) or float16 (halfvec): the same model stored at two
--     precisions is two vector spaces, so precision joins the unique key;
--   normalized: whether the model returns unit-length vectors.
ALTER TABLE embedding_models
    ADD COLUMN max_tokens integer CHECK (max_tokens > 0),
    ADD COLUMN precision text NOT NULL DEFAULT 'float32' CHECK (precision IN ('float32', 'float16')),
    ADD COLUMN normalized boolean NOT NULL DEFAULT true;

ALTER TABLE embedding_models DROP CONSTRAINT embedding_models_provider_name_version_dimensions_key;
ALTER TABLE embedding_models
    ADD CONSTRAINT embedding_models_identity_key UNIQUE (provider, name, version, dimensions, precision);
