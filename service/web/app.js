/*
 * The web page's logic: upload -> ask -> (poll the job) -> show the verdict.
 *
 * Owns: the API key in localStorage ("o3.apiKey"), the upload progress (XHR, since
 * fetch has no upload progress), job polling, and the evidence display. Invariants:
 * - Every request sends `Authorization: Bearer <key>` when a key is set.
 * - Model output is shown with textContent only (never innerHTML).
 * - Boxes are placed from `box_display_normalized` over the rectangle the video
 *   content actually occupies (object-fit: contain letterboxing taken out), and shown
 *   while the playhead is within WINDOW seconds of the evidence time.
 */
"use strict";

const WINDOW = 0.5;          // seconds around an evidence time during which its box shows
const POLL_MS = 500;
const KEY_STORE = "o3.apiKey";
const PALETTE = ["#e63946", "#2a9d8f", "#f4a261", "#457b9d", "#9b5de5", "#f15bb5", "#00bbf9", "#fee440"];

const $ = (id) => document.getElementById(id);
const state = { file: null, objectUrl: null, result: null };

function colourFor(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// ---- errors and progress -------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || null;
  }
}

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

function setProgress(fraction, text) {
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  $("progress").hidden = false;
  $("progress-fill").style.width = `${percent}%`;
  $("progress-bar").setAttribute("aria-valuenow", String(percent));
  $("progress-text").textContent = text;
}

// A visual clock of the wait for the answer (seconds since the upload ended). Not in the
// live region: screen readers hear the status changes, not a tick every second.
function startClock() {
  const start = performance.now();
  const show = () => { $("progress-elapsed").textContent = `${((performance.now() - start) / 1000).toFixed(0)}s`; };
  show();
  const timer = setInterval(show, 1000);
  return () => { clearInterval(timer); };
}

function parseJson(text) {
  try { return JSON.parse(text); } catch (_) { return null; }
}

// ---- API calls -----------------------------------------------------------------------

function uploadVideo(file) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "v1/videos");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setProgress(e.loaded / e.total, `Uploading… ${formatBytes(e.loaded)} of ${formatBytes(e.total)}`);
    };
    xhr.onload = () => {
      const body = parseJson(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error("network error while uploading"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function api(method, path, body) {
  const headers = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = parseJson(await resp.text());
  if (!resp.ok) throw new ApiError(resp.status, data);
  return { status: resp.status, data };
}

// A 202 answer ({job_id, status: "queued"}; long videos, async): poll the job until it
// ends, saying what it is doing and for how long. A job record's id field is `id`.
async function waitForJob(accepted) {
  const id = accepted.job_id;
  if (!id) throw new Error("the server answered 202 without a job_id");
  const start = performance.now();
  let job = { id, status: accepted.status || "queued" };
  for (;;) {
    const waited = ((performance.now() - start) / 1000).toFixed(0);
    const p = job.status === "running" && job.progress;  // a search reports its scan
    const label = p ? `Searching the video: ${p.stage} ${p.chunks_scanned}/${p.chunks_total} chunks`
      : job.status === "running" ? "Reasoning (long video, as a job)" : "Waiting in the job queue";
    setProgress(p ? 0.3 + 0.6 * p.chunks_scanned / Math.max(1, p.chunks_total) : job.status === "running" ? 0.6 : 0.3,
      `${label}… ${waited}s · job ${id}`);
    if (job.status === "done") return job.result;
    if (job.status === "failed") throw new ApiError(500, { error: job.error });
    if (job.status === "cancelled") throw new Error("the job was cancelled");
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = (await api("GET", `v1/jobs/${encodeURIComponent(id)}`)).data;
  }
}

function reasonBody(videoId) {
  const body = { video_id: videoId, question: $("question").value.trim(), voting: $("voting").value };
  const options = $("options").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (options.length) body.options = options;
  const n = parseInt($("n").value, 10);
  if (n > 0) body.n = n;
  if ($("task").value) body.task = $("task").value;
  if ($("strategy").value) body.strategy = $("strategy").value;
  return body;
}

async function ask(event) {
  event.preventDefault();
  showError("");
  if (!state.file) return showError("Choose a video first.");
  if (!$("question").value.trim()) return showError("Type a question.");
  $("ask").disabled = true;
  let stopClock = () => {};
  try {
    const video = await uploadVideo(state.file);
    setProgress(1, "Reasoning: sampling traces and voting…");
    stopClock = startClock();
    const { status, data } = await api("POST", "v1/reason", reasonBody(video.id));
    const result = status === 202 ? await waitForJob(data) : data;
    render(result);
    const answer = result.answer === null ? "no answer" : `answer: ${result.answer}`;
    setProgress(1, `Done: ${answer} (${Math.round(result.confidence * 100)}% confidence)`);
  } catch (err) {
    $("progress").hidden = true;
    showError(err.code ? `${err.message} (${err.code})` : err.message);
  } finally {
    stopClock();
    $("ask").disabled = false;
  }
}

// ---- rendering -----------------------------------------------------------------------

function render(result) {
  state.result = result;
  $("result").hidden = false;
  $("answer").textContent = result.answer === null ? "(no answer)" : result.answer;
  $("answer-meta").textContent = metaLine(result);
  $("confidence").textContent = `${Math.round(result.confidence * 100)}%`;
  $("confidence-fill").style.width = `${Math.round(result.confidence * 100)}%`;
  $("confidence-bar").setAttribute("aria-valuenow", String(Math.round(result.confidence * 100)));
  const video = $("video");
  if (video.src !== state.objectUrl) video.src = state.objectUrl;
  renderTimeline(result);
  renderRelevance(result);
  renderTables(result);
  updateOverlay();
}

function metaLine(r) {
  const parts = [`task ${r.task}`, `model ${r.model}`];
  if (r.span) parts.push(`span ${r.span[0].toFixed(1)}s – ${r.span[1].toFixed(1)}s`);
  if (r.abstained) parts.push("abstained");
  if (r.random_tiny_model) parts.push("random tiny model: answers are noise");
  if (r.cached) parts.push("cached");
  return parts.join(" · ");
}

function duration(result) {
  const v = $("video");
  return (result.frames && result.frames.duration) || (isFinite(v.duration) ? v.duration : 1) || 1;
}

function renderTimeline(result) {
  const line = $("timeline");
  line.querySelectorAll(".marker").forEach((m) => m.remove());
  const total = duration(result);
  $("duration-label").textContent = `${total.toFixed(1)}s`;
  for (const ev of result.evidence) {
    const m = document.createElement("button");
    m.type = "button";
    m.className = "marker";
    m.dataset.time = String(ev.time);
    m.style.left = `${Math.min(100, (ev.time / total) * 100)}%`;
    m.style.background = colourFor(ev.object);
    m.title = `${ev.object} at ${ev.time.toFixed(1)}s`;
    m.setAttribute("aria-label", m.title);
    m.addEventListener("click", () => seek(ev.time));
    line.appendChild(m);
  }
}

// A search's record as a strip under the timeline: one bar per scanned chunk, its
// height the chunk's score; the zoomed windows are outlined. Click a bar to seek.
function renderRelevance(result) {
  const strip = $("relevance");
  strip.replaceChildren();
  const s = result.search;
  strip.hidden = !s;
  if (!s) return;
  const total = duration(result);
  for (const c of s.chunks) {
    const bar = document.createElement("button");
    bar.type = "button";
    bar.className = "chunk" + (s.windows.some((w) => w.start < c.end && w.end > c.start) ? " zoomed" : "");
    bar.style.left = `${(c.start / total) * 100}%`;
    bar.style.width = `${((c.end - c.start) / total) * 100}%`;
    bar.style.height = `${2 + 16 * c.score}px`;
    bar.style.opacity = String(0.35 + 0.65 * c.score);
    bar.title = `${c.start.toFixed(0)}s – ${c.end.toFixed(0)}s: relevance ${c.score.toFixed(2)}`;
    bar.setAttribute("aria-label", bar.title);
    bar.addEventListener("click", () => seek(c.cited.length ? c.cited[0] : c.start));
    strip.appendChild(bar);
  }
}

function seek(t) {
  const video = $("video");
  video.pause();
  video.currentTime = t;
  updateOverlay();
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function renderTables(result) {
  const ev = $("evidence-table").tBodies[0];
  ev.replaceChildren();
  for (const e of [...result.evidence].sort((a, b) => a.time - b.time)) {
    const tr = document.createElement("tr");
    const t = cell(tr, `${e.time.toFixed(1)}s`);
    t.className = "seek";
    t.addEventListener("click", () => seek(e.time));
    const name = cell(tr, e.object);
    name.style.borderLeft = `4px solid ${colourFor(e.object)}`;
    cell(tr, `[${e.box.map((v) => Math.round(v)).join(", ")}]`);
    cell(tr, String(e.support));
    ev.appendChild(tr);
  }
  const votes = $("vote-table").tBodies[0];
  votes.replaceChildren();
  for (const v of result.votes) {
    const tr = document.createElement("tr");
    if (v.answer === result.answer) tr.className = "winner";
    cell(tr, v.answer);
    cell(tr, v.weight.toFixed(2));
    cell(tr, String(v.votes));
    cell(tr, v.traces.join(", "));
    votes.appendChild(tr);
  }
}

// The rectangle the picture occupies inside the <video> element (object-fit: contain).
function contentRect(video) {
  const w = video.clientWidth, h = video.clientHeight;
  const vw = video.videoWidth || w, vh = video.videoHeight || h;
  const scale = Math.min(w / vw, h / vh);
  const cw = vw * scale, ch = vh * scale;
  return { x: (w - cw) / 2, y: (h - ch) / 2, w: cw, h: ch };
}

function updateOverlay() {
  const result = state.result;
  const overlay = $("overlay");
  const video = $("video");
  if (!result) return;
  const now = video.currentTime || 0;
  $("playhead").style.left = `${Math.min(100, (now / duration(result)) * 100)}%`;
  overlay.replaceChildren();
  const rect = contentRect(video);
  for (const ev of result.evidence) {
    if (Math.abs(ev.time - now) > WINDOW) continue;
    const [x1, y1, x2, y2] = ev.box_display_normalized;
    const box = document.createElement("div");
    box.className = "box";
    box.style.left = `${rect.x + x1 * rect.w}px`;
    box.style.top = `${rect.y + y1 * rect.h}px`;
    box.style.width = `${(x2 - x1) * rect.w}px`;
    box.style.height = `${(y2 - y1) * rect.h}px`;
    box.style.borderColor = colourFor(ev.object);
    const tag = document.createElement("span");
    tag.textContent = `${ev.object} @ ${ev.time.toFixed(1)}s`;
    tag.style.background = colourFor(ev.object);
    box.appendChild(tag);
    overlay.appendChild(box);
  }
  document.querySelectorAll(".marker").forEach((m) => {
    m.classList.toggle("active", Math.abs(Number(m.dataset.time) - now) <= WINDOW);
  });
}

// ---- file choice, key, readiness ------------------------------------------------------

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  $("file-name").textContent = `${file.name} · ${formatBytes(file.size)}`;
  $("drop").classList.add("chosen");
}

function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

async function checkReady() {
  const el = $("server-status");
  try {
    const resp = await fetch("ready");
    el.textContent = resp.ok ? "ready" : "not ready";
    el.className = `status ${resp.ok ? "ok" : "bad"}`;
  } catch (_) {
    el.textContent = "offline";
    el.className = "status bad";
  }
}

function setup() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORE) || "";
  key.addEventListener("change", () => localStorage.setItem(KEY_STORE, key.value.trim()));
  const drop = $("drop");
  drop.addEventListener("click", () => $("file").click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  });
  $("ask-form").addEventListener("submit", ask);
  const video = $("video");
  for (const ev of ["timeupdate", "seeked", "loadedmetadata"]) video.addEventListener(ev, updateOverlay);
  window.addEventListener("resize", updateOverlay);
  const tick = () => { if (!video.paused) updateOverlay(); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  checkReady();
}

setup();
