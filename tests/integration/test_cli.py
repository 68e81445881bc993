"""The pgseek command, run as a user runs it: a subprocess against the real database and model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF garbage"


def pgseek(
    args: list[str], settings_env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgseek", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env={**os.environ, **settings_env},
        timeout=300,
    )


@pytest.fixture(scope="module")
def env(database_url: str, pgseek_home: Path) -> dict[str, str]:
    return {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}


def test_ingest_reports_each_bad_file_and_keeps_the_rest(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Lighthouses\n\nA lighthouse warns ships of rocks with a rotating lamp.")
    (tmp_path / "latin1.txt").write_bytes("Le café près de la gare ouvre à sept heures.".encode("latin-1"))
    (tmp_path / "garbage.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "broken.pdf").write_bytes(BROKEN_PDF)
    result = pgseek(["ingest", str(tmp_path), "--collection", "cli", "--json"], env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {
        "documents_seen",
        "documents_added",
        "documents_updated",
        "documents_unchanged",
        "documents_failed",
        "chunks_embedded",
        "chunks_reused",
        "documents_pruned",
        "skipped",
        "skipped_files",
        "failures",
        "seconds",
        "commit_lsn",
    }
    assert report["documents_added"] == 2
    failed = {Path(f["path"]).name: f["error"] for f in report["failures"]}
    assert set(failed) == {"garbage.txt", "empty.txt", "broken.pdf"}
    assert "empty" in failed["empty.txt"]
    assert all(failed.values())

    search = pgseek(["search", "café opening hours near the station", "-k", "1", "-c", "cli", "--json"], env)
    assert search.returncode == 0, search.stderr
    body = json.loads(search.stdout)
    assert body["hits"][0]["document_id"].endswith("latin1.txt")
    assert "café" in body["hits"][0]["chunk"]
    hit_keys = {"document_id", "title", "source", "chunk", "position", "score", "metadata", "page", "page_end"}
    assert set(body["hits"][0]) == hit_keys
    assert set(body["timings_ms"]) == {"embed", "search", "fuse", "total", "load"}
    assert body["mode"] == "vector" and body["plan"] in {"exact", "iterative"}


def test_stdin_and_readable_output(env: dict[str, str]) -> None:
    result = pgseek(["ingest", "-", "-c", "stdin"], env, stdin=b"Penguins huddle together to survive the winter.")
    assert result.returncode == 0, result.stderr
    assert "1 added" in result.stdout
    table = pgseek(["search", "birds keeping warm in the cold", "-c", "stdin"], env)
    assert table.returncode == 0, table.stderr
    assert "Penguins" in table.stdout


def test_each_piped_document_is_its_own_unless_given_the_same_id(env: dict[str, str]) -> None:
    for text in (b"Walruses use their tusks to climb onto ice.", b"Puffins nest in burrows on cliffs."):
        assert pgseek(["ingest", "-", "-c", "piped"], env, stdin=text).returncode == 0
    named = ["ingest", "-", "-c", "piped", "--id", "notes/today", "--json"]
    assert json.loads(pgseek(named, env, stdin=b"First draft of today.").stdout)["documents_added"] == 1
    assert json.loads(pgseek(named, env, stdin=b"Second draft of today.").stdout)["documents_updated"] == 1
    listed = json.loads(pgseek(["documents", "list", "-c", "piped", "--json"], env).stdout)
    ids = [d["id"] for d in listed["documents"]]
    assert len(ids) == 3 and "notes/today" in ids
    assert all(i.startswith("stdin-") and len(i) == 22 for i in ids if i != "notes/today")


def test_the_summary_says_how_many_chunks_of_a_changed_document_were_reused(env: dict[str, str]) -> None:
    named = ["ingest", "-", "-c", "reused", "--id", "notes/birds"]
    text = "# Walruses\n\nWalruses use their tusks to climb onto ice.\n\n# Puffins\n\nPuffins nest in burrows."
    assert pgseek(named, env, stdin=text.encode()).returncode == 0
    edited = pgseek(named, env, stdin=text.replace("nest in burrows", "nest in burrows on cliffs").encode())
    assert edited.returncode == 0, edited.stderr
    assert "1 updated" in edited.stdout and "1 chunks embedded, 1 reused" in edited.stdout


def test_prune_deletes_the_documents_of_files_gone_from_the_folder(env: dict[str, str], tmp_path: Path) -> None:
    folder, sibling = tmp_path / "notes", tmp_path / "notes2"
    (folder / "sub").mkdir(parents=True)
    sibling.mkdir()
    for path in (folder / "a.md", folder / "b.md", folder / "sub" / "c.md", sibling / "d.md"):
        path.write_text(f"# {path.stem}\n\nOtters hold hands while sleeping, note {path.stem}.")
    for tenant in ("acme", "globex"):
        for where in (folder, sibling):
            assert pgseek(["ingest", str(where), "-c", "pruned", "-t", tenant], env).returncode == 0

    def ids(tenant: str) -> list[str]:
        listed = pgseek(["documents", "list", "-c", "pruned", "-t", tenant, "--json"], env)
        return [Path(d["id"]).name for d in json.loads(listed.stdout)["documents"]]

    (folder / "b.md").unlink()
    (folder / "sub" / "c.md").unlink()
    kept = pgseek(["ingest", str(folder), "-c", "pruned", "-t", "acme", "--json"], env)
    assert json.loads(kept.stdout)["documents_pruned"] == 0 and ids("acme") == ["a.md", "b.md", "c.md", "d.md"]
    pruned = pgseek(["ingest", str(folder), "-c", "pruned", "-t", "acme", "--prune", "--json"], env)
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["documents_pruned"] == 2
    assert ids("acme") == ["a.md", "d.md"]  # notes2/d.md shares the folder's name as a prefix, not its path
    assert ids("globex") == ["a.md", "b.md", "c.md", "d.md"]  # another tenant's documents are its own
    told = pgseek(["ingest", str(folder), "-c", "pruned", "-t", "globex", "--prune"], env)
    assert "2 documents pruned: their files are gone" in told.stdout


def test_skipped_files_are_counted_and_named_by_reason(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD.txt").write_text("ref: refs/heads/main")
    (tmp_path / ".draft.md").write_text("# Draft\n\nNot for ingest.")
    (tmp_path / "report.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "huge.txt").write_text("A long log line that repeats. " * 100)  # 3,000 bytes, over the limit below
    (tmp_path / "big.jsonl").write_text(json.dumps({"id": "j", "text": "x" * 3000}) + "\n")  # streams: any size
    small = {**env, "PGSEEK_MAX_FILE_BYTES": "2048"}
    result = pgseek(["ingest", str(tmp_path), "-c", "skips", "--json"], small)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["documents_seen"] == 1 and report["documents_added"] == 1  # the JSON Lines file's document
    assert report["skipped"] == {"hidden": 2, "unsupported type": 2, "too large": 1}
    named = {Path(s["path"]).name: s["reason"] for s in report["skipped_files"]}
    unsupported = "unsupported type"
    assert named == {
        ".git": "hidden",
        ".draft.md": "hidden",
        "report.docx": unsupported,
        "photo.jpg": unsupported,
        "huge.txt": "too large",
    }
    told = pgseek(["ingest", str(tmp_path), "-c", "skips"], small)
    assert "5 files skipped (2 hidden, 1 too large, 2 unsupported type):" in told.stdout
    assert f"skipped {tmp_path.resolve() / 'report.docx'} (unsupported type)" in told.stdout
    named_file = pgseek(["ingest", str(tmp_path / "huge.txt"), "-c", "skips", "--json"], small)
    assert named_file.returncode == 1  # a file given by name is a failure, not a skip
    failure = json.loads(named_file.stdout)["failures"][0]
    assert "too large: 0.0 MB, over PGSEEK_MAX_FILE_BYTES" in failure["error"] and "Traceback" not in named_file.stderr


def test_bad_queries_and_missing_paths_are_one_clean_line(env: dict[str, str]) -> None:
    empty = pgseek(["search", "  "], env)
    assert empty.returncode == 2
    assert "query is empty" in empty.stderr and "Traceback" not in empty.stderr
    too_long = pgseek(["search", "token " * 300], env)
    assert too_long.returncode == 2 and "word pieces" in too_long.stderr
    missing = pgseek(["ingest", "/no/such/file.txt", "-c", "typo", "--json"], env)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "no such file or directory: '/no/such/file.txt'" in missing.stderr
    never_made = pgseek(["collections", "show", "typo"], env)
    assert never_made.returncode == 2 and "does not exist" in never_made.stderr


def test_status_json(env: dict[str, str]) -> None:
    result = pgseek(["status", "--json"], env)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["embedded"] is False
    assert status["pgvector_version"].startswith("0.8")
    assert "default" in {c["name"] for c in status["collections"]}


def test_bad_configuration_is_reported(env: dict[str, str]) -> None:
    result = pgseek(["status"], {**env, "PGSEEK_CHUNK_TOKENS": "50000"})
    assert result.returncode == 2
    assert "chunk_tokens" in result.stderr and "Traceback" not in result.stderr


def test_eval_on_a_small_beir_dataset(env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    (data / "qrels").mkdir(parents=True)
    docs = {
        "d1": "Insulin regulates blood glucose by promoting its uptake into cells.",
        "d2": "Photosynthesis converts light energy into chemical energy in chloroplasts.",
        "d3": "Tectonic plates move a few centimetres each year and cause earthquakes.",
    }
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs.items())
    )
    queries = {"q1": "hormone that lowers blood sugar", "q2": "how plants turn sunlight into energy"}
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries.items()))
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n")
    claims = [
        {"id": "c1", "claim": "Insulin helps cells take up glucose.", "cited_doc_ids": ["d1"],
         "evidence": {"d1": [docs["d1"]]}},
        {"id": "c2", "claim": "What is the capital of Peru?", "cited_doc_ids": ["d3"], "label": "NOINFO"},
    ]  # fmt: skip
    (data / "rag_dev_claims.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims))
    out = tmp_path / "out"
    args = ["eval", str(data), "--mode", "all", "--ann", "--rag", "--rag-k", "2", "--out", str(out), "--json"]
    result = pgseek(args, env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    rows = {row["mode"]: row for row in body["report"]["modes"]}
    assert set(rows) == {"vector", "keyword", "hybrid"}
    assert rows["vector"]["ndcg@10"] == 1.0 and rows["vector"]["queries"] == 2
    assert body["ann"]["rows"]
    assert (out / "eval-tiny.png").stat().st_size > 0 and (out / "ann-tiny.png").stat().st_size > 0
    assert json.loads((out / "eval-tiny.json").read_text())["report"]["modes"]
    rag = body["rag"]
    assert (rag["claims"], rag["refused"], rag["k"], rag["mode"]) == (2, 1, 2, "hybrid")
    assert rag["cites_gold"] == 0.5 and rag["evidence"] == 1.0 and rag["refusal_rate_by_label"]["NOINFO"] == 1.0
    assert [c["claim_id"] for c in rag["per_claim"]] == ["c1", "c2"]

    missing = pgseek(["eval", str(tmp_path), "--rag"], env)
    assert missing.returncode == 2 and "--rag-claims" in missing.stderr


def test_eval_on_an_answer_suite(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "espresso.md").write_text(
        "# Espresso\n\nEspresso is a concentrated form of coffee. A shot of espresso takes about 25 to 30 seconds "
        "to pull. Espresso is the base of drinks such as the cappuccino and the latte.\n"
    )
    records = [
        {"name": "tiny-answers", "corpus": ["espresso.md"]},
        {"id": "shot", "question": "How long does an espresso shot take?", "answers": ["25 to 30 seconds"]},
        {"id": "capsule", "question": "How long does a Nespresso capsule last?", "answerable": False},
    ]
    suite = tmp_path / "suite.jsonl"
    suite.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "out"
    result = pgseek(["eval", str(suite), "--out", str(out), "--json"], env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["suite"], body["collection"], body["answerable"], body["unanswerable"]) == (
        "tiny-answers",
        "eval-tiny-answers",
        1,
        1,
    )
    assert (body["answer_accuracy"], body["refusal_accuracy"]) == (1.0, 1.0)
    assert (out / "answers-tiny-answers.png").stat().st_size > 0
    assert json.loads((out / "answers-tiny-answers.json").read_text())["per_question"][0]["verdict"] == "correct"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answers": []}\n')
    result = pgseek(["eval", str(bad)], env)
    assert result.returncode != 0 and "bad.jsonl:1" in result.stderr and "Traceback" not in result.stderr
