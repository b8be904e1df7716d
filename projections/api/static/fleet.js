// The fleet: a tile per camera (status, latest detections drawn on a canvas, today's counts) and the counts chart of
// the selected camera over the last 24 hours.

import { ApiError, api, auth } from "./api.js";
import { StackedBars, binsOf, valuesOf } from "./charts.js";
import { $, classColor, classesText, fitCanvas, fmt } from "./format.js";

const DAY_MS = 24 * 3600 * 1000;
export const BUCKET_MS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "1d": DAY_MS };

export const fleet = {
  tiles: new Map(), // camera_id -> {el, camera, frame, status, dirty}
  selected: null,
  filter: "", // show (and poll) only the cameras whose id or name contains this
  chartSeq: 0,
  chartLoaded: false,
  chartDirty: false, // a count event arrived for the charted camera
  chart: null,
  onSelect: () => {},
};

export async function listCameras() {
  const cameras = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const params = { limit: "500" };
    if (cursor) params.cursor = cursor;
    const doc = await api("/v1/cameras", params);
    cameras.push(...(doc.items || []));
    cursor = doc.next_cursor;
    if (!cursor) break;
  }
  return cameras;
}

function makeTile(cam) {
  const el = $("#tile-template").content.firstElementChild.cloneNode(true);
  const id = cam.camera_id;
  el.dataset.cameraId = id;
  el.dataset.testid = `tile-${id}`;
  el.querySelector(".id").textContent = id;
  el.querySelector(".badge").dataset.testid = `status-${id}`;
  el.querySelector("canvas").dataset.testid = `frame-${id}`;
  el.querySelector(".frame-info").dataset.testid = `frame-info-${id}`;
  el.querySelector(".vehicles").dataset.testid = `vehicles-${id}`;
  el.querySelector(".in").dataset.testid = `in-${id}`;
  el.querySelector(".out").dataset.testid = `out-${id}`;
  el.querySelector(".classes").dataset.testid = `classes-${id}`;
  el.addEventListener("click", () => selectCamera(id));
  el.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      selectCamera(id);
    }
  });
  return { el, camera: cam, frame: null, status: null, dirty: true };
}

export function syncTiles(cameras) {
  const seen = new Set();
  const box = $("#tiles");
  for (const cam of cameras) {
    seen.add(cam.camera_id);
    let t = fleet.tiles.get(cam.camera_id);
    if (!t) {
      t = makeTile(cam);
      fleet.tiles.set(cam.camera_id, t);
      box.append(t.el);
    }
    t.camera = cam;
    t.el.querySelector(".name").textContent = cam.name || cam.camera_id;
    if (!t.status && cam.status) setStatus(t, cam.status);
  }
  for (const [id, t] of fleet.tiles) {
    if (!seen.has(id)) {
      t.el.remove();
      fleet.tiles.delete(id);
    }
  }
  $("#empty").hidden = fleet.tiles.size > 0;
  applyFilter();
  syncCameraSelect(cameras);
}

function syncCameraSelect(cameras) {
  const sel = $("#chart-camera");
  const want = cameras.map((c) => c.camera_id).join("\n");
  if (sel.dataset.ids !== want) {
    sel.replaceChildren(
      ...cameras.map((c) =>
        Object.assign(document.createElement("option"), {
          value: c.camera_id,
          textContent: c.name ? `${c.name} (${c.camera_id})` : c.camera_id,
        }),
      ),
    );
    sel.dataset.ids = want;
  }
  if (fleet.selected && !fleet.tiles.has(fleet.selected)) fleet.selected = null;
  if (!fleet.selected && cameras.length) chartCamera((cameras.find(matches) || cameras[0]).camera_id, false);
  sel.value = fleet.selected || "";
}

export function matches(cam) {
  const f = fleet.filter.trim().toLowerCase();
  return !f || cam.camera_id.toLowerCase().includes(f) || (cam.name || "").toLowerCase().includes(f);
}

export function applyFilter() {
  let shown = 0;
  for (const t of fleet.tiles.values()) {
    t.el.hidden = !matches(t.camera);
    if (!t.el.hidden) {
      shown++;
      t.dirty = true; // its canvas may have been laid out while hidden
    }
  }
  const total = fleet.tiles.size;
  $("#camera-count").textContent =
    shown === total ? `${total} camera${total === 1 ? "" : "s"}` : `${shown} of ${total}`;
  requestAnimationFrame(drawDirty);
}

export function setStatus(t, status) {
  t.status = status;
  const badge = t.el.querySelector(".badge");
  const s = (status && status.status) || "UNKNOWN";
  badge.textContent = s;
  badge.className = `badge badge-${s.toLowerCase()}`;
  badge.title = status ? [status.reason, status.error].filter(Boolean).join(": ") : "no status reported yet";
}

function applyLive(t, doc) {
  if (doc.status) setStatus(t, doc.status);
  else if (!t.status) setStatus(t, t.camera.status || null);
  setFrame(t, doc.frame || null);
  const c = doc.counts_today || {};
  const q = (s) => t.el.querySelector(s);
  q(".vehicles").textContent = fmt(c.vehicles ?? 0);
  q(".in").textContent = fmt(c.IN ?? 0);
  q(".out").textContent = fmt(c.OUT ?? 0);
  q(".classes").textContent = classesText(c.by_class);
  t.el.dataset.countsDay = c.day || "";
}

export function setFrame(t, frame) {
  if (frame && t.frame && frame.captured_at < t.frame.captured_at) return; // an older frame arrived late
  t.frame = frame;
  t.dirty = true;
  const info = t.el.querySelector(".frame-info");
  if (frame) {
    const n = (frame.detections || []).length;
    const at = new Date(frame.captured_at);
    info.textContent = `frame ${frame.frame_seq} · ${n} detection${n === 1 ? "" : "s"} · ${at.toLocaleTimeString()}`;
    info.dataset.frameSeq = String(frame.frame_seq);
    info.dataset.detections = String(n);
  } else {
    info.textContent = "no frame yet";
    delete info.dataset.frameSeq;
    info.dataset.detections = "0";
  }
  requestAnimationFrame(drawDirty);
}

export async function refreshLive(id) {
  const t = fleet.tiles.get(id);
  if (!t) return;
  try {
    applyLive(t, await api(`/v1/cameras/${encodeURIComponent(id)}/live`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      applyLive(t, { frame: null, status: null, counts_today: {} }); // deleted since it was listed
      return;
    }
    throw e;
  }
}

/** Detection boxes of `frame` (pixel coordinates) on a 2D context of a `cssW` x `cssH` area. */
export function drawBoxes(ctx, frame, cssW, cssH) {
  const sx = cssW / frame.width;
  const sy = cssH / frame.height;
  ctx.lineWidth = 2;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (const d of frame.detections || []) {
    const x = d.x1 * sx;
    const y = d.y1 * sy;
    const color = classColor(d.class_name);
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, (d.x2 - d.x1) * sx, (d.y2 - d.y1) * sy);
    const label = `${d.class_name} ${Math.round(d.confidence * 100)}%`;
    const tw = ctx.measureText(label).width + 6;
    const ly = y >= 14 ? y - 14 : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - 1, ly, tw, 14);
    ctx.fillStyle = "#0b0f14";
    ctx.fillText(label, x + 2, ly + 1);
  }
}

function drawFrame(canvas, frame) {
  const cssW = canvas.clientWidth || 400;
  const ok = frame && frame.width > 0 && frame.height > 0;
  const cssH = Math.round((cssW * (ok ? frame.height : 9)) / (ok ? frame.width : 16));
  canvas.style.height = `${cssH}px`;
  const ctx = fitCanvas(canvas, cssW, cssH);
  ctx.fillStyle = "#0b0f14";
  ctx.fillRect(0, 0, cssW, cssH);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "top";
  ctx.fillStyle = "#5b6675";
  if (!ok) {
    ctx.fillText("no frame yet", 8, 8);
    return;
  }
  drawBoxes(ctx, frame, cssW, cssH);
  ctx.fillStyle = "#5b6675";
  ctx.textBaseline = "bottom";
  ctx.fillText(`${frame.width}×${frame.height}`, 6, cssH - 4);
}

export function drawDirty() {
  for (const t of fleet.tiles.values()) {
    if (!t.dirty || t.el.hidden) continue;
    t.dirty = false;
    drawFrame(t.el.querySelector("canvas"), t.frame);
  }
}

export function markAllDirty() {
  for (const t of fleet.tiles.values()) t.dirty = true;
  requestAnimationFrame(drawDirty);
}

// -- the fleet counts chart --------------------------------------------------------------------------------------

/** A tile was picked: chart it and open its detail view. */
export function selectCamera(id) {
  chartCamera(id, true);
  fleet.onSelect(id);
}

export function chartCamera(id, load = true) {
  const changed = id !== fleet.selected;
  fleet.selected = id;
  if (changed) {
    fleet.chartLoaded = false;
    chart().clear("loading…");
  }
  $("#chart-camera").value = id;
  for (const [cid, t] of fleet.tiles) {
    t.el.classList.toggle("selected", cid === id);
    if (cid === id) t.el.setAttribute("aria-current", "true");
    else t.el.removeAttribute("aria-current");
  }
  const title = fleet.tiles.get(id)?.camera?.name || id;
  $("#chart-title").textContent = `Vehicle counts — ${title}`;
  if (load) loadChart().catch(() => {}); // the refresh loop reports errors
}

function chart() {
  fleet.chart ||= new StackedBars($("#chart"), { height: 240, empty: "no vehicles counted in the last 24 hours" });
  return fleet.chart;
}

export async function loadChart() {
  const cam = fleet.selected;
  if (!cam || !auth.key) return;
  const bucket = $("#chart-bucket").value;
  const to = new Date();
  const from = new Date(to.getTime() - DAY_MS);
  const seq = ++fleet.chartSeq;
  fleet.chartDirty = false;
  const doc = await api(`/v1/cameras/${encodeURIComponent(cam)}/counts`, {
    bucket,
    from: from.toISOString(),
    to: to.toISOString(),
  });
  if (seq !== fleet.chartSeq) return; // the analyst picked another camera or bucket meanwhile
  fleet.chartLoaded = true;
  const totals = doc.totals || {};
  const box = $("#chart-totals");
  box.querySelector('[data-testid="chart-vehicles"]').textContent = fmt(totals.vehicles);
  box.querySelector('[data-testid="chart-in"]').textContent = fmt(totals.IN);
  box.querySelector('[data-testid="chart-out"]').textContent = fmt(totals.OUT);
  box.querySelector('[data-testid="chart-classes"]').textContent = classesText(totals.by_class) || "–";
  Object.assign(box.dataset, { camera: cam, bucket, from: from.toISOString(), to: to.toISOString(), loaded: "1" });
  const width = BUCKET_MS[bucket];
  const bins = binsOf(from, to, width);
  const buckets = doc.buckets || [];
  chart().set(
    bins,
    width / 1000,
    [
      { label: "IN", color: "#3fbf7f", values: valuesOf(bins, buckets, (b) => b.IN) },
      { label: "OUT", color: "#f5a524", values: valuesOf(bins, buckets, (b) => b.OUT) },
      {
        label: "other",
        color: "#7b8794",
        values: valuesOf(bins, buckets, (b) => Math.max(0, (b.vehicles || 0) - (b.IN || 0) - (b.OUT || 0))),
      },
    ],
    [from.getTime() / 1000, to.getTime() / 1000],
  );
}
