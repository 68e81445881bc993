"""Answer passages and the answer suite end to end: real documentation excerpts (copied here), the real model and
database; the OpenAI-compatible path against a Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pgseek import Seek
from pgseek.answer.coverage import missing_terms
from pgseek.evaluate import is_answer_suite, load_answer_suite, plot_answers
from pgseek.providers.extractive import ExtractiveGenerator
from pgseek.types import Citation, Context
from tests.chat_server import ChatServer, Reply

# Node.js doc/api/cli.md and doc/api/inspector.md, Valgrind's FAQ (faq.html as text), cut short.
NODE_CLI = """# Command-line API

### `--inspect[=[host:]port]`

<!-- YAML
added: v6.3.0
-->

Activate inspector on `host:port`. Default is `127.0.0.1:9229`. If port `0` is
specified, a random available port will be used.

V8 inspector integration allows tools such as Chrome DevTools and IDEs to debug
and profile Node.js instances. The tools attach to Node.js instances via a
tcp port and communicate using the [Chrome DevTools Protocol][].
"""
NODE_INSPECTOR = """# Inspector

## `inspector.open([port[, host[, wait]]])`

* `port` {number} Port to listen on for inspector connections. Optional.
  **Default:** what was specified on the CLI.
* `host` {string} Host to listen on for inspector connections. Optional.
  **Default:** what was specified on the CLI.

Activate inspector on host and port. Equivalent to
`node --inspect=[[host:]port]`, but can be done programmatically after node has
started.
"""
VALGRIND_FAQ = """Valgrind Frequently Asked Questions

5.4. Is it possible to attach Valgrind to a program that is already running?

No. The environment that Valgrind provides for running programs is significantly different to that for normal
programs, e.g. due to different layout of memory. Therefore Valgrind has to have full control from the very start.

It is possible to achieve something like this by running your program without any instrumentation (which involves a
slow-down of about 5x, less than that of most tools), and then adding instrumentation once you get to a point of
interest.
"""
SUITE: list[dict[str, Any]] = [
    {"id": "inspect-default", "question": "What address and port does node --inspect listen on by default?",
     "answers": ["127.0.0.1:9229"], "source": "cli.md"},
    {"id": "attach", "question": "Can I attach Valgrind to a program that is already running?",
     "answers": ["full control from the very start"], "source": "faq.txt"},
    {"id": "django-pool", "question": "Which port does the Django inspector listen on by default?",
     "answerable": False},
]  # fmt: skip


def _context(*chunks: str) -> Context:
    sources = tuple(
        Citation(i, f"doc{i}", None, None, chunk, 1.0 / i, i, 0, 0, len(chunk)) for i, chunk in enumerate(chunks, 1)
    )
    return Context(sources, tokens=0, budget=2000)


def _normal(text: str) -> str:
    return " ".join(text.split())


def _assert_verbatim(answer: str, context: Context) -> None:
    """Every quoted or supporting piece of the answer is a stretch of a source's own text (whitespace aside)."""
    sources = [_normal(s.chunk) for s in context.sources]
    for piece in re.split(r"\s*\[\d+\]\s*", answer.replace("“", "").replace("”", "")):
        for sentence in re.split(r"(?<=[.!?])\s+", piece.strip()):
            if sentence:
                assert any(_normal(sentence) in s for s in sources), sentence


def test_a_default_question_gets_the_sentence_that_says_default(local_embedder: Any) -> None:
    generator = ExtractiveGenerator(local_embedder)
    context = _context(NODE_INSPECTOR, NODE_CLI)
    question = "What address and port does node --inspect listen on by default?"
    picked = generator.select(question, context)
    # The sentence that says "default" is quoted, with the neighbour that completes it (what the port 0 means).
    answer = next(p for p in picked if "Default is `127.0.0.1:9229`." in p.text)
    assert answer.marker == 2 and len(answer.texts) > 1
    assert all(p.words <= generator.passage_words for p in picked)


async def test_a_faq_question_gives_way_to_its_answer(local_embedder: Any) -> None:
    generator = ExtractiveGenerator(local_embedder)
    context = _context(VALGRIND_FAQ, NODE_CLI)
    text = "".join([p async for p in generator.generate(SUITE[1]["question"], context)])
    assert text.startswith("“No. The environment that Valgrind provides")
    assert "full control from the very start.” [1]" in text
    assert "Is it possible to attach" not in text
    _assert_verbatim(text, context)


def test_a_wall_of_text_is_not_quoted_whole(local_embedder: Any) -> None:
    clause = "the tool records each access to memory and the state of every byte of the heap and the stack"
    wall = "Memcheck instrumentation " + ";\n".join([clause] * 10) + "."
    generator = ExtractiveGenerator(local_embedder)
    picked = generator.select("What does Memcheck record about memory accesses?", _context(wall))
    assert picked and sum(p.words for p in picked) <= generator.answer_words
    assert all(p.words <= generator.passage_words for p in picked)


def test_a_near_domain_question_lacks_the_contexts_terms(local_embedder: Any) -> None:
    context = _context(NODE_CLI, NODE_INSPECTOR)
    counter = local_embedder.counter
    assert missing_terms("How do I configure database connection pooling in Django?", context, counter) != []
    assert missing_terms("What is the default max_connections setting in PostgreSQL?", context, counter) != []
    assert missing_terms(SUITE[0]["question"], context, counter) == []
    assert missing_terms("Which port does the inspector use by default?", context, counter) == []


@pytest.fixture()
def suite_file(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cli.md").write_text(NODE_CLI)
    (tmp_path / "docs" / "inspector.md").write_text(NODE_INSPECTOR)
    (tmp_path / "docs" / "faq.txt").write_text(VALGRIND_FAQ)
    path = tmp_path / "tiny-suite.jsonl"
    header = {"name": "tiny-suite", "corpus": ["docs/cli.md", "docs/inspector.md", "docs/faq.txt"]}
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *SUITE]))
    return path


def test_the_answer_suite_is_measured(settings: Any, local_embedder: Any, suite_file: Path, tmp_path: Path) -> None:
    assert is_answer_suite(suite_file)
    suite = load_answer_suite(suite_file)
    with Seek(settings, embedder=local_embedder) as seek:
        report = seek.evaluate_answers(suite, k=4)
    assert report.collection == "eval-tiny-suite" and report.ingest is not None
    assert report.ingest.documents_added == 3
    verdicts = {r.id: r.verdict for r in report.results}
    assert verdicts == {"inspect-default": "correct", "attach": "correct", "django-pool": "refused"}
    assert (report.answer_accuracy, report.refusal_accuracy) == (1.0, 1.0)
    refused = next(r for r in report.results if r.id == "django-pool")
    assert refused.refusal_reason == "missing_terms" and refused.cited == ()
    body = report.to_json()
    assert (body["answerable"], body["unanswerable"], body["false_refusals"]) == (2, 1, 0)
    assert body["per_question"][0]["text"].startswith("“")
    assert plot_answers(report, tmp_path / "answers.png").stat().st_size > 0


def _scripted_model(answers: dict[str, str]) -> Any:
    """A stand-in for a model: quotes the accepted text with the number of the source that holds it (and a marker
    that names no source), or says NO_ANSWER. It reads only what pgseek sent: the sources and the question."""

    def respond(body: dict[str, Any]) -> Reply:
        user = body["messages"][1]["content"]
        question = user.rsplit("Question:", 1)[1].strip()
        sources = dict(re.findall(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion:)", user, re.S | re.M))
        expected = answers.get(question)
        holders = [n for n, text in sources.items() if expected and expected in text]
        if not holders:
            return Reply(content="NO_ANSWER")
        return Reply(content=f"It is {expected} [{holders[0]}][9].")

    return respond


def test_the_answer_suite_through_an_openai_compatible_server(
    settings: Any, local_embedder: Any, suite_file: Path, chat_server: ChatServer
) -> None:
    suite = load_answer_suite(suite_file)
    chat_server.responder = _scripted_model({c.question: c.answers[0] for c in suite.cases if c.answerable})
    tuned = settings.model_copy(update={"generator": "openai", "openai_base_url": chat_server.url})
    with Seek(tuned, embedder=local_embedder) as seek:
        report = seek.evaluate_answers(suite, collection="tiny-openai", k=4)
    assert report.generator == "gpt-4o-mini"
    assert {r.id: r.verdict for r in report.results} == {
        "inspect-default": "correct",
        "attach": "correct",
        "django-pool": "refused",
    }
    # The near-domain question is refused before the model is asked; the others reached it with their sources.
    assert len(chat_server.requests) == 2
    assert all("[9]" not in r.text for r in report.results)  # markers that name no source are dropped
    assert all(r.cited for r in report.results if r.answerable)


async def test_a_rare_word_counts_as_held_only_where_the_tenants_collection_holds_it(
    settings: Any, local_embedder: Any
) -> None:
    """The collection check behind missing_terms: a word the context lacks is fatal only when none of the tenant's
    chunks in the collection hold it; another tenant's documents hold nothing for this one."""
    from pgseek import AsyncSeek, Document
    from pgseek.search import engine

    async with AsyncSeek(settings, embedder=local_embedder) as seek:
        await seek.ingest_documents(
            [Document("cli", NODE_CLI), Document("faq", VALGRIND_FAQ)], collection="held", tenant="nodefolk"
        )
        await seek.ingest_documents(
            [Document("django", "Django keeps database connections open with CONN_MAX_AGE, a pooling of sorts.")],
            collection="held",
            tenant="djangofolk",
        )
        pool = await seek._ready()
        words = ["valgrind", "inspector", "django", "pooling", "activation"]  # "activation": the lexeme of "Activate"
        assert await engine.collection_words(pool, "held", "nodefolk", words) == {"valgrind", "inspector"}
        assert await engine.collection_words(pool, "held", "djangofolk", words) == {"django", "pooling"}
        # Close enough to the inspector's docs to pass the similarity gate; its subject is the other tenant's.
        answer = await seek.ask(
            "Which port does the Django inspector listen on by default?", collection="held", tenant="nodefolk", k=4
        )
    assert answer.refused and answer.refusal_reason == "missing_terms"
