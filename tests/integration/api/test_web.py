"""The web page in a real browser: headless Chromium (the Debian package, driven by Playwright; no browser download)
against a live server. Screenshots go to tests/output/."""

from __future__ import annotations

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


@pytest.fixture()
async def page(live_server: LiveServer) -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM)
        context = await browser.new_context(viewport={"width": 1100, "height": 900})
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        await tab.goto(live_server.url)
        yield tab
        await browser.close()
        assert errors == [], f"JavaScript errors on the page: {errors}"


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
    await page.wait_for_selector("#results li")
    hits = page.locator("#results li")
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
    await page.wait_for_selector("#sources li")
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
    assert await page.locator("#sources li").count() == 0
