// One camera's detail view: its recent still with the live boxes and the editor over it, today's counts per line
// with a chart by class, the latest speeds, open incidents, turning movements, statistics and CSV exports.

import { ApiError, api, apiBlob, describe } from "./api.js";
import { StackedBars, binsOf, valuesOf } from "./charts.js";
import { Editor } from "./editor.js";
import { Exports } from "./exports.js";
import { $, classColor, h, utcMidnight } from "./format.js";
import { renderIncidents, renderLineCounts, renderMatrix, renderSpeeds, renderStats } from "./tables.js";

const PICTURE_MS = 3000; // the still and the boxes
const DATA_MS = 30000; // counts, speeds, incidents, movements, statistics
const BUCKET_MS = { "15m": 900e3, "1h": 3600e3 };
export const NO_PICTURE = "no recent picture: the camera has sent no frame lately";

const enc = encodeURIComponent;

export class CameraView {
  constructor() {
    this.id = null;
    this.doc = null; // GET /v1/cameras/{id}
    this.timers = [];
    this.seq = 0;
    this.picture = null; // object URL of the shown still
    this.counts = null;
    this.editor = new Editor();
    this.editor.onSaved = (doc) => {
      this.doc = doc;
      this.syncLineSelect();
      this.refreshData();
    };
    this.chart = new StackedBars($("#counts-chart"), { height: 220, empty: "no vehicles counted today" });
    this.exports = new Exports(
      () => this.id,
      () => $("#counts-bucket").value,
    );
    this.onClose = () => {};
    $("#view-close").addEventListener("click", () => this.close());
    $("#counts-bucket").addEventListener("change", () => this.refreshData());
    $("#counts-line").addEventListener("change", () => this.drawChart());
    $("#snapshot-img").addEventListener("load", () => this.fitStage());
  }

  get lines() {
    return this.editor.camera === this.id ? this.editor.lines : this.doc?.config?.lines || [];
  }

  errors(list) {
    const box = $("#view-errors");
    box.replaceChildren(...[...new Set(list.map(describe))].map((t) => h("div", { textContent: t })));
    box.hidden = !list.length;
  }

  async open(id) {
    if (this.id === id && !$("#camera-view").hidden) return;
    this.close(false);
    this.id = id;
    const seq = ++this.seq;
    $("#camera-view").hidden = false;
    $("#view-title").textContent = id;
    $("#view-id").textContent = id;
    $("#camera-view").dataset.cameraId = id;
    this.setPicture(null, "loading the picture…");
    this.counts = null;
    this.chart.clear("loading…");
    try {
      this.doc = await api(`/v1/cameras/${enc(id)}`);
    } catch (e) {
      if (seq === this.seq) this.errors([e]);
      return;
    }
    if (seq !== this.seq) return;
    $("#view-title").textContent = this.doc.name || id;
    showAnalytics(this.doc.analytics);
    const st = this.doc.status;
    if (st?.width > 0 && st?.height > 0) this.setDims(st.width, st.height);
    this.editor.load(id, this.doc.config || {}, true);
    this.editor.etag = this.doc.etag || null; // sent as If-Match, so a concurrent edit is not overwritten
    this.syncLineSelect();
    this.exports.resetRange();
    $("#camera-view").scrollIntoView({ block: "start" });
    this.refreshPicture();
    this.refreshData();
    this.timers.push(setInterval(() => this.refreshPicture(), PICTURE_MS));
    this.timers.push(setInterval(() => this.refreshData(), DATA_MS));
  }

  close(notify = true) {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.seq++;
    if (notify) {
      this.id = null;
      $("#camera-view").hidden = true;
      this.onClose();
    }
  }

  // -- the picture -----------------------------------------------------------------------------------------------

  setDims(w, hh) {
    this.editor.dims = { w, h: hh };
    $("#stage").style.aspectRatio = `${w} / ${hh}`;
    this.editor.calib.preview();
    this.editor.redraw();
  }

  fitStage() {
    const img = $("#snapshot-img");
    if (img.naturalWidth && !this.fromHeaders) this.setDims(img.naturalWidth, img.naturalHeight);
  }

  setPicture(url, note) {
    const img = $("#snapshot-img");
    const old = this.picture;
    this.picture = url;
    if (url) {
      img.src = url;
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
    if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
    $("#no-picture").hidden = !!url;
    $("#no-picture").textContent = note || NO_PICTURE;
  }

  async refreshPicture() {
    const id = this.id;
    const seq = this.seq;
    const [snap, live] = await Promise.allSettled([
      apiBlob(`/v1/cameras/${enc(id)}/snapshot.jpg`, {}, "image/jpeg"),
      api(`/v1/cameras/${enc(id)}/live`),
    ]);
    if (seq !== this.seq) return;
    const errs = [];
    let liveFrame = null;
    if (live.status === "fulfilled") {
      liveFrame = live.value.frame;
      if (liveFrame?.width > 0 && !this.picture) this.setDims(liveFrame.width, liveFrame.height);
    } else if (!(live.reason instanceof ApiError && live.reason.status === 404)) errs.push(live.reason);
    const status = $("#snapshot-status");
    if (snap.status === "fulfilled") {
      const { blob, response } = snap.value;
      const w = Number(response.headers.get("X-Frame-Width"));
      const hh = Number(response.headers.get("X-Frame-Height"));
      this.fromHeaders = w > 0 && hh > 0;
      if (this.fromHeaders) this.setDims(w, hh);
      this.setPicture(URL.createObjectURL(blob));
      const at = response.headers.get("X-Captured-At");
      const seqNo = response.headers.get("X-Frame-Seq") || "";
      const when = at ? ` at ${new Date(at).toLocaleTimeString()}` : "";
      status.textContent = `picture of frame ${seqNo || "?"}${when}`;
      status.dataset.frameSeq = seqNo;
      // The boxes drawn over a still are that frame's own detections (the latest frame's would not line up with
      // a picture up to a few seconds old); none until the frame has been through inference.
      this.editor.frame = seqNo ? await this.frameDetections(id, seqNo, errs) : null;
      if (seq !== this.seq) return;
    } else if (snap.reason instanceof ApiError && snap.reason.status === 404) {
      this.setPicture(null, NO_PICTURE);
      status.textContent = "";
      status.dataset.frameSeq = "";
      this.editor.frame = liveFrame; // no picture: the latest boxes on the blank stage
    } else errs.push(snap.reason);
    this.editor.redraw();
    this.pictureErrors = errs;
    this.errors([...errs, ...(this.dataErrors || [])]);
  }

  /** The detections of frame `seqNo` (pixel boxes and the frame's size), or null while it is not projected. */
  async frameDetections(id, seqNo, errs) {
    try {
      const doc = await api(`/v1/cameras/${enc(id)}/detections`, { frame_seq: seqNo, limit: 1 });
      return doc.items?.[0] || null;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) errs.push(e);
      return null;
    }
  }

  // -- the numbers -----------------------------------------------------------------------------------------------

  syncLineSelect() {
    const sel = $("#counts-line");
    const keep = sel.value;
    sel.replaceChildren(
      h("option", { value: "", textContent: "all lines" }),
      ...this.lines.map((l) => h("option", { value: l.line_id, textContent: l.name || l.line_id })),
    );
    sel.value = [...sel.options].some((o) => o.value === keep) ? keep : "";
  }

  async refreshData() {
    const id = this.id;
    const seq = this.seq;
    if (!id) return;
    const to = new Date();
    const from = utcMidnight(to);
    const bucket = $("#counts-bucket").value;
    const range = { from: from.toISOString(), to: to.toISOString() };
    const [counts, events, incidents, moves, stats] = await Promise.allSettled([
      api(`/v1/cameras/${enc(id)}/counts`, { bucket, ...range }),
      api(`/v1/cameras/${enc(id)}/vehicle-events`, { limit: "20" }),
      api("/v1/incidents", { camera_id: id, state: "open" }),
      api(`/v1/cameras/${enc(id)}/movements`, { bucket, ...range }),
      api(`/v1/cameras/${enc(id)}/stats`, {
        from: new Date(to.getTime() - 15 * 60e3).toISOString(),
        to: to.toISOString(),
      }),
    ]);
    if (seq !== this.seq) return;
    const errs = [];
    const box = $("#line-counts");
    if (counts.status === "fulfilled") {
      this.counts = { doc: counts.value, from, to, bucket };
      renderLineCounts(counts.value, this.lines);
      Object.assign(box.dataset, { camera: id, bucket, from: range.from, to: range.to, loaded: "1" });
      this.drawChart();
    } else errs.push(counts.reason);
    if (events.status === "fulfilled") renderSpeeds(events.value.items || [], this.lines);
    else errs.push(events.reason);
    if (incidents.status === "fulfilled") renderIncidents(incidents.value.items || []);
    else errs.push(incidents.reason);
    if (moves.status === "fulfilled") {
      renderMatrix(moves.value, "");
      Object.assign($("#od-matrix").dataset, { bucket, from: range.from, to: range.to, loaded: "1" });
    } else if (moves.reason instanceof ApiError && moves.reason.status === 404) {
      renderMatrix(null, "turning movements are not available from this API");
    } else errs.push(moves.reason);
    if (stats.status === "fulfilled") renderStats(stats.value.items || []);
    else errs.push(stats.reason);
    $("#camera-data").dataset.loaded = String(Date.now());
    this.dataErrors = errs;
    this.errors([...(this.pictureErrors || []), ...errs]);
  }

  drawChart() {
    if (!this.counts) return;
    const { doc, from, to, bucket } = this.counts;
    const line = $("#counts-line").value;
    const part = (b) => (line ? b.lines?.[line] : b);
    const buckets = doc.buckets || [];
    const classes = [...new Set(buckets.flatMap((b) => Object.keys(part(b)?.by_class || {})))].sort();
    const width = BUCKET_MS[bucket];
    const bins = binsOf(from, to, width);
    if (!classes.length) {
      this.chart.clear(this.lines.length ? "no vehicles counted today" : "draw a line to start counting");
      return;
    }
    this.chart.set(
      bins,
      width / 1000,
      classes.map((c) => ({
        label: c,
        color: classColor(c),
        values: valuesOf(bins, buckets, (b) => part(b)?.by_class?.[c]),
      })),
      // up to the end of the bin now in progress, so its bar is drawn whole
      [from.getTime() / 1000, Math.max(bins[bins.length - 1] + width / 1000, from.getTime() / 1000 + 3600)],
    );
  }
}

// The camera's analytics lag (GET /v1/cameras/{id} `analytics`): shown only when its detections fall behind.
function showAnalytics(a) {
  const el = $("#analytics-state");
  const degraded = a?.status === "DEGRADED";
  el.hidden = !degraded;
  el.dataset.state = a?.status || "";
  el.className = degraded ? "badge badge-degraded" : "badge";
  el.textContent = degraded ? `analytics ${Math.round(a.lag_s)} s behind` : "";
  el.title = degraded
    ? `Detections are more than ${a.degraded_after_s} s behind what the camera sends: inference is falling behind and frames may expire unprocessed.`
    : "";
}
