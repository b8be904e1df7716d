// The traffic engineer's page, entry module: the key, the refresh loop over the fleet's tiles and chart, the live
// stream, and the camera detail view (picture, line/zone editor, calibration, counts, exports) of the camera
// picked on a tile or named in the fragment (`/ui#key=its_...&camera=ID&filter=...`).

import {
  ApiError,
  auth,
  loadFragment,
  onKeyChangedElsewhere,
  setConn,
  setFragment,
  showErrors,
  storeKey,
} from "./api.js";
import { CameraView } from "./camera.js";
import {
  applyFilter,
  chartCamera,
  fleet,
  listCameras,
  loadChart,
  markAllDirty,
  matches,
  refreshLive,
  setFrame,
  setStatus,
  syncTiles,
} from "./fleet.js";
import { $ } from "./format.js";
import { LiveStream } from "./stream.js";

const POLL_MS = 5000; // refresh period while the live stream is unavailable
const POLL_STREAMING_MS = 15000; // while the stream pushes changes, polling only catches what it missed
const CHART_EVERY = 6; // refresh the chart every 6th cycle

const loop = { timer: null, cycle: 0, pausedUntil: 0, liveTimers: new Map(), streamNote: null };
let view;
let live;

function schedule(ms) {
  clearTimeout(loop.timer);
  loop.timer = setTimeout(refresh, ms);
}

async function refresh() {
  if (!auth.key) {
    setConn("no key");
    const banner = $("#banner");
    banner.textContent = "Enter an API key (its_…) above, or open this page as /ui#key=its_….";
    banner.dataset.status = "nokey";
    banner.hidden = false;
    return;
  }
  const wait = loop.pausedUntil - Date.now();
  if (wait > 0) return schedule(wait);
  const errors = [];
  try {
    const cameras = await listCameras();
    syncTiles(cameras);
    // Only the tiles on show: a big fleet behind a filter costs one request per camera the analyst looks at.
    const results = await Promise.allSettled(cameras.filter(matches).map((c) => refreshLive(c.camera_id)));
    for (const r of results) if (r.status === "rejected") errors.push(r.reason);
    if (loop.cycle % CHART_EVERY === 0 || !fleet.chartLoaded || fleet.chartDirty) await loadChart();
  } catch (e) {
    errors.push(e);
  }
  loop.cycle++;
  showErrors(errors);
  const limited = errors.find((e) => e instanceof ApiError && e.status === 429);
  if (limited) loop.pausedUntil = Date.now() + 1000 * (limited.retryAfter || 5);
  if (errors.some((e) => e instanceof ApiError && e.status === 401)) {
    setConn("key refused");
    return; // no point retrying a refused key: wait for a new one
  }
  const now = new Date().toLocaleTimeString();
  const how = live.streaming
    ? "live"
    : `polling every ${POLL_MS / 1000} s${loop.streamNote ? ` (${loop.streamNote})` : ""}`;
  setConn(errors.length ? `${how} · errors at ${now}` : `${how} · updated ${now}`);
  schedule(limited ? 1000 * (limited.retryAfter || 5) : live.streaming ? POLL_STREAMING_MS : POLL_MS);
}

function onStreamEvent(type, cam, payload) {
  const t = fleet.tiles.get(cam);
  if (!t) return; // another camera, or one not listed yet: the next poll lists it
  if (type === "detections") {
    setFrame(t, payload);
    if (cam === view.id) {
      view.editor.frame = payload;
      view.editor.redraw();
    }
  } else if (type === "status") setStatus(t, payload);
  else if (type === "count") {
    // Today's counters live in Redis: re-read them rather than add here (the stream may miss or repeat events).
    clearTimeout(loop.liveTimers.get(cam));
    loop.liveTimers.set(
      cam,
      setTimeout(() => refreshLive(cam).catch((e) => showErrors([e])), 300),
    );
    if (cam === fleet.selected && fleet.chartLoaded) fleet.chartDirty = true;
  }
}

function useKey(key) {
  storeKey(key);
  loop.pausedUntil = 0;
  live.restart();
  schedule(0);
  if (view.id) view.open(view.id);
}

function setCameraFragment(id) {
  const params = new URLSearchParams(location.hash.slice(1));
  if (id) params.set("camera", id);
  else params.delete("camera");
  setFragment(params);
}

function start() {
  const params = loadFragment();
  fleet.filter = params.get("filter") || "";
  view = new CameraView();
  live = new LiveStream(onStreamEvent, (note) => (loop.streamNote = note));
  fleet.onSelect = (id) => {
    setCameraFragment(id);
    view.open(id);
  };
  view.onClose = () => setCameraFragment(null);
  const filter = $("#camera-filter");
  filter.value = fleet.filter;
  filter.addEventListener("input", () => {
    const fresh = fleet.filter !== filter.value;
    fleet.filter = filter.value;
    applyFilter();
    if (fresh) schedule(300); // newly shown tiles need their live state (once the analyst stops typing)
  });
  const input = $("#key-input");
  input.value = auth.key || "";
  $("#key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    useKey(input.value.trim());
  });
  $("#key-forget").addEventListener("click", () => {
    input.value = "";
    useKey("");
  });
  onKeyChangedElsewhere((key) => {
    input.value = key;
    useKey(key);
  });
  $("#chart-camera").addEventListener("change", (e) => chartCamera(e.target.value));
  $("#chart-bucket").addEventListener("change", () => loadChart().catch((e) => showErrors([e])));
  window.addEventListener("resize", markAllDirty);
  window.addEventListener("hashchange", () => {
    const before = auth.key;
    const id = loadFragment().get("camera"); // a pasted link may carry a key too
    if (auth.key !== before) {
      input.value = auth.key || "";
      useKey(auth.key);
    }
    if (id && id !== view.id) view.open(id);
  });
  live.restart();
  schedule(0);
  const cam = params.get("camera");
  if (cam && auth.key) {
    chartCamera(cam, false);
    view.open(cam);
  }
}

start();
