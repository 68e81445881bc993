"""Segmentation into quotable units on real documentation excerpts (copied here): Markdown prose, lists, code and
change-log comments, Valgrind's HTML FAQ as text, and PDF text that lost its punctuation."""

from __future__ import annotations

from pgseek.sentences import sentence_spans, unit_spans

# Node.js's doc/api/cli.md, "--inspect[=[host:]port]" and "--unhandled-rejections=mode".
NODE_CLI = """<!-- YAML
added: v6.3.0
-->

Activate inspector on `host:port`. Default is `127.0.0.1:9229`. If port `0` is
specified, a random available port will be used.

Using this flag allows to change what should happen when an unhandled rejection
occurs. One of the following modes can be chosen:

* `throw`: Emit [`unhandledRejection`][]. If this hook is not set, raise the
  unhandled rejection as an uncaught exception. This is the default.
* `strict`: Raise the unhandled rejection as an uncaught exception. If the
  exception is handled, [`unhandledRejection`][] is emitted.

```console
$ node inspect myscript.js
< Debugger listening on ws://127.0.0.1:9229/621111f9-ffcb-4e82-b718-48a145fa5db8
```

On Windows, the result can be overridden by `TEMP` and `TMP` environment variables, and
`TEMP` takes precedence over `TMP`.
"""

# Valgrind's FAQ (faq.html) as the HTML loader renders it.
VALGRIND_FAQ = """5.4. Is it possible to attach Valgrind to a program that is already running?

No. The environment that Valgrind provides for running programs is significantly different to that for normal
programs, e.g. due to different layout of memory. Therefore Valgrind has to have full control from the very start."""


def _units(text: str) -> list[str]:
    return [text[start:end] for start, end in unit_spans(text)]


def test_markdown_units_keep_addresses_bullets_and_code_lines_whole() -> None:
    units = _units(NODE_CLI)
    assert units[:3] == [
        "Activate inspector on `host:port`.",
        "Default is `127.0.0.1:9229`.",
        "If port `0` is\nspecified, a random available port will be used.",
    ]
    # A bullet starts a unit; its sentences are units of their own.
    assert "* `throw`: Emit [`unhandledRejection`][]." in units
    assert "This is the default." in units
    assert "* `strict`: Raise the unhandled rejection as an uncaught exception." in units
    # Code lines whole, fences left out; the YAML change log is not text.
    assert "$ node inspect myscript.js" in units
    assert "< Debugger listening on ws://127.0.0.1:9229/621111f9-ffcb-4e82-b718-48a145fa5db8" in units
    assert not any("```" in u or "YAML" in u or "added:" in u for u in units)
    assert units[-1].startswith("On Windows") and units[-1].endswith("`TEMP` takes precedence over `TMP`.")
    # A sentence may open with inline code.
    text = "Returns the default directory for temporary files. `TEMP` takes precedence over `TMP`."
    assert [text[s:e] for s, e in sentence_spans(text)][1] == "`TEMP` takes precedence over `TMP`."


def test_abbreviations_do_not_end_sentences() -> None:
    units = _units(VALGRIND_FAQ)
    assert units[0] == "5.4. Is it possible to attach Valgrind to a program that is already running?"
    assert units[1] == "No."
    assert units[2].startswith("The environment") and units[2].endswith("layout of memory.")
    text = "Use a suppression, e.g. Memcheck's default one. It works, i.e. Valgrind stays quiet. Done now."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Use a suppression, e.g. Memcheck's default one.",
        "It works, i.e. Valgrind stays quiet.",
        "Done now.",
    ]


def test_a_wall_of_pdf_text_is_cut_at_clause_boundaries() -> None:
    line = "the tool records each access to memory and the state of every byte in the heap and on the stack"
    wall = ";\n".join([line] * 8) + "."
    units = _units(wall)
    assert len(units) > 1
    assert all(len(u.split()) <= 60 for u in units)
    assert "".join(units).replace(" ", "") == wall.replace(";\n", ";").replace(" ", "")
