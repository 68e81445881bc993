"""The web page in a real browser: headless Chromium (the Debian package, driven by Playwright; no browser download)
against a live server. Screenshots go to tests/output/."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pgseek.config import Settings
from pgseek.seek import Seek
from pgseek.types import Document
from tests.integration.api.conftest import LiveServer

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: apt-get install chromium (make setup does it as root)"
)

KITES = b"# Kites\n\nA kite flies on the wind, held by a long line. Box kites lift more than flat kites."
SOURDOUGH = (
    "Sourdough bread rises slowly because wild yeast ferments the dough. Bakers feed the starter with flour and "
    "water every day. A long, cool proof gives the loaf its sour taste."
)
TEA = b"# Tea\n\nGreen tea leaves are steamed soon after picking; black tea leaves are left to oxidise."
GUIDE = """# Brewing guide

Steep **green tea** for *two minutes* in water at `80 C`.

```sh
kettle --heat 80
```

- warm the teapot
- add the tea leaves
- pour the water

More on [the tea site](https://tea.example/brew)."""
# Documents are untrusted: each of these would run script, load something or navigate if it reached the page as HTML.
TRAP = (
    "The tea trap holds <img src=x onerror=\"alert('img')\"> and <script>alert('script')</script> and "
    "<b onmouseover=\"alert('b')\">bold tea</b>; [click for tea](javascript:alert('link')) and "
    "[tea data](data:text/html,<script>alert('data')</script>) and ![tea image](javascript:alert('image'))."
)


@pytest.fixture(scope="module")
def key(live_server: LiveServer, settings: Settings, local_embedder: Any) -> str:
    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(
            [
                Document("bread", SOURDOUGH, title="Sourdough"),
                Document("tower", "The Eiffel Tower was finished in 1889. It is 330 metres tall.", title="Eiffel"),
            ],
            collection="kb",
            tenant="browser",
        )
        return seek.create_api_key("browser").key


@pytest.fixture(scope="module")
def markdown_collection(key: str, settings: Settings, local_embedder: Any) -> str:
    with Seek(settings, embedder=local_embedder) as seek:
        seek.ingest_documents(
            [Document("guide.md", GUIDE, title="Brewing", source="guide.md"), Document("trap.md", TRAP, title="Trap")],
            collection="md",
            tenant="browser",
        )
    return "md"


async def use_key(page: Any, key: str) -> None:
    await page.fill("#api-key", key)
    await page.click("#key-form button")
    await page.wait_for_function("document.querySelector('#whoami').textContent.includes('tenant browser')")


@pytest.fixture()
async def page(live_server: LiveServer) -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        context = await browser.new_context(viewport={"width": 1100, "height": 900})
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("dialog", lambda dialog: errors.append(f"a dialog opened: {dialog.message}"))
        await tab.goto(live_server.url)
        yield tab
        await browser.close()
        assert errors == [], f"JavaScript errors or dialogs on the page: {errors}"


async def test_upload_then_search_with_highlighted_matches(page: Any, key: str, output_dir: Path) -> None:
    await page.fill("#api-key", key)
    await page.click("#key-form button")
    await page.wait_for_function("document.querySelector('#whoami').textContent.includes('tenant browser')")

    await page.fill("#collection", "pages")
    await page.set_input_files(
        "#files",
        files=[
            {"name": "kites.md", "mimeType": "text/markdown", "buffer": KITES},
            {"name": "tea.md", "mimeType": "text/markdown", "buffer": TEA},
            {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 nothing"},
        ],
    )
    await page.click("#upload-form button")
    await page.wait_for_function("document.querySelector('#upload-status').textContent.includes('2 added')")
    assert "broken.pdf" in await page.inner_text("#upload-failures")

    await page.fill("#query", "how are green tea leaves processed")
    await page.select_option("#mode", "hybrid")
    await page.fill("#k", "2")
    await page.click("#search-form button")
    await page.wait_for_selector("#results > li")
    hits = page.locator("#results > li")
    assert await hits.count() == 2
    assert await hits.first.locator(".hit-title").inner_text() == "Tea"
    marked = {m.lower() for m in await hits.first.locator("mark").all_inner_texts()}
    assert {"green", "tea", "leaves"} <= marked
    assert "hybrid hits" in await page.inner_text("#search-status")
    await page.screenshot(path=str(output_dir / "web-search.png"), full_page=True)

    # The key is remembered across reloads; a bad query shows the service's own error message.
    await page.reload()
    await page.wait_for_function("document.querySelector('#whoami').textContent.includes('tenant browser')")
    await page.fill("#collection", "no-such-collection")
    await page.fill("#query", "kites")
    await page.click("#search-form button")
    await page.wait_for_function("document.querySelector('#search-status').classList.contains('error')")
    assert "no-such-collection" in await page.inner_text("#search-status")


async def test_a_wrong_key_is_reported(page: Any) -> None:
    await page.fill("#api-key", "pgseek_k000000000000_" + "x" * 43)
    await page.click("#key-form button")
    await page.wait_for_function("document.querySelector('#whoami').classList.contains('error')")
    assert "unknown or revoked" in await page.inner_text("#whoami")


async def test_api_docs_render_with_nothing_from_outside(page: Any, live_server: LiveServer, output_dir: Path) -> None:
    outside: list[str] = []

    async def only_local(route: Any) -> None:
        if route.request.url.startswith(live_server.url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_local)
    await page.goto(f"{live_server.url}/docs")
    await page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = set(await page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/v1/search", "/v1/collections", "/v1/collections/{collection}/files"} <= {p.strip() for p in paths}
    assert outside == []
    await page.screenshot(path=str(output_dir / "web-docs.png"))


async def test_ask_streams_an_answer_with_clickable_citations(page: Any, key: str, output_dir: Path) -> None:
    await page.fill("#api-key", key)
    await page.click("#key-form button")
    await page.wait_for_function("document.querySelector('#whoami').textContent.includes('tenant browser')")
    await page.wait_for_selector("#ask-section", state="visible")  # shown because the service has /v1/ask
    await page.fill("#collection", "kb")
    await page.fill("#question", "Why does sourdough bread rise?")
    await page.click("#ask-form button")
    await page.wait_for_selector("#sources > li")
    assert "wild yeast ferments the dough" in await page.inner_text("#answer")
    links = page.locator("#answer a.citation")
    assert await links.count() >= 1
    marker = await links.first.get_attribute("data-marker")
    source = page.locator(f"#source-{marker}")
    assert "Sourdough" in await source.inner_text()
    assert "selected" not in (await source.get_attribute("class") or "")
    await links.first.click()
    await page.wait_for_function(f"document.querySelector('#source-{marker}').classList.contains('selected')")
    assert "source" in await page.inner_text("#ask-status")
    await page.screenshot(path=str(output_dir / "web-ask.png"), full_page=True)

    await page.fill("#question", "How do I change a bicycle tyre?")
    await page.click("#ask-form button")
    await page.wait_for_function("document.querySelector('#ask-status').textContent.includes('do not answer')")
    assert await page.locator("#sources > li").count() == 0


# What the upload area showed, in order: each change of its phase, bar value or label, seen by a MutationObserver.
RECORD_UPLOAD = """() => {
  window.uploadSeen = [];
  const area = document.querySelector('#upload-progress');
  const note = () => window.uploadSeen.push({
    phase: area.dataset.phase || '', value: document.querySelector('#upload-bar').getAttribute('value'),
    label: document.querySelector('#upload-progress-label').textContent});
  new MutationObserver(note).observe(area, {attributes: true, childList: true, subtree: true, characterData: true});
}"""


async def test_upload_shows_progress_then_the_outcome(page: Any, key: str, output_dir: Path) -> None:
    await use_key(page, key)
    await page.fill("#collection", "progress")
    # Loopback sends megabytes in an instant; Chromium's own network throttling makes the bar's steps observable.
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * 1024 * 1024},
    )
    big = b"%PDF-1.4\n" + b"not really a pdf\n" * (6 * 1024 * 1024 // 17)
    await page.set_input_files(
        "#files",
        files=[
            {"name": "kites.md", "mimeType": "text/markdown", "buffer": KITES},
            {"name": "big.pdf", "mimeType": "application/pdf", "buffer": big},
        ],
    )
    await page.evaluate(RECORD_UPLOAD)
    await page.click("#upload-form button")
    await page.wait_for_function("document.querySelector('#upload-status').textContent.includes('1 added')")
    await page.screenshot(path=str(output_dir / "web-upload.png"), full_page=True)
    status = await page.inner_text("#upload-status")
    assert status.startswith("progress: 1 added, 0 updated, 0 unchanged, 1 failed")
    assert "big.pdf" in await page.inner_text("#upload-failures")

    seen: list[dict[str, str | None]] = await page.evaluate("window.uploadSeen")
    phases = [s["phase"] for s in seen]
    assert "uploading" in phases and "indexing" in phases and phases[-1] == "done"
    first_indexing = phases.index("indexing")
    assert "uploading" not in phases[first_indexing:], "the bar went back to uploading after all bytes were sent"
    values = [int(s["value"]) for s in seen[:first_indexing] if s["phase"] == "uploading" and s["value"]]
    assert any(0 < v < 100 for v in values), f"no intermediate step while uploading: {seen}"
    assert values == sorted(values)
    assert seen[first_indexing]["value"] is None  # indeterminate: the service reports no progress while indexing
    assert "indexing" in str(seen[first_indexing]["label"])
    assert any("%" in str(s["label"]) and "MB" in str(s["label"]) for s in seen)
    assert await page.get_attribute("#upload-bar", "value") == "100"
    assert not await page.is_disabled("#upload-form button")

    # The uploaded file is the hit's source; a file without pages gets no page label.
    await page.fill("#query", "kites on the wind")
    await page.click("#search-form button")
    await page.wait_for_selector("#results > li")
    assert await page.locator("#results > li .hit-source").first.inner_text() == "kites.md"


async def test_an_upload_error_is_one_readable_line(page: Any, key: str) -> None:
    await use_key(page, key)
    await page.fill("#collection", "c" * 201)
    await page.set_input_files("#files", files=[{"name": "kites.md", "mimeType": "text/markdown", "buffer": KITES}])
    await page.click("#upload-form button")
    await page.wait_for_function("document.querySelector('#upload-status').classList.contains('error')")
    message = await page.inner_text("#upload-status")
    assert "collection" in message and "200" in message
    assert "{" not in message and "\n" not in message
    assert await page.is_hidden("#upload-progress")


async def test_page_labels(page: Any) -> None:
    labels = await page.evaluate(
        """[sourceLabel({source: 'r.pdf', page: 12, page_end: 13}), sourceLabel({source: 'r.pdf', page: 12,
        page_end: 12}), sourceLabel({source: 'r.pdf', page: 3, page_end: null}), sourceLabel({source: 'a.md',
        page: null, page_end: null}), sourceLabel({source: 'a.md'}), sourceLabel({source: null, page: 4})]"""
    )
    assert labels == ["r.pdf pp. 12–13", "r.pdf p. 12", "r.pdf p. 3", "a.md", "a.md", "p. 4"]


async def test_markdown_is_rendered_and_document_html_stays_inert(
    page: Any, key: str, markdown_collection: str, output_dir: Path
) -> None:
    await use_key(page, key)
    await page.fill("#collection", markdown_collection)
    await page.fill("#query", "tea")
    await page.select_option("#mode", "keyword")
    await page.click("#search-form button")
    await page.wait_for_function("document.querySelectorAll('#results > li').length === 2")

    guide = page.locator("#results > li", has_text="Brewing guide")
    assert await guide.locator(".chunk h1").inner_text() == "Brewing guide"
    assert await guide.locator(".chunk pre code").inner_text() == "kettle --heat 80"
    steps = await guide.locator(".chunk ul li").all_inner_texts()
    assert steps == ["warm the teapot", "add the tea leaves", "pour the water"]
    assert await guide.locator(".chunk strong").inner_text() == "green tea"
    assert await guide.locator(".chunk em").inner_text() == "two minutes"
    assert await guide.locator(".chunk p code").inner_text() == "80 C"
    assert await guide.locator(".chunk a").get_attribute("href") == "https://tea.example/brew"
    assert await guide.locator(".chunk strong mark").inner_text() == "tea"  # highlighting inside rendered Markdown

    trap = page.locator("#results > li", has_text="tea trap")
    text = await trap.locator(".chunk").inner_text()
    assert "<img src=x onerror=" in text and "<script>alert('script')</script>" in text  # shown, as text
    assert await page.locator("#results img, #results script, #results b, #results [onerror]").count() == 0
    hrefs = await page.locator("#results a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://tea.example/brew"]
    await trap.get_by_text("click for tea").click()
    await trap.get_by_text("bold tea").hover()
    await page.screenshot(path=str(output_dir / "web-markdown.png"), full_page=True)

    # The answer is Markdown too, made of the same untrusted chunks.
    await page.fill("#question", "What does the tea trap hold?")
    await page.click("#ask-form button")
    await page.wait_for_function("document.querySelector('#ask-status').textContent.includes('source')")
    assert "onerror" in await page.inner_text("#answer")
    assert await page.locator("#answer-panel img, #answer-panel script, #answer-panel b").count() == 0
    answer_hrefs = await page.locator("#answer a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert answer_hrefs and all(h.startswith("#source-") for h in answer_hrefs)


async def test_the_answer_sits_above_the_results(page: Any, key: str, output_dir: Path) -> None:
    await use_key(page, key)
    await page.fill("#collection", "kb")
    await page.fill("#query", "sourdough bread")
    await page.click("#search-form button")
    await page.wait_for_selector("#results > li")
    assert await page.is_hidden("#answer-panel")
    await page.fill("#question", "Why does sourdough bread rise?")
    await page.click("#ask-form button")
    await page.wait_for_selector("#sources > li")
    answer = await page.locator("#answer").bounding_box()
    sources = await page.locator("#sources").bounding_box()
    results = await page.locator("#results").bounding_box()
    assert answer and sources and results
    assert answer["y"] + answer["height"] <= sources["y"] <= sources["y"] + sources["height"] <= results["y"]
    assert await page.locator("#results > li").count() >= 1
    await page.screenshot(path=str(output_dir / "web-answer-above-results.png"), full_page=True)


async def test_another_collection_clears_the_page_and_late_responses_never_land(
    page: Any, key: str, markdown_collection: str
) -> None:
    await use_key(page, key)
    await page.fill("#collection", "kb")
    await page.fill("#query", "sourdough bread")
    await page.click("#search-form button")
    await page.wait_for_selector("#results > li")
    await page.fill("#question", "Why does sourdough bread rise?")
    await page.click("#ask-form button")
    await page.wait_for_selector("#sources > li")

    await page.fill("#collection", markdown_collection)
    assert await page.locator("#results > li").count() == 0
    assert await page.inner_text("#search-status") == ""
    assert await page.is_hidden("#answer-panel")
    assert await page.locator("#answer > *, #sources > li").count() == 0

    # An error of the previous collection goes too.
    await page.fill("#collection", "no-such-collection")
    await page.click("#search-form button")
    await page.wait_for_function("document.querySelector('#search-status').classList.contains('error')")
    await page.fill("#collection", "kb")
    assert await page.inner_text("#search-status") == ""

    # Requests held at the network until the collection has changed: their real responses come back too late.
    held: list[Any] = []
    arrived = asyncio.Event()
    release = asyncio.Event()
    landed: list[str] = []

    async def hold(route: Any) -> None:
        response = await route.fetch()
        held.append(route)
        if len(held) == 2:
            arrived.set()
        await release.wait()
        try:
            await route.fulfill(response=response)
            landed.append(route.request.url)
        except Exception:  # the page cancelled the request: Playwright cannot fulfil it any more
            pass

    aborted: list[str] = []
    page.on("requestfailed", lambda request: aborted.append(request.url))
    await page.route("**/v1/search", hold)
    await page.route("**/v1/ask", hold)
    await page.click("#search-form button")
    await page.click("#ask-form button")
    await asyncio.wait_for(arrived.wait(), timeout=60)
    await page.fill("#collection", markdown_collection)
    release.set()
    await page.unroute("**/v1/search")
    await page.unroute("**/v1/ask")
    # Whatever the network still delivers has had its chance to render once the page has handled a round trip.
    await page.evaluate("() => fetch('/healthz').then(() => new Promise((r) => setTimeout(r, 100)))")
    assert await page.locator("#results > li").count() == 0
    assert await page.is_hidden("#answer-panel")
    assert await page.inner_text("#search-status") == ""
    assert sorted(url.rsplit("/", 1)[-1] for url in aborted) == ["ask", "search"]

    # The new collection searches normally.
    await page.fill("#query", "tea")
    await page.click("#search-form button")
    await page.wait_for_selector("#results > li")
    assert "tea" in (await page.inner_text("#results")).lower()
