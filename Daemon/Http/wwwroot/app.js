// inspectiond operator console: plain JS, no build step. Polls the JSON API; lists use thumbnails only.
"use strict";

const LIVE_WIDTH = 480;
const THUMB_WIDTH = 160;
const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// Changes go out as POST with the CSRF token the page's cookie carries.
async function post(path) {
  const token = (document.cookie.match(/(?:^|; )inspectiond_csrf=([^;]+)/) || [])[1] || "";
  const response = await fetch(path, { method: "POST", headers: { "X-CSRF-Token": token } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

const fmtTime = iso => new Date(iso).toLocaleTimeString();
const pct = x => `${(100 * x).toFixed(1)} %`;

// ---- cameras: live view with the last result drawn over it ----
const cameras = new Map();

function cameraCard(camera) {
  const card = el("article", { class: "camera", id: `camera-${camera.id}` },
    el("h3", {}, camera.id, el("span", { class: "badge state" }), el("span", { class: "badge alarm", hidden: "" })),
    el("div", { class: "live" }, el("img", { id: `live-${camera.id}`, alt: `live view of ${camera.id}` }), el("canvas")),
    el("div", { class: "verdict" }, el("span", { class: "result" }, "waiting for a result"),
      el("button", { type: "button", onclick: () => post(`/api/cameras/${encodeURIComponent(camera.id)}/flag`).then(refreshReview) }, "Flag for review")));
  $("#cameras").append(card);
  const state = { card, frameWidth: 0, frameHeight: 0, last: null, url: null };
  cameras.set(camera.id, state);
  refreshFrame(camera.id);
  return state;
}

// One request at a time per camera: the next frame is asked for when the last has arrived (slow links stay usable).
async function refreshFrame(id) {
  const state = cameras.get(id);
  try {
    const response = await fetch(`/api/cameras/${encodeURIComponent(id)}/frame.jpg?width=${LIVE_WIDTH}`, { cache: "no-store" });
    if (response.ok) {
      state.frameWidth = +response.headers.get("X-Frame-Width");
      state.frameHeight = +response.headers.get("X-Frame-Height");
      const url = URL.createObjectURL(await response.blob());
      const img = $("img", state.card);
      img.onload = () => { if (state.url) URL.revokeObjectURL(state.url); state.url = url; drawOverlay(state); };
      img.src = url;
    }
  } catch (e) { /* the daemon may be restarting; try again */ }
  setTimeout(() => refreshFrame(id), 1000);
}

function drawOverlay(state) {
  const canvas = $("canvas", state.card), img = $("img", state.card);
  const w = canvas.width = img.clientWidth, h = canvas.height = img.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const r = state.last;
  if (!r || !state.frameWidth) return;
  // object-fit: contain — the picture is letterboxed inside the element.
  const scale = Math.min(w / state.frameWidth, h / state.frameHeight);
  const ox = (w - state.frameWidth * scale) / 2, oy = (h - state.frameHeight * scale) / 2;
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#e5484d";
  for (const region of (r.segmentation && r.segmentation.regions) || []) {
    ctx.strokeRect(ox + region.x * scale, oy + region.y * scale, region.width * scale, region.height * scale);
  }
  ctx.font = "bold 13px system-ui, sans-serif";
  const label = `${r.defect ? "DEFECT" : "good"}  score ${r.score.toFixed(3)} / threshold ${r.threshold.toFixed(3)}`;
  ctx.fillStyle = "rgba(0,0,0,0.6)";
  ctx.fillRect(ox + 4, oy + 4, ctx.measureText(label).width + 10, 20);
  ctx.fillStyle = r.defect ? "#ff6b6f" : "#5bd69a";
  ctx.fillText(label, ox + 9, oy + 19);
}

async function refreshCameras() {
  const list = await getJson("/api/cameras");
  const select = $("#filters select[name=camera]");
  for (const camera of list) {
    const state = cameras.get(camera.id) || cameraCard(camera);
    if (![...select.options].some(o => o.value === camera.id)) select.append(el("option", { value: camera.id }, camera.id));
    const badge = $(".badge.state", state.card);
    badge.textContent = camera.paused ? "paused" : `${camera.state} · ${camera.fps} fps`;
    badge.className = `badge state ${camera.state}`;
    const alarm = $(".badge.alarm", state.card);
    alarm.hidden = !camera.alarm;
    alarm.textContent = camera.alarm ? `ALARM: ${camera.alarm}` : "";
    state.last = camera.last;
    if (camera.last) {
      const r = camera.last;
      const text = $(".result", state.card);
      text.className = `result ${r.defect ? "defect" : "good"}`;
      text.textContent = `#${r.seq} ${r.defect ? "defect" : "good"} ${r.score.toFixed(3)} (thr ${r.threshold.toFixed(3)})${r.alarm ? " · " + r.alarm : ""}`;
    }
    drawOverlay(state);
  }
}

// ---- counters ----
let previous = null;
async function refreshStats() {
  const s = await getJson("/api/stats");
  $("#device").textContent = s.device;
  $("#provider").textContent = s.provider;
  $("#outbox").textContent = `${s.outbox_depth}${s.outbox_dropped ? ` (${s.outbox_dropped} dropped)` : ""}`;
  $("#review-count").textContent = s.review_waiting;
  const inspected = Object.values(s.cameras).reduce((sum, c) => sum + c.inspected, 0);
  if (previous) {
    const seconds = (Date.parse(s.at) - Date.parse(previous.at)) / 1000;
    if (seconds > 0) $("#throughput").textContent = `${((inspected - previous.inspected) / seconds).toFixed(1)} /s`;
  }
  previous = { at: s.at, inspected };
  const hour = Object.values(s.last_hour);
  const results = hour.reduce((sum, c) => sum + c.results, 0), defects = hour.reduce((sum, c) => sum + c.defects, 0);
  $("#defect-rate").textContent = results ? pct(defects / results) : "–";
}

// ---- latest results strip, with mask / heat-map overlays ----
function thumb(src, overlay, alt) {
  const box = el("div", { class: "thumb" }, el("img", { src, alt, loading: "lazy" }));
  // Mask and heat-map files are whole pictures (the frame with the overlay drawn in): shown over the frame.
  if (overlay) box.append(el("img", { src: overlay.src, alt: `${overlay.kind} of ${alt}`, loading: "lazy" }));
  return box;
}

async function refreshResults() {
  const form = new FormData($("#filters"));
  const query = new URLSearchParams({ limit: "24" });
  if (form.get("camera")) query.set("camera", form.get("camera"));
  if (form.get("part_id")) query.set("part_id", form.get("part_id"));
  if (form.get("defect")) query.set("defect", "true");
  for (const key of ["since", "until"]) if (form.get(key)) query.set(key, new Date(form.get(key)).toISOString());
  const overlayKind = form.get("overlay");
  const rows = await getJson(`/api/results?${query}`);
  const list = $("#defects");
  list.replaceChildren(...rows.filter(r => r.snapshot).map(r => {
    const overlayFile = overlayKind === "mask" ? r.mask : overlayKind === "heatmap" ? r.heatmap : null;
    const overlay = overlayFile ? { kind: overlayKind, src: `/snapshots/${overlayFile}?width=${THUMB_WIDTH}` } : null;
    return el("li", { class: r.defect ? "defect" : "good", "data-id": r.id },
      thumb(`/snapshots/${r.snapshot}?width=${THUMB_WIDTH}`, overlay, `${r.camera} #${r.seq}`),
      el("small", {}, `${r.camera} #${r.seq} · ${fmtTime(r.captured_at)}`),
      el("small", {}, `${r.defect ? "defect" : "good"} ${r.score.toFixed(3)}${r.part_id ? " · part " + r.part_id : ""}`),
      el("div", { class: "actions" }, el("button", { type: "button", onclick: () => post(`/api/results/${r.id}/flag`).then(refreshReview) }, "Flag")));
  }));
  if (!list.children.length) list.append(el("li", {}, el("small", {}, "nothing matches")));
}

// ---- review queue: keyboard labelling ----
let selected = 0;
async function refreshReview() {
  const { waiting, items } = await getJson("/api/review?limit=48");
  $("#review-count").textContent = waiting;
  const list = $("#review");
  list.replaceChildren(...items.map((item, i) => el("li", { "data-id": item.id, class: i === selected ? "selected" : "", onclick: () => select(i) },
    thumb(`/review/${item.frame}?width=${THUMB_WIDTH}`, null, `review ${item.id}`),
    el("small", {}, `${item.camera} · ${item.reason}`),
    el("small", {}, item.score == null ? "flagged live" : `score ${item.score.toFixed(3)} / ${item.threshold.toFixed(3)}`),
    el("div", { class: "actions" },
      el("button", { type: "button", onclick: () => label(item.id, "good") }, "Good (G)"),
      el("button", { type: "button", onclick: () => label(item.id, "defect") }, "Defect (D)")))));
  if (!items.length) list.append(el("li", {}, el("small", {}, "nothing to review")));
  select(Math.min(selected, Math.max(items.length - 1, 0)));
}

function select(i) {
  selected = i;
  [...$("#review").children].forEach((li, j) => li.classList.toggle("selected", j === i));
}

async function label(id, kind) {
  await post(`/api/review/${encodeURIComponent(id)}/${kind}`);
  await refreshReview();
}

document.addEventListener("keydown", e => {
  if (e.target.closest("input, select, textarea")) return;
  const items = [...$("#review").children].filter(li => li.dataset.id);
  if (!items.length) return;
  if (e.key === "ArrowRight") select(Math.min(selected + 1, items.length - 1));
  else if (e.key === "ArrowLeft") select(Math.max(selected - 1, 0));
  else if (e.key === "g" || e.key === "G") label(items[selected].dataset.id, "good");
  else if (e.key === "d" || e.key === "D") label(items[selected].dataset.id, "defect");
});

$("#filters").addEventListener("submit", e => { e.preventDefault(); refreshResults(); });

function every(ms, fn) {
  const run = () => fn().catch(() => {}).finally(() => setTimeout(run, ms));
  run();
}
every(1000, refreshCameras);
every(2000, refreshStats);
every(3000, refreshResults);
every(5000, refreshReview);
