"""``pgseek collections`` and ``pgseek documents``, run as a user runs them: subprocesses on the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_cli import env, pgseek

__all__ = ["env"]


@pytest.fixture(scope="module")
def notes(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notes")
    for i in range(3):
        (folder / f"note{i}.md").write_text(f"# Note {i}\n\nHarbour seals rest on rock number {i}.")
    for tenant in ("acme", "globex"):
        result = pgseek(["ingest", str(folder), "-c", "notes", "-t", tenant, "--json"], env)
        assert result.returncode == 0, result.stderr
    return folder.resolve()


def test_documents_list_pages_through_the_tenants_documents(env: dict[str, str], notes: Path) -> None:
    ids: list[str] = []
    after: list[str] = []
    while True:
        result = pgseek(["documents", "list", "-c", "notes", "-t", "acme", "--limit", "2", *after, "--json"], env)
        assert result.returncode == 0, result.stderr
        page = json.loads(result.stdout)
        assert page["total"] == 3
        ids += [d["id"] for d in page["documents"]]
        if page["next_after"] is None:
            break
        after = ["--after", page["next_after"]]
    assert ids == [str(notes / f"note{i}.md") for i in range(3)]
    table = pgseek(["documents", "list", "-c", "notes", "-t", "acme", "--limit", "1"], env)
    assert table.returncode == 0, table.stderr
    assert "1 of 3 documents; next page: --after" in table.stdout


def test_documents_show_and_delete_by_id(env: dict[str, str], notes: Path) -> None:
    doc_id = str(notes / "note1.md")
    shown = pgseek(["documents", "show", doc_id, "-c", "notes", "-t", "globex", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["external_id"], body["title"], body["chunks"]) == (doc_id, "Note 1", 1)
    assert "rock number 1" in body["text"]
    deleted = pgseek(["documents", "delete", doc_id, "-c", "notes", "-t", "globex"], env)
    assert deleted.returncode == 0, deleted.stderr
    again = pgseek(["documents", "show", doc_id, "-c", "notes", "-t", "globex"], env)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "no document" in again.stderr and "Traceback" not in again.stderr
    theirs = pgseek(["documents", "show", doc_id, "-c", "notes", "-t", "acme", "--json"], env)
    assert theirs.returncode == 0, theirs.stderr  # the other tenant's copy stays


def test_collections_list_show_and_delete(env: dict[str, str], notes: Path) -> None:
    listed = pgseek(["collections", "list", "-t", "acme", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    assert {c["name"]: c["documents"] for c in json.loads(listed.stdout)} == {"notes": 3}
    shown = pgseek(["collections", "show", "notes", "-t", "acme"], env)
    assert shown.returncode == 0 and "documents: 3" in shown.stdout
    refused = pgseek(["collections", "delete", "notes", "-t", "acme"], env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "documents: 3" in pgseek(["collections", "show", "notes", "-t", "acme"], env).stdout
    deleted = pgseek(["collections", "delete", "notes", "--yes", "-t", "acme", "--json"], env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"name": "notes", "documents_deleted": 3}
    gone = pgseek(["collections", "show", "notes", "-t", "acme"], env)
    assert gone.returncode == 2 and "does not exist for this tenant" in gone.stderr
    bad = pgseek(["documents", "list", "-c", "notes", "-t", "globex", "--limit", "0"], env)
    assert bad.returncode == 2 and "limit" in bad.stderr and bad.stderr.count("\n") == 1
