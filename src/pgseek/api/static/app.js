// pgseek's web page: search, ask (streamed, with clickable citations) and upload (with progress), over the /v1 API.
// Plain DOM code: every text from the server goes in as text nodes (Markdown too, below), never through innerHTML.
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

// The service's errors all read {"error": {"code", "message", "field"}}: one line, naming the field once.
function errorLine(bodyText, status, statusText) {
  try {
    const { error } = JSON.parse(bodyText);
    if (error && error.message) {
      return error.field && !error.message.startsWith(error.field) ? `${error.message} (${error.field})` : error.message;
    }
  } catch (_) { /* not JSON */ }
  return `${status} ${statusText || "error"}`.trim();
}

async function errorMessage(response) {
  return errorLine(await response.text(), response.status, response.statusText);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.status === 204 ? null : response.json();
}

function plural(count, noun) { return `${count} ${noun}${count === 1 ? "" : "s"}`; }

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
    option.label = plural(c.documents, "document");
    return option;
  }));
  const current = collections.find((c) => c.name === collection());
  $("collection-stats").textContent = current
    ? `${plural(current.documents, "document")}, ${plural(current.chunks, "chunk")}, ${current.model || "no model yet"}`
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

// --- Markdown ----------------------------------------------------------------------------------------------------
// Documents are untrusted, and so is an answer made from them. This renderer builds DOM nodes and puts every piece
// of text in as a text node: no document text is ever parsed as HTML (a "<img onerror=…>" in a chunk shows as those
// characters), and a link keeps its target only when it is an absolute http(s) or mailto URL.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

// As CommonMark has it, a numbered line interrupts a paragraph only as "1." ("in 1889. It was…" stays prose).
function interruptsParagraph(line) {
  const item = ITEM.exec(line);
  return item ? !/\d/.test(item[2]) || parseInt(item[2], 10) === 1 : startsBlock(line);
}

// The URL a link may point to, or null: relative paths, javascript:, data: and anything unparsable are dropped.
function safeHref(raw) {
  try {
    const url = new URL(raw);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch (_) {
    return null;
  }
}

// Inline spans, earliest first: escape, code, image or link, autolink, strong, emphasis.
const INLINE = new RegExp([
  String.raw`\\([!-\/:-@\[-\x60{-~])`,
  String.raw`(\x60+)([^\x60]|[\s\S]*?[^\x60])\2(?!\x60)`,
  String.raw`(!?)\[((?:[^\[\]\\]|\\.)*)\]\(\s*<?([^\s<>()]*(?:\([^\s<>()]*\)[^\s<>()]*)*)>?(?:\s+"[^"]*")?\s*\)`,
  String.raw`<((?:https?:\/\/|mailto:)[^\s<>]+)>`,
  String.raw`(\*\*|__)(?=\S)([\s\S]*?\S)\8`,
  String.raw`(?<![\p{L}\p{N}\\])([*_])(?=[^\s*_])([\s\S]*?[^\s\\])\10(?![\p{L}\p{N}])`,
].join("|"), "gu");

// `text(string, inCode)` turns a run of plain text into nodes (highlighting, citation links); code passes inCode.
function renderInline(source, text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const m of source.matchAll(INLINE)) {
    if (m.index > last) fragment.append(text(source.slice(last, m.index), false));
    last = m.index + m[0].length;
    if (m[1] !== undefined) {
      fragment.append(text(m[1], false));
    } else if (m[2] !== undefined) {
      const code = document.createElement("code");
      code.append(text(m[3], true));
      fragment.append(code);
    } else if (m[5] !== undefined) {
      const href = safeHref(m[6]);
      const label = renderInline(m[5] || m[6], text);
      if (href && !m[4]) {  // images are shown as their alt text: nothing is fetched for a document
        const link = document.createElement("a");
        link.href = href;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        link.append(label);
        fragment.append(link);
      } else {
        fragment.append(label);
      }
    } else if (m[7] !== undefined) {
      const link = document.createElement("a");
      const href = safeHref(m[7]);
      if (href) { link.href = href; link.rel = "noopener noreferrer nofollow"; link.target = "_blank"; }
      link.append(text(m[7], false));
      fragment.append(href ? link : text(m[0], false));
    } else if (m[8] !== undefined) {
      const strong = document.createElement("strong");
      strong.append(renderInline(m[9], text));
      fragment.append(strong);
    } else {
      const em = document.createElement("em");
      em.append(renderInline(m[11], text));
      fragment.append(em);
    }
  }
  if (last < source.length) fragment.append(text(source.slice(last), false));
  return fragment;
}

function block(tag, source, text) {
  const node = document.createElement(tag);
  node.append(renderInline(source, text));
  return node;
}

// A list starting at lines[start]: its items, each rendered as blocks of its own (so lists nest), and where it ends.
function renderList(lines, start, text) {
  const first = ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = document.createElement(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const line = lines[i];
    const item = ITEM.exec(line);
    if (item && item[1].length <= first[1].length && /\d/.test(item[2]) === ordered) {
      items.push([item[3] || ""]);
    } else if (item && item[1].length <= first[1].length) {
      break;  // the other kind of list starts
    } else if (!line.trim()) {
      const next = lines[i + 1];
      if (next === undefined || !(/^\s{2,}\S/.test(next) || (ITEM.exec(next) || [])[1] === first[1])) break;
      items[items.length - 1].push("");
    } else if (/^\s{2,}/.test(line)) {
      items[items.length - 1].push(line.replace(/^\s{2,4}/, ""));
    } else if (startsBlock(line)) {
      break;
    } else {
      items[items.length - 1].push(line.trim());  // a lazy continuation of the item's paragraph
    }
    i += 1;
  }
  for (const content of items) {
    while (content.length > 1 && !content[content.length - 1].trim()) content.pop();
    const li = document.createElement("li");
    const tight = !content.some((l) => !l.trim()) && !content.slice(1).some(startsBlock);
    li.append(tight ? renderInline(content.join("\n"), text) : renderMarkdown(content.join("\n"), text));
    list.append(li);
  }
  return [list, i];
}

function renderMarkdown(source, text) {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = FENCE.exec(line))) {
      const body = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(m[1]); i += 1) body.push(lines[i]);
      i += 1;  // the closing fence; a chunk may end inside a code block, and then the block runs to its end
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (m[2]) code.dataset.language = m[2];
      code.append(text(body.join("\n"), true));
      pre.append(code);
      fragment.append(pre);
    } else if ((m = HEADING.exec(line))) {
      fragment.append(block(`h${m[1].length}`, m[2] || "", text));
      i += 1;
    } else if (RULE.test(line)) {
      fragment.append(document.createElement("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && (m = QUOTE.exec(lines[i])); i += 1) body.push(m[1]);
      const quote = document.createElement("blockquote");
      quote.append(renderMarkdown(body.join("\n"), text));
      fragment.append(quote);
    } else if (ITEM.test(line)) {
      let list;
      [list, i] = renderList(lines, i, text);
      fragment.append(list);
    } else {
      const body = [line];
      for (i += 1; i < lines.length && lines[i].trim() && !interruptsParagraph(lines[i]); i += 1) body.push(lines[i]);
      fragment.append(block("p", body.join("\n"), text));
    }
  }
  return fragment;
}

// --- sources -----------------------------------------------------------------------------------------------------

// "p. 12" or "pp. 12–13" for a hit or citation that knows its pages (PDFs), else "".
function pageLabel(item) {
  if (item.page === null || item.page === undefined) return "";
  const end = item.page_end;
  return end !== null && end !== undefined && end !== item.page ? `pp. ${item.page}–${end}` : `p. ${item.page}`;
}

// Where a hit or citation comes from: its source (file name), with its pages when it has them.
function sourceLabel(item) {
  return [item.source, pageLabel(item)].filter(Boolean).join(" ");
}

function sourceHead(item, first) {
  const head = element("div", "hit-head");
  head.append(element("span", "score", first), element("span", "hit-title", item.title || item.document_id));
  const where = sourceLabel(item);
  if (where) head.append(element("span", "muted hit-source", where));
  return head;
}

// --- requests of the current collection --------------------------------------------------------------------------

// The search and the answer in flight, each with its AbortController: a new request of the same kind, or another
// collection, cancels the old one, so that a late response never lands on the page.
const inFlight = { search: null, ask: null };

function begin(kind) {
  if (inFlight[kind]) inFlight[kind].abort();
  inFlight[kind] = new AbortController();
  return inFlight[kind].signal;
}

function isAbort(err) { return err && err.name === "AbortError"; }

let shownCollection = null;

// Another collection: what the page shows of the previous one (hits, answer, sources, errors) goes, with its requests.
function collectionChanged() {
  if (collection() === shownCollection) return;
  shownCollection = collection();
  for (const kind of Object.keys(inFlight)) {
    if (inFlight[kind]) inFlight[kind].abort();
    inFlight[kind] = null;
  }
  $("results").replaceChildren();
  setStatus($("search-status"), "");
  $("answer").replaceChildren();
  $("sources").replaceChildren();
  setStatus($("ask-status"), "");
  $("answer-panel").hidden = true;
  if (!uploading) {
    setStatus($("upload-status"), "");
    $("upload-failures").replaceChildren();
    $("upload-progress").hidden = true;
  }
  $("collection-stats").textContent = "";
}

// --- search ------------------------------------------------------------------------------------------------------

function renderHit(hit, terms) {
  const item = element("li", "hit");
  const head = sourceHead(hit, hit.score.toFixed(3));
  const legs = Object.entries(hit.legs || {}).map(([name, leg]) => `${name} #${leg.rank} (${leg.score.toFixed(3)})`);
  if (legs.length) head.append(element("span", "muted legs", legs.join(", ")));
  const chunk = element("div", "chunk md");
  chunk.append(renderMarkdown(hit.chunk, (text) => highlighted(text, terms)));
  item.append(head, chunk);
  return item;
}

async function search(event) {
  event.preventDefault();
  collectionChanged();
  const query = $("query").value;
  const status = $("search-status");
  const signal = begin("search");
  setStatus(status, "searching…");
  try {
    const result = await api("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ query, mode: $("mode").value, k: Number($("k").value) || 10, collection: collection() }),
      signal,
    });
    if (signal.aborted) return;
    const terms = queryTerms(query);
    $("results").replaceChildren(...result.hits.map((hit) => renderHit(hit, terms)));
    const t = result.timings_ms;
    setStatus(status, `${result.hits.length} ${result.mode} hits in ${t.total.toFixed(1)} ms ` +
      `(embed ${t.embed.toFixed(1)}, search ${t.search.toFixed(1)})`);
  } catch (err) {
    if (isAbort(err) || signal.aborted) return;
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

// Plain text with its [n] markers as links to source n (outside code, where "[1]" is just code).
function citationLinks(text, markers, inCode) {
  const fragment = document.createDocumentFragment();
  if (inCode) { fragment.append(text); return fragment; }
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
  return fragment;
}

// The answer as Markdown; while it streams no marker is known yet, and they become links with the final event.
function renderAnswer(text, markers = new Set()) {
  $("answer").replaceChildren(renderMarkdown(text, (run, inCode) => citationLinks(run, markers, inCode)));
}

function renderSources(citations) {
  $("sources").replaceChildren(...citations.map((c) => {
    const item = element("li", "source");
    item.id = `source-${c.marker}`;
    item.dataset.marker = String(c.marker);
    const chunk = element("div", "chunk md");
    chunk.append(renderMarkdown(c.chunk, (text) => document.createTextNode(text)));
    item.append(sourceHead(c, `[${c.marker}]`), chunk);
    return item;
  }));
}

async function ask(event) {
  event.preventDefault();
  collectionChanged();
  const status = $("ask-status");
  const signal = begin("ask");
  $("answer-panel").hidden = false;
  $("answer").replaceChildren();
  $("sources").replaceChildren();
  setStatus(status, "thinking…");
  try {
    const response = await fetch("/v1/ask", {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ question: $("question").value, collection: collection() }),
      signal,
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    let text = "";
    for await (const { event: name, data } of serverSentEvents(response)) {
      if (signal.aborted) return;
      if (name === "delta") {
        text += data.text;
        renderAnswer(text);
      } else if (name === "answer") {
        renderSources(data.citations);
        renderAnswer(data.answer, new Set(data.citations.map((c) => c.marker)));
        setStatus(status, data.refused ? "the documents do not answer this" :
          `${plural(data.citations.length, "source")}, ` +
          `${data.timings_ms.total.toFixed(0)} ms (${data.model})`);
      } else if (name === "error") {
        throw new Error(data.error.message);
      }
    }
  } catch (err) {
    if (isAbort(err) || signal.aborted) return;
    setStatus(status, err.message, true);
  }
}

// --- upload ------------------------------------------------------------------------------------------------------

let uploading = false;

function megabytes(bytes) {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// The bar while the bytes go up; once they are all sent it turns indeterminate, because the service answers an
// upload only when it has indexed every file and reports no progress of its own until then.
function showProgress(phase, loaded = 0, total = 0) {
  const bar = $("upload-bar");
  $("upload-progress").hidden = false;
  $("upload-progress").dataset.phase = phase;
  if (phase === "uploading") {
    const percent = total ? Math.floor((100 * loaded) / total) : 0;
    bar.value = percent;
    $("upload-progress-label").textContent = total
      ? `uploading ${percent}% (${megabytes(loaded)} of ${megabytes(total)})` : `uploading ${megabytes(loaded)}`;
  } else if (phase === "indexing") {
    bar.removeAttribute("value");
    $("upload-progress-label").textContent = `${megabytes(total)} sent; indexing…`;
  } else {
    bar.value = 100;
    $("upload-progress-label").textContent = `${megabytes(total)} sent and indexed`;
  }
}

// POSTs a form with XMLHttpRequest (fetch reports no upload progress): resolves to {status, statusText, text}.
function postWithProgress(url, form) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    let sent = 0;
    request.open("POST", url);
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (e) => {
      sent = e.loaded;
      showProgress("uploading", e.loaded, e.lengthComputable ? e.total : 0);
    });
    request.upload.addEventListener("load", () => showProgress("indexing", 0, sent));
    request.addEventListener("load", () => {
      showProgress("done", 0, sent);
      resolve({ status: request.status, statusText: request.statusText, text: request.responseText });
    });
    request.addEventListener("error", () => reject(new Error("the upload failed: the server could not be reached")));
    request.addEventListener("abort", () => reject(new Error("the upload was cancelled")));
    request.send(form);
  });
}

async function upload(event) {
  event.preventDefault();
  const files = $("files").files;
  const status = $("upload-status");
  if (!files.length) { setStatus(status, "choose files first", true); return; }
  if (uploading) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  const target = collection();
  uploading = true;
  $("upload-form").querySelector("button").disabled = true;
  $("upload-failures").replaceChildren();
  setStatus(status, `uploading ${plural(files.length, "file")} into ${target}…`);
  showProgress("uploading", 0, [...files].reduce((sum, f) => sum + f.size, 0));
  try {
    const response = await postWithProgress(`/v1/collections/${encodeURIComponent(target)}/files`, form);
    if (response.status < 200 || response.status >= 300) {
      throw new Error(errorLine(response.text, response.status, response.statusText));
    }
    const report = JSON.parse(response.text);
    setStatus(status, `${target}: ${report.documents_added} added, ${report.documents_updated} updated, ` +
      `${report.documents_unchanged} unchanged, ${report.documents_failed} failed; ` +
      `${report.chunks_embedded} chunks in ${report.seconds.toFixed(1)} s`);
    $("upload-failures").replaceChildren(...report.failures.map((f) => element("li", "error", `${f.path}: ${f.error}`)));
    if (target === collection()) await refreshCollections();
  } catch (err) {
    $("upload-progress").hidden = true;
    setStatus(status, err.message, true);
  } finally {
    uploading = false;
    $("upload-form").querySelector("button").disabled = false;
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
  shownCollection = collection();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    refreshIdentity();
  });
  $("collection").addEventListener("input", collectionChanged);
  $("collection").addEventListener("change", () => { collectionChanged(); refreshCollections().catch(() => {}); });
  $("search-form").addEventListener("submit", search);
  $("ask-form").addEventListener("submit", ask);
  $("upload-form").addEventListener("submit", upload);
  enableAsk();
  refreshIdentity();
});
