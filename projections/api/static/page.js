// The analyst page: a tile per camera (status, latest detections drawn on a canvas, today's counts) and a counts
// chart of one camera. Plain ES module, no dependencies: it talks to the /v1 API with the key the analyst gives it.

const KEY_STORE = "itscam.apiKey";
const POLL_MS = 5000; // refresh period while the live stream is unavailable
const POLL_STREAMING_MS = 15000; // while the stream pushes changes, polling only catches what it missed
const CHART_EVERY = 6; // refresh the chart every 6th cycle
const STREAM_RETRY_MS = 10000;
const DAY_MS = 24 * 3600 * 1000;
const BUCKET_MS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "1d": DAY_MS };

const $ = (sel) => document.querySelector(sel);

const state = {
  key: null,
  tiles: new Map(), // camera_id -> {el, camera, frame, status, dirty}
  selected: null,
  filter: "", // show (and poll) only the cameras whose id or name contains this
  timer: null,
  cycle: 0,
  pausedUntil: 0,
  streaming: false,
  stream: null, // AbortController of the /v1/stream request
  chartSeq: 0,
  chartDoc: null,
  chartDirty: false, // a count event arrived for the charted camera
  liveTimers: new Map(),
};

// -- API ---------------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, title, detail, path, retryAfter = 0) {
    super(detail);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.path = path;
    this.retryAfter = retryAfter;
  }
}

function authHeaders(accept) {
  return { Authorization: `Bearer ${state.key}`, Accept: accept };
}

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  let r;
  try {
    r = await fetch(url, { headers: authHeaders("application/json"), cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "Network error", `Cannot reach the API at ${location.origin} (${e.message}).`, path);
  }
  if (!r.ok) {
    let body = {};
    try {
      body = await r.json();
    } catch {
      // not problem+json (a proxy's page): keep the status line
    }
    const retry = Number.parseInt(r.headers.get("Retry-After") || "0", 10) || 0;
    throw new ApiError(r.status, body.title || r.statusText, body.detail || `${r.status} ${r.statusText}`, path, retry);
  }
  return r.json();
}

// -- error banner ------------------------------------------------------------------------------------------------

function describe(err) {
  if (!(err instanceof ApiError)) return `Unexpected error: ${err && err.message ? err.message : err}`;
  switch (err.status) {
    case 0:
      return `${err.detail} Retrying every few seconds.`;
    case 401:
      return `The API refused the key (401 ${err.title}): ${err.detail} Enter a valid key above.`;
    case 403:
      return `The key may not read this (403 ${err.title}): ${err.detail}`;
    case 429:
      return `Rate limited (429): ${err.detail} The page pauses its updates for ${err.retryAfter || 5} s.`;
    default:
      return `${err.status} ${err.title} on ${err.path}: ${err.detail}`;
  }
}

function showErrors(errors) {
  const banner = $("#banner");
  if (!errors.length) {
    banner.hidden = true;
    banner.textContent = "";
    banner.removeAttribute("data-status");
    return;
  }
  const lines = [...new Set(errors.map(describe))].slice(0, 3);
  banner.replaceChildren(...lines.map((t) => Object.assign(document.createElement("div"), { textContent: t })));
  banner.dataset.status = String(errors[0].status ?? "");
  banner.hidden = false;
}

function setConn(text) {
  $("#conn").textContent = text;
}

// -- key ---------------------------------------------------------------------------------------------------------

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: the key lives only in this page
  }
}

// The fragment never reaches the server: `#key=its_...&filter=overpass` (both optional).
function loadFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  state.filter = params.get("filter") || "";
  const key = params.get("key");
  if (key) {
    state.key = key;
    storage()?.setItem(KEY_STORE, state.key);
    // Keep the secret out of the address bar, history and screenshots.
    params.delete("key");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  } else {
    state.key = storage()?.getItem(KEY_STORE) || null;
  }
}

function useKey(key) {
  state.key = key || null;
  if (state.key) storage()?.setItem(KEY_STORE, state.key);
  else storage()?.removeItem(KEY_STORE);
  state.pausedUntil = 0;
  drawChart();
  restartStream();
  refreshNow();
}

// -- camera tiles ------------------------------------------------------------------------------------------------

async function listCameras() {
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

function syncTiles(cameras) {
  const seen = new Set();
  const box = $("#tiles");
  for (const cam of cameras) {
    seen.add(cam.camera_id);
    let t = state.tiles.get(cam.camera_id);
    if (!t) {
      t = makeTile(cam);
      state.tiles.set(cam.camera_id, t);
      box.append(t.el);
    }
    t.camera = cam;
    t.el.querySelector(".name").textContent = cam.name || cam.camera_id;
    if (!t.status && cam.status) setStatus(t, cam.status);
  }
  for (const [id, t] of state.tiles) {
    if (!seen.has(id)) {
      t.el.remove();
      state.tiles.delete(id);
    }
  }
  $("#empty").hidden = state.tiles.size > 0;
  applyFilter();
  syncCameraSelect(cameras);
}

function syncCameraSelect(cameras) {
  const sel = $("#chart-camera");
  const want = cameras.map((c) => c.camera_id).join("\n");
  if (sel.dataset.ids !== want) {
    sel.replaceChildren(
      ...cameras.map((c) => Object.assign(document.createElement("option"), {
        value: c.camera_id,
        textContent: c.name ? `${c.name} (${c.camera_id})` : c.camera_id,
      })),
    );
    sel.dataset.ids = want;
  }
  if (state.selected && !state.tiles.has(state.selected)) state.selected = null;
  if (!state.selected && cameras.length) selectCamera((cameras.find(matches) || cameras[0]).camera_id, false);
  sel.value = state.selected || "";
}

function matches(cam) {
  const f = state.filter.trim().toLowerCase();
  return !f || cam.camera_id.toLowerCase().includes(f) || (cam.name || "").toLowerCase().includes(f);
}

function applyFilter() {
  let shown = 0;
  for (const t of state.tiles.values()) {
    t.el.hidden = !matches(t.camera);
    if (!t.el.hidden) {
      shown++;
      t.dirty = true; // its canvas may have been laid out while hidden
    }
  }
  const total = state.tiles.size;
  $("#camera-count").textContent = shown === total ? `${total} camera${total === 1 ? "" : "s"}` : `${shown} of ${total}`;
  requestAnimationFrame(drawDirty);
}

function setStatus(t, status) {
  t.status = status;
  const badge = t.el.querySelector(".badge");
  const s = (status && status.status) || "UNKNOWN";
  badge.textContent = s;
  badge.className = `badge badge-${s.toLowerCase()}`;
  badge.title = status ? [status.reason, status.error].filter(Boolean).join(": ") : "no status reported yet";
}

function fmt(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

function classesText(byClass) {
  const entries = Object.entries(byClass || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length ? entries.map(([k, v]) => `${k} ${fmt(v)}`).join(" · ") : "";
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

function setFrame(t, frame) {
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

async function refreshLive(id) {
  const t = state.tiles.get(id);
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

// -- drawing -----------------------------------------------------------------------------------------------------

// COCO's road users get fixed, distinct colours; any other class a colour hashed from its name.
const CLASS_COLORS = {
  car: "#4da3ff",
  truck: "#ff9f43",
  bus: "#ffd43b",
  motorcycle: "#c77dff",
  bicycle: "#51cf66",
  person: "#ff6b9d",
};

function classColor(name) {
  if (CLASS_COLORS[name]) return CLASS_COLORS[name];
  let h = 0;
  for (const ch of name || "") h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360} 85% 60%)`;
}

function fitCanvas(canvas, cssW, cssH) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(cssW * dpr));
  const h = Math.max(1, Math.round(cssH * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function drawFrame(canvas, frame) {
  const cssW = canvas.clientWidth || 400;
  const fw = frame && frame.width > 0 ? frame.width : 16;
  const fh = frame && frame.height > 0 ? frame.height : 9;
  const cssH = Math.round((cssW * fh) / fw);
  const ctx = fitCanvas(canvas, cssW, cssH);
  ctx.fillStyle = "#0b0f14";
  ctx.fillRect(0, 0, cssW, cssH);
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "top";
  if (!frame) {
    ctx.fillStyle = "#5b6675";
    ctx.fillText("no frame yet", 8, 8);
    return;
  }
  const sx = cssW / fw;
  const sy = cssH / fh;
  ctx.lineWidth = 2;
  for (const d of frame.detections || []) {
    const x = d.x1 * sx;
    const y = d.y1 * sy;
    const w = (d.x2 - d.x1) * sx;
    const h = (d.y2 - d.y1) * sy;
    const color = classColor(d.class_name);
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, h);
    const label = `${d.class_name} ${Math.round(d.confidence * 100)}%`;
    const tw = ctx.measureText(label).width + 6;
    const ly = y >= 14 ? y - 14 : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - 1, ly, tw, 14);
    ctx.fillStyle = "#0b0f14";
    ctx.fillText(label, x + 2, ly + 1);
  }
  ctx.fillStyle = "#5b6675";
  ctx.textBaseline = "bottom";
  ctx.fillText(`${fw}×${fh}`, 6, cssH - 4);
}

function drawDirty() {
  for (const t of state.tiles.values()) {
    if (!t.dirty || t.el.hidden) continue;
    t.dirty = false;
    drawFrame(t.el.querySelector("canvas"), t.frame);
  }
}

// -- counts chart ------------------------------------------------------------------------------------------------

function selectCamera(id, load = true) {
  const changed = id !== state.selected;
  state.selected = id;
  if (changed) {
    state.chartDoc = null;
    drawChart();
  }
  $("#chart-camera").value = id;
  for (const [cid, t] of state.tiles) {
    t.el.classList.toggle("selected", cid === id);
    if (cid === id) t.el.setAttribute("aria-current", "true");
    else t.el.removeAttribute("aria-current");
  }
  const title = state.tiles.get(id)?.camera?.name || id;
  $("#chart-title").textContent = `Vehicle counts — ${title}`;
  if (load) loadChart().catch((e) => showErrors([e]));
}

async function loadChart() {
  const cam = state.selected;
  if (!cam || !state.key) return;
  const bucket = $("#chart-bucket").value;
  const to = new Date();
  const from = new Date(to.getTime() - DAY_MS);
  const seq = ++state.chartSeq;
  state.chartDirty = false;
  const doc = await api(`/v1/cameras/${encodeURIComponent(cam)}/counts`, {
    bucket,
    from: from.toISOString(),
    to: to.toISOString(),
  });
  if (seq !== state.chartSeq) return; // the analyst picked another camera or bucket meanwhile
  state.chartDoc = { doc, from, to, bucket };
  const totals = doc.totals || {};
  const box = $("#chart-totals");
  box.querySelector('[data-testid="chart-vehicles"]').textContent = fmt(totals.vehicles);
  box.querySelector('[data-testid="chart-in"]').textContent = fmt(totals.IN);
  box.querySelector('[data-testid="chart-out"]').textContent = fmt(totals.OUT);
  box.querySelector('[data-testid="chart-classes"]').textContent = classesText(totals.by_class) || "–";
  Object.assign(box.dataset, { camera: cam, bucket, from: from.toISOString(), to: to.toISOString(), loaded: "1" });
  drawChart();
}

function niceMax(v) {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawChart() {
  const canvas = $("#chart");
  const cssW = canvas.clientWidth || 1200;
  const cssH = 260;
  const ctx = fitCanvas(canvas, cssW, cssH);
  ctx.fillStyle = "#0b0f14";
  ctx.fillRect(0, 0, cssW, cssH);
  const cd = state.chartDoc;
  if (!cd) {
    ctx.fillStyle = "#5b6675";
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(state.selected ? "loading…" : "pick a camera (or click its tile)", cssW / 2, cssH / 2);
    return;
  }
  const { doc, from, to, bucket } = cd;
  const buckets = doc.buckets || [];
  const L = 52;
  const R = 12;
  const T = 24;
  const B = 28;
  const pw = cssW - L - R;
  const ph = cssH - T - B;
  const t0 = from.getTime();
  const span = to.getTime() - t0;
  const ymax = niceMax(Math.max(0, ...buckets.map((b) => b.vehicles || 0)));
  const xOf = (ms) => L + ((ms - t0) / span) * pw;
  const yOf = (v) => T + ph - (v / ymax) * ph;

  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#1f2a36";
  ctx.fillStyle = "#8a96a6";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    const y = Math.round(yOf(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(L, y);
    ctx.lineTo(L + pw, y);
    ctx.stroke();
    ctx.fillText(fmt(Math.round(v * 10) / 10), L - 6, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const step = 4 * 3600e3;
  for (let ms = Math.ceil(t0 / step) * step; ms <= t0 + span; ms += step) {
    const d = new Date(ms);
    ctx.fillText(`${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`, xOf(ms), T + ph + 8);
  }

  ctx.save();
  ctx.beginPath();
  ctx.rect(L, T, pw, ph);
  ctx.clip();
  const bw = Math.max(1, ((BUCKET_MS[bucket] || 60e3) / span) * pw - (pw > 600 ? 1 : 0));
  for (const b of buckets) {
    const x = xOf(Date.parse(b.start));
    const inN = b.IN || 0;
    const outN = b.OUT || 0;
    const other = Math.max(0, (b.vehicles || 0) - inN - outN);
    let base = 0;
    for (const [n, color] of [
      [inN, "#3fbf7f"],
      [outN, "#f5a524"],
      [other, "#7b8794"],
    ]) {
      if (n <= 0) continue;
      ctx.fillStyle = color;
      ctx.fillRect(x, yOf(base + n), bw, yOf(base) - yOf(base + n));
      base += n;
    }
  }
  ctx.restore();
  if (!buckets.length) {
    ctx.fillStyle = "#5b6675";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("no vehicles counted in the last 24 hours", L + pw / 2, T + ph / 2);
  }
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let lx = L;
  for (const [label, color] of [
    ["IN", "#3fbf7f"],
    ["OUT", "#f5a524"],
  ]) {
    ctx.fillStyle = color;
    ctx.fillRect(lx, 8, 10, 10);
    ctx.fillStyle = "#c9d1db";
    ctx.fillText(label, lx + 14, 13);
    lx += 50;
  }
  ctx.fillText(`vehicles per ${bucket}`, lx, 13);
}

function chartHover(e) {
  const cd = state.chartDoc;
  const canvas = $("#chart");
  if (!cd) return;
  const rect = canvas.getBoundingClientRect();
  const pw = rect.width - 52 - 12;
  const ms = cd.from.getTime() + ((e.clientX - rect.left - 52) / pw) * (cd.to - cd.from);
  const width = BUCKET_MS[cd.bucket] || 60e3;
  const b = (cd.doc.buckets || []).find((x) => Date.parse(x.start) <= ms && ms < Date.parse(x.start) + width);
  canvas.title = b
    ? `${new Date(b.start).toLocaleString()}: ${b.vehicles} vehicles (IN ${b.IN}, OUT ${b.OUT})` +
      (b.mean_speed_kmh != null ? `, mean ${b.mean_speed_kmh.toFixed(1)} km/h` : "")
    : "";
}

// -- refresh loop ------------------------------------------------------------------------------------------------

function schedule(ms) {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, ms);
}

function refreshNow() {
  schedule(0);
}

async function refresh() {
  if (!state.key) {
    setConn("no key");
    const banner = $("#banner");
    banner.textContent = "Enter an API key (its_…) above, or open this page as /ui#key=its_….";
    banner.dataset.status = "nokey";
    banner.hidden = false;
    return;
  }
  const wait = state.pausedUntil - Date.now();
  if (wait > 0) return schedule(wait);
  const errors = [];
  try {
    const cameras = await listCameras();
    syncTiles(cameras);
    // Only the tiles on show: a big fleet behind a filter costs one request per camera the analyst looks at.
    const shown = cameras.filter(matches);
    const results = await Promise.allSettled(shown.map((c) => refreshLive(c.camera_id)));
    for (const r of results) if (r.status === "rejected") errors.push(r.reason);
    if (state.cycle % CHART_EVERY === 0 || !state.chartDoc || state.chartDirty) await loadChart();
  } catch (e) {
    errors.push(e);
  }
  state.cycle++;
  showErrors(errors);
  const limited = errors.find((e) => e instanceof ApiError && e.status === 429);
  if (limited) state.pausedUntil = Date.now() + 1000 * (limited.retryAfter || 5);
  if (errors.some((e) => e instanceof ApiError && e.status === 401)) {
    setConn("key refused");
    return; // no point retrying a refused key: wait for a new one
  }
  const now = new Date().toLocaleTimeString();
  const how = state.streaming ? "live" : `polling every ${POLL_MS / 1000} s`;
  setConn(errors.length ? `${how} · errors at ${now}` : `${how} · updated ${now}`);
  schedule(limited ? 1000 * (limited.retryAfter || 5) : state.streaming ? POLL_STREAMING_MS : POLL_MS);
}

// -- live stream (SSE over fetch, since EventSource cannot send an Authorization header) -----------------------

function restartStream() {
  state.stream?.abort();
  state.stream = null;
  state.streaming = false;
  if (state.key) stream();
}

function onEvent(name, data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return;
  }
  const type = msg.type || name;
  const payload = msg.type && "data" in msg ? msg.data : msg;
  const cam = msg.camera_id || payload?.camera_id;
  const t = state.tiles.get(cam);
  if (!t) return; // another camera, or one not listed yet: the next poll lists it
  if (type === "detections") setFrame(t, payload);
  else if (type === "status") setStatus(t, payload);
  else if (type === "count") {
    // Today's counters live in Redis: re-read them rather than add here (the stream may miss or repeat events).
    clearTimeout(state.liveTimers.get(cam));
    state.liveTimers.set(
      cam,
      setTimeout(() => refreshLive(cam).catch((e) => showErrors([e])), 300),
    );
    if (cam === state.selected && state.chartDoc) state.chartDirty = true;
  }
}

async function stream() {
  const ctrl = new AbortController();
  state.stream = ctrl;
  try {
    const r = await fetch("/v1/stream?types=detections,count,status", {
      headers: authHeaders("text/event-stream"),
      signal: ctrl.signal,
      cache: "no-store",
    });
    if (r.status === 401) {
      state.stream = null; // the polling loop reports the refused key; a new key restarts the stream
      return;
    }
    if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
    state.streaming = true;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replace(/\r\n?/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, data.join("\n"));
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
    // The stream is an accelerator: polling keeps the page right without it, so this is not an error banner.
    setConn(`polling every ${POLL_MS / 1000} s (live stream unavailable: ${e.message})`);
  }
  state.streaming = false;
  if (state.stream === ctrl) setTimeout(() => state.stream === ctrl && stream(), STREAM_RETRY_MS);
}

// -- start -------------------------------------------------------------------------------------------------------

function start() {
  loadFragment();
  const filter = $("#camera-filter");
  filter.value = state.filter;
  filter.addEventListener("input", () => {
    const fresh = state.filter !== filter.value;
    state.filter = filter.value;
    applyFilter();
    if (fresh) schedule(300); // newly shown tiles need their live state (once the analyst stops typing)
  });
  const input = $("#key-input");
  input.value = state.key || "";
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    useKey(input.value.trim());
  });
  $("#key-forget").addEventListener("click", () => {
    input.value = "";
    useKey("");
  });
  $("#chart-camera").addEventListener("change", (e) => selectCamera(e.target.value));
  $("#chart-bucket").addEventListener("change", () => loadChart().catch((e) => showErrors([e])));
  $("#chart").addEventListener("mousemove", chartHover);
  window.addEventListener("resize", () => {
    for (const t of state.tiles.values()) t.dirty = true;
    requestAnimationFrame(() => {
      drawDirty();
      drawChart();
    });
  });
  window.addEventListener("storage", (e) => {
    if (e.key === KEY_STORE && e.newValue !== state.key) {
      input.value = e.newValue || "";
      useKey(e.newValue || "");
    }
  });
  drawChart();
  restartStream();
  refreshNow();
}

start();
