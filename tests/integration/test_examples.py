"""examples/: each program's own SQL joins pgseek's tables to an application table under row-level security."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgseek import Document, Seek
from pgseek.config import Settings
from pgseek.providers.local import LocalEmbedder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["psycopg2_join.py", "asyncpg_join.py", "sqlalchemy_join.py"]
PRINTER = "The office printer jams on every page and shows a paper feed error."
# The examples create this table when it is missing; the test fills it before they run, so it creates it first.
APP_TABLE = """
CREATE TABLE IF NOT EXISTS app_tickets (
    tenant_id text NOT NULL, doc_id text NOT NULL, status text NOT NULL, owner text NOT NULL,
    PRIMARY KEY (tenant_id, doc_id)
)"""
TICKETS = [
    ("acme", "acme-printer", "open", "ann"),
    ("acme", "acme-printer-old", "closed", "bob"),
    ("acme", "acme-vpn", "open", "cy"),
    # The nearest document of all to the query, open, but another tenant's: row-level security must hide it.
    ("globex", "globex-printer", "open", "dan"),
]


@pytest.fixture(scope="module")
def tickets(settings: Settings, local_embedder: LocalEmbedder, database_url: str) -> None:
    documents = {
        "acme": [
            Document("acme-printer", PRINTER.replace("office", "lobby"), title="Printer"),
            Document("acme-printer-old", PRINTER.replace("every page", "the first page"), title="Old printer"),
            Document("acme-vpn", "The VPN drops the connection every hour when laptops sleep.", title="VPN"),
        ],
        "globex": [Document("globex-printer", PRINTER, title="Printer")],
    }
    with Seek(settings, embedder=local_embedder) as seek:
        for tenant, docs in documents.items():
            report = seek.ingest_documents(docs, tenant=tenant, collection="tickets")
            assert report.documents_added == len(docs)
    with psycopg.connect(database_url) as conn:
        conn.execute(APP_TABLE)
        conn.cursor().executemany("INSERT INTO app_tickets VALUES (%s, %s, %s, %s)", TICKETS)


def _url(conninfo: str) -> str:
    """The test database as a postgresql:// URL, the form all three drivers read."""
    parts = conninfo_to_dict(conninfo)
    user = quote(str(parts.pop("user", "")))
    password = parts.pop("password", None)
    auth = f"{user}:{quote(str(password))}@" if password else f"{user}@"
    dbname = quote(str(parts.pop("dbname")))
    return f"postgresql://{auth}/{dbname}?{urlencode({k: str(v) for k, v in parts.items()})}"


def _run(example: str, database_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGSEEK_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    command = [sys.executable, str(ROOT / "examples" / example), "--url", _url(database_url), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def _hits(done: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


@pytest.mark.usefixtures("tickets")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_lists_the_tenants_open_tickets_nearest_first(
    example: str, database_url: str, settings: Settings
) -> None:
    hits = _hits(_run(example, database_url, settings.home, "--collection", "tickets", "-k", "10", "acme", PRINTER))

    assert [(doc_id, owner) for doc_id, owner, _ in hits] == [("acme-printer", "ann"), ("acme-vpn", "cy")]
    distances = [float(distance) for _, _, distance in hits]
    assert distances == sorted(distances)


@pytest.mark.usefixtures("tickets")
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_without_the_collection_says_so(example: str, database_url: str, settings: Settings) -> None:
    done = _run(example, database_url, settings.home, "--collection", "nowhere", "acme", "printer")

    assert done.returncode != 0
    assert "collection 'nowhere' has no embeddings yet" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("tickets")
def test_the_schema_page_covers_every_column_and_the_latest_migration(database_url: str) -> None:
    """docs/schema.md is the contract: a migration that adds or renames a column, or a new migration without a note,
    fails here until the page says so."""
    page = (ROOT / "docs" / "schema.md").read_text()
    with psycopg.connect(database_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name NOT IN ('app_tickets', 'pgseek_migrations') ORDER BY 1, 2"
        ).fetchall()
        version = conn.execute("SELECT max(version) FROM pgseek_migrations").fetchone()
    tables = {table for table, _ in columns}
    assert "embeddings_v1" in tables
    missing = [f"{table}.{column}" for table, column in columns if f"`{column}`" not in page]
    missing += [table for table in tables - {"embeddings_v1"} if f"`{table}" not in page]
    assert not missing, f"columns and tables missing from docs/schema.md: {missing}"
    assert version is not None
    assert f"**version {version[0]}**" in page
    assert f"- Version {version[0]}" in page
