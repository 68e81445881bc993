-- The pages of a PDF a chunk starts and ends on (1-based), for citations such as "manual.pdf p. 12"; null for
-- documents without pages. Nullable without a default: adding them rewrites no rows (docs/decisions/0014).
ALTER TABLE chunks
    ADD COLUMN page      integer CHECK (page >= 1),
    ADD COLUMN page_end  integer,
    ADD CONSTRAINT chunks_page_end_check CHECK (page_end >= page);
