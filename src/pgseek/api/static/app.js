// pgseek's web page: search, ask (streamed, with clickable citations) and upload, over the /v1 API.
// Plain DOM code: every text from the server goes in through textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "pgseek.apiKey";
const STOP_WORDS = new Set("a an and are as at be by do does for from how in is it of on or the to was what when where which who why with".split(" "));

function apiKey() { return localStorage.getItem(KEY_STORAGE) || ""; }
function collection() { return $("collection").value.trim() || "default"; }

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

// The service's errors all read {"error": {"code", "message", "field"}}.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error.field ? `${body.error.message} (${body.error.field})` : body.error.message;
  } catch (_) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.status === 204 ? null : response.json();
}

function setStatus(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

// --- key and collections -----------------------------------------------------------------------------------------

async function refreshIdentity() {
  if (!apiKey()) { setStatus($("whoami"), "no key yet: pgseek keys create --tenant T"); return; }
  try {
    const me = await api("/v1/whoami");
    setStatus($("whoami"), `tenant ${me.tenant} (key ${me.key_id})`);
    await refreshCollections();
  } catch (err) {
    setStatus($("whoami"), err.message, true);
  }
}

async function refreshCollections() {
  const { collections } = await api("/v1/collections");
  const list = $("collections");
  list.replaceChildren(...collections.map((c) => {
    const option = document.createElement("option");
    option.value = c.name;
    option.label = `${c.documents} documents`;
    return option;
  }));
  const current = collections.find((c) => c.name === collection());
  $("collection-stats").textContent = current
    ? `${current.documents} documents, ${current.chunks} chunks, ${current.model || "no model yet"}`
    : "";
}

// --- highlighting ------------------------------------------------------------------------------------------------

function queryTerms(query) {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  // A word's stem-ish prefix, so that "rockets" also marks "rocket" (keyword search stems the same way).
  return [...new Set(words.filter((w) => w.length > 1 && !STOP_WORDS.has(w))
    .map((w) => (w.length > 5 ? w.slice(0, w.length - 2) : w)))];
}

function escapeRegExp(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// The text as nodes, with each occurrence of a query term wrapped in <mark>.
function highlighted(text, terms) {
  const fragment = document.createDocumentFragment();
  if (!terms.length) { fragment.append(text); return fragment; }
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${terms.map(escapeRegExp).join("|")})[\\p{L}\\p{N}]*`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    fragment.append(text.slice(last, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    fragment.append(mark);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- search ------------------------------------------------------------------------------------------------------

function renderHit(hit, terms) {
  const item = element("li", "hit");
  const head = element("div", "hit-head");
  head.append(element("span", "score", hit.score.toFixed(3)), element("span", "hit-title", hit.title || hit.document_id));
  if (hit.source) head.append(element("span", "muted", hit.source));
  const legs = Object.entries(hit.legs || {}).map(([name, leg]) => `${name} #${leg.rank} (${leg.score.toFixed(3)})`);
  if (legs.length) head.append(element("span", "muted legs", legs.join(", ")));
  const chunk = element("p", "chunk");
  chunk.append(highlighted(hit.chunk, terms));
  item.append(head, chunk);
  return item;
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value;
  const status = $("search-status");
  setStatus(status, "searching…");
  try {
    const result = await api("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query, mode: $("mode").value, k: Number($("k").value) || 10, collection: collection() }),
    });
    const terms = queryTerms(query);
    $("results").replaceChildren(...result.hits.map((hit) => renderHit(hit, terms)));
    const t = result.timings_ms;
    setStatus(status, `${result.hits.length} ${result.mode} hits in ${t.total.toFixed(1)} ms ` +
      `(embed ${t.embed.toFixed(1)}, search ${t.search.toFixed(1)})`);
  } catch (err) {
    $("results").replaceChildren();
    setStatus(status, err.message, true);
  }
}

// --- ask (shown when the service has /v1/ask) --------------------------------------------------------------------

// Server-sent events from a fetch body: yields {event, data} for each "event: / data:" block.
async function* serverSentEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event: name, data: JSON.parse(data.join("\n")) };
    }
  }
}

function selectSource(marker) {
  for (const item of $("sources").children) item.classList.toggle("selected", item.dataset.marker === String(marker));
  const target = document.getElementById(`source-${marker}`);
  if (target) target.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

// The answer's [n] markers become links to source n.
function renderAnswer(text, markers) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    if (!markers.has(Number(match[1]))) continue;
    fragment.append(text.slice(last, match.index));
    const link = element("a", "citation", match[0]);
    link.href = `#source-${match[1]}`;
    link.dataset.marker = match[1];
    link.addEventListener("click", (e) => { e.preventDefault(); selectSource(match[1]); });
    fragment.append(link);
    last = match.index + match[0].length;
  }
  fragment.append(text.slice(last));
  $("answer").replaceChildren(fragment);
}

function renderSources(citations) {
  $("sources").replaceChildren(...citations.map((c) => {
    const item = element("li", "source");
    item.id = `source-${c.marker}`;
    item.dataset.marker = String(c.marker);
    const head = element("div", "hit-head");
    head.append(element("span", "score", `[${c.marker}]`), element("span", "hit-title", c.title || c.document_id));
    if (c.source) head.append(element("span", "muted", c.source));
    item.append(head, element("p", "chunk", c.chunk));
    return item;
  }));
}

async function ask(event) {
  event.preventDefault();
  const status = $("ask-status");
  $("answer").textContent = "";
  $("sources").replaceChildren();
  setStatus(status, "thinking…");
  try {
    const response = await fetch("/v1/ask", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ question: $("question").value, collection: collection() }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    let text = "";
    for await (const { event: name, data } of serverSentEvents(response)) {
      if (name === "delta") {
        text += data.text;
        $("answer").textContent = text;
      } else if (name === "answer") {
        renderSources(data.citations);
        renderAnswer(data.answer, new Set(data.citations.map((c) => c.marker)));
        setStatus(status, data.refused ? "the documents do not answer this" :
          `${data.citations.length} source${data.citations.length === 1 ? "" : "s"}, ` +
          `${data.timings_ms.total.toFixed(0)} ms (${data.model})`);
      } else if (name === "error") {
        throw new Error(data.error.message);
      }
    }
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

// --- upload ------------------------------------------------------------------------------------------------------

async function upload(event) {
  event.preventDefault();
  const files = $("files").files;
  const status = $("upload-status");
  if (!files.length) { setStatus(status, "choose files first", true); return; }
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  setStatus(status, `uploading ${files.length} file(s)…`);
  try {
    const report = await api(`/v1/collections/${encodeURIComponent(collection())}/files`, { method: "POST", body: form });
    setStatus(status, `${report.documents_added} added, ${report.documents_updated} updated, ` +
      `${report.documents_unchanged} unchanged, ${report.documents_failed} failed; ${report.chunks_embedded} chunks`);
    $("upload-failures").replaceChildren(...report.failures.map((f) => element("li", "error", `${f.path}: ${f.error}`)));
    await refreshCollections();
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

// --- start -------------------------------------------------------------------------------------------------------

async function enableAsk() {
  try {
    const spec = await (await fetch("/openapi.json")).json();
    $("ask-section").hidden = !(spec.paths && spec.paths["/v1/ask"]);
  } catch (_) { /* no spec, no ask box */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    refreshIdentity();
  });
  $("collection").addEventListener("change", () => refreshCollections().catch(() => {}));
  $("search-form").addEventListener("submit", search);
  $("ask-form").addEventListener("submit", ask);
  $("upload-form").addEventListener("submit", upload);
  enableAsk();
  refreshIdentity();
});
