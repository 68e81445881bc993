"""Re-embed only what changed: edit one paragraph of each of 100 multi-chunk documents, re-ingest, count.

    python bench/bench_reuse.py                   # 100 documents of 6 SciFact abstracts each
    python bench/bench_reuse.py --documents 20    # quick run

Each document is ``--paragraphs`` consecutive SciFact abstracts, one per paragraph, in two layouts: plain paragraphs
(chunks pack several paragraphs, so an edit can shift the cuts after it) and one Markdown section per abstract
(chunks never cross a heading). The edit appends one sentence to one paragraph of every document (a different
paragraph from one document to the next). Re-ingesting the edited documents is timed and its report read: chunks
embedded now vs the chunks of the edited documents, which is what pgseek embedded before chunk reuse (a changed
document was embedded whole). The same edited documents ingested into an empty collection give the wall time of
embedding them whole. Writes ``bench/results/reuse.{json,png}``; figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

EDIT = " This paragraph was revised after review to state the sample size more precisely."
LAYOUTS = ("paragraphs", "sections")


def documents(corpus: list[dict[str, Any]], count: int, paragraphs: int, layout: str, edited: bool) -> list[Any]:
    from pgseek import Document

    docs = []
    for i in range(count):
        abstracts = corpus[i * paragraphs : (i + 1) * paragraphs]
        parts = [str(a["text"]).strip() for a in abstracts]
        if edited:
            k = i % paragraphs
            parts[k] += EDIT
        if layout == "sections":
            parts = [f"## {str(a['title']).strip()}\n\n{p}" for a, p in zip(abstracts, parts, strict=True)]
        docs.append(Document(f"{layout}-{i}", "\n\n".join(parts), title=f"SciFact digest {i}"))
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100, help="documents (default 100)")
    parser.add_argument("--paragraphs", type=int, default=6, help="abstracts per document (default 6)")
    args = parser.parse_args(argv)

    from pgseek import Seek

    corpus = [d for d in common.load_corpus(args.documents * args.paragraphs * 2) if str(d["text"]).strip()]
    corpus = corpus[: args.documents * args.paragraphs]
    rows: list[dict[str, Any]] = []
    with common.bench_home() as home:
        settings = common.settings_for(home)
        with Seek(settings) as seek:
            embedder = seek.embedder()
            url = seek._core._url
            for layout in LAYOUTS:
                original = documents(corpus, args.documents, args.paragraphs, layout, edited=False)
                edited = documents(corpus, args.documents, args.paragraphs, layout, edited=True)
                first = seek.ingest_documents(original, collection=f"reuse_{layout}")
                t0 = time.perf_counter()
                again = seek.ingest_documents(edited, collection=f"reuse_{layout}")
                reuse_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                whole = seek.ingest_documents(edited, collection=f"whole_{layout}")
                whole_seconds = time.perf_counter() - t0
                total = again.chunks_embedded + again.chunks_reused
                print(
                    f"{layout}: {first.chunks_embedded:,} chunks first, {again.chunks_embedded:,} embedded "
                    f"and {again.chunks_reused:,} reused after the edits",
                    flush=True,
                )
                rows.append(
                    {
                        "layout": layout,
                        "documents edited": again.documents_updated,
                        "chunks in edited docs": total,
                        "embedded before (whole docs)": whole.chunks_embedded,
                        "embedded now": again.chunks_embedded,
                        "reused now": again.chunks_reused,
                        "embedded per doc now": again.chunks_embedded / max(again.documents_updated, 1),
                        "seconds before (whole docs)": whole_seconds,
                        "seconds now": reuse_seconds,
                        "model seconds now": again.model_seconds,
                    }
                )
            meta = common.base_meta(url)
            meta["model"] = {"name": embedder.info.name, "version": embedder.info.version}
            meta["dataset"] = (
                f"BEIR SciFact corpus: {args.documents} documents of {args.paragraphs} consecutive abstracts each"
            )
            meta["edit"] = f"one paragraph per document gets this sentence appended: {EDIT.strip()!r}"
            meta["notes"] = (
                "'embedded before' is what a changed document cost before chunk reuse: all its chunks, measured as "
                "the chunks embedded when the edited documents are ingested into an empty collection (its seconds: "
                "that ingest's wall time). 'now' is re-ingesting the edited documents over their first version: "
                "wall time of ingest_documents (setup, chunking, lookup of stored vectors, embedding, writes)."
            )
            meta["settings"] = {"chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap}
    common.write_results(
        "reuse",
        rows,
        meta,
        plot={
            "labels": [r["layout"] for r in rows],
            "values": {
                "embedded before (whole docs)": [r["embedded before (whole docs)"] for r in rows],
                "embedded now": [r["embedded now"] for r in rows],
            },
            "ylabel": "chunks embedded",
            "title": f"Re-ingest after editing one paragraph of each of {args.documents} documents",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
