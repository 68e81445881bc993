"""``pgseek ask`` run as a user runs it: a subprocess, the real database and model, and for the OpenAI-compatible
generator a real Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chat_server import ChatServer, Reply
from tests.integration.test_cli import pgseek

RECORDS = [
    {"id": "kettle", "title": "Kettle manual", "text": "Descale the kettle every month with white vinegar. "
     "Fill it halfway, boil, and let it stand for an hour before rinsing."},
    {"id": "bike", "title": "Bike care", "text": "Oil the bike chain every 300 kilometres. "
     "Wipe off the excess oil so that the chain does not collect dirt."},
]  # fmt: skip
QUESTION = "How often should I oil my bike chain?"


@pytest.fixture(scope="module")
def env(database_url: str, pgseek_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    settings = {
        "PGSEEK_DATABASE_URL": database_url,
        "PGSEEK_HOME": str(pgseek_home),
        "HF_HUB_OFFLINE": "1",
        "PGSEEK_COLLECTION": "manuals",
    }
    corpus = tmp_path_factory.mktemp("manuals") / "manuals.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    result = pgseek(["ingest", str(corpus), "--json"], settings)
    assert result.returncode == 0, result.stderr
    return settings


def test_ask_json(env: dict[str, str]) -> None:
    result = pgseek(["ask", QUESTION, "--json"], env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"answer", "citations", "refused", "timings_ms", "model"}
    assert body["answer"].startswith("“Oil the bike chain every 300 kilometres.” [1]")  # the quoted answer first
    assert body["refused"] is False and body["model"].startswith("extractive")
    (citation, *_) = body["citations"]
    assert set(citation) == {"marker", "document_id", "title", "source", "chunk", "score", "page", "page_end"}
    assert citation["marker"] == 1 and citation["document_id"] == "bike" and citation["title"] == "Bike care"
    assert citation["chunk"] == RECORDS[1]["text"]
    assert set(body["timings_ms"]) == {"embed", "search", "generate", "total", "load"}


def test_ask_prints_the_answer_and_its_sources(env: dict[str, str]) -> None:
    result = pgseek(["ask", QUESTION, "-k", "2", "--mode", "vector", "--no-stream"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("“Oil the bike chain every 300 kilometres.” [1]")
    assert "Sources:" in lines and any(line.startswith("[1] Bike care") for line in lines)


def test_ask_refuses_when_the_documents_do_not_answer(env: dict[str, str]) -> None:
    result = pgseek(["ask", "What is the population of Brazil?", "--json"], env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["refused"] is True and body["citations"] == []
    assert body["answer"] == "The documents do not answer this question."


def test_ask_streams_from_an_openai_compatible_server(env: dict[str, str], chat_server: ChatServer) -> None:
    chat_server.queue(Reply(content="Every 300 kilometres [1], then wipe it [1][4]."))
    openai = {**env, "PGSEEK_GENERATOR": "openai", "PGSEEK_OPENAI_BASE_URL": chat_server.url}
    options = ["--stream", "--openai-model", "local-llama", "--openai-api-key", "sk-cli", "--temperature", "0.5"]
    result = pgseek(["ask", QUESTION, *options], openai)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Every 300 kilometres [1], then wipe it [1][4].\n")  # as streamed
    assert "[1] Bike care" in result.stdout and "local-llama" in result.stdout
    assert "dropped [4]" in result.stderr
    request = chat_server.requests[0]
    assert request.body["stream"] is True and request.body["model"] == "local-llama"
    assert request.body["temperature"] == 0.5
    assert request.headers["authorization"] == "Bearer sk-cli"


def test_ask_reports_a_failing_model_in_one_line(env: dict[str, str], chat_server: ChatServer) -> None:
    chat_server.default = Reply(status=503)
    failing = {
        **env,
        "PGSEEK_GENERATOR": "openai",
        "PGSEEK_OPENAI_BASE_URL": chat_server.url,
        "PGSEEK_OPENAI_MAX_RETRIES": "1",
        "PGSEEK_OPENAI_BACKOFF_BASE": "0.01",
    }
    result = pgseek(["ask", QUESTION], failing)
    assert result.returncode == 2
    assert "HTTP 503" in result.stderr and "2 attempts" in result.stderr and "Traceback" not in result.stderr
    assert len(chat_server.requests) == 2


def test_ask_configuration_errors(env: dict[str, str]) -> None:
    bad = pgseek(["ask", QUESTION, "--generator", "gpt"], env)
    assert bad.returncode == 2 and "generator" in bad.stderr and "Traceback" not in bad.stderr
    url = pgseek(["ask", QUESTION, "--generator", "openai", "--openai-base-url", "localhost:8000"], env)
    assert url.returncode == 2 and "PGSEEK_OPENAI_BASE_URL" in url.stderr
    no_key = pgseek(["ask", QUESTION, "--generator", "openai"], {**env, "PGSEEK_OPENAI_API_KEY": ""})
    assert no_key.returncode == 2 and "PGSEEK_OPENAI_API_KEY" in no_key.stderr
