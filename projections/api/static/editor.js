// The line and zone editor over the camera's picture: pointer events (mouse, pen and touch) draw counting lines
// (two clicks) and zones (clicks, closed on the first point), drag their points, and save them with
// PATCH /v1/cameras/{id}. Coordinates are normalised (0..1, origin top-left), as CameraConfig has them.

import { Calibration } from "./calibration.js";
import { $, fitCanvas, h } from "./format.js";
import { insidePolygon, segmentDistance } from "./homography.js";
import { reload, save } from "./editor_save.js";
import { drawOverlay } from "./overlay.js";

const HIT_PX = 12; // how near (CSS pixels) a pointer must come to a point or line to pick it

const HINTS = {
  select: "Click a line or zone to edit it; drag its points to move them.",
  line: "Click the line's two ends on the picture. Vehicles crossing it along the green arrow count IN.",
  zone: "Click the zone's corners; click the first point (or “close zone”) to finish.",
  calibrate:
    "Click four points on the road (e.g. lane-marking corners), then type where they are on the ground, in metres.",
};

const clamp = (v) => Math.min(1, Math.max(0, v));
const copy = (v) => JSON.parse(JSON.stringify(v));

/** The next free id "<prefix>-N" (ids already used stay as they are, so saved counts keep their line). */
function nextId(prefix, used) {
  let n = 0;
  for (const id of used) {
    const m = new RegExp(`^${prefix}-(\\d+)$`).exec(id);
    if (m) n = Math.max(n, Number(m[1]));
  }
  return `${prefix}-${n + 1}`;
}

export class Editor {
  constructor() {
    this.canvas = $("#editor-canvas");
    this.camera = null; // camera id
    this.lines = [];
    this.zones = [];
    this.calibration = null; // {image_points, ground_points} being edited, or null
    this.tool = "select";
    this.pending = []; // points of the line or zone being drawn
    this.hover = null;
    this.selected = null; // {kind: "line" | "zone", id}
    this.drag = null; // {get, set} of the point being dragged
    this.dirty = false;
    this.frame = null; // latest live detections
    this.showBoxes = true;
    this.dims = { w: 16, h: 9 }; // the frame's pixels (for metres per pixel and the aspect)
    this.onSaved = () => {};
    this.calib = new Calibration(this);
    this.bind();
  }

  // -- model -----------------------------------------------------------------------------------------------------

  /** Show camera `cam`'s configuration (unless the analyst has unsaved changes of the same camera). */
  load(cam, config, force = false) {
    if (!force && this.dirty && cam === this.camera) return;
    const changed = cam !== this.camera;
    this.camera = cam;
    this.lines = copy(config?.lines || []);
    this.zones = copy(config?.zones || []);
    this.calibration = config?.calibration ? copy(config.calibration) : null;
    this.calib.load(this.calibration);
    this.dirty = false;
    if (changed) {
      this.pending = [];
      this.selected = null;
      this.setTool("select");
    }
    this.renderPanel();
    this.redraw();
  }

  touch() {
    this.dirty = true;
    $("#save-status").textContent = "unsaved changes";
    $("#save-status").dataset.state = "dirty";
    this.renderPanel();
    this.redraw();
  }

  line() {
    return this.selected?.kind === "line" ? this.lines.find((l) => l.line_id === this.selected.id) : null;
  }

  zone() {
    return this.selected?.kind === "zone" ? this.zones.find((z) => z.zone_id === this.selected.id) : null;
  }

  setTool(tool) {
    this.tool = tool;
    this.pending = [];
    this.hover = null;
    for (const b of document.querySelectorAll("[data-tool]"))
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    $("#tool-hint").textContent = HINTS[tool];
    $("#zone-close").hidden = tool !== "zone";
    $("#calib-props").hidden = tool !== "calibrate" && !this.calibration;
    if (tool === "calibrate" && !this.calibration) this.calibration = { image_points: [], ground_points: [] };
    this.canvas.dataset.tool = tool;
    this.renderPanel();
    this.redraw();
  }

  closeZone() {
    if (this.pending.length < 3) {
      $("#tool-hint").textContent = "A zone needs at least three points.";
      return;
    }
    const zone_id = nextId(
      "zone",
      this.zones.map((z) => z.zone_id),
    );
    this.zones.push({ zone_id, name: "", kind: "approach", points: this.pending.map(({ x, y }) => ({ x, y })) });
    this.selected = { kind: "zone", id: zone_id };
    this.setTool("select");
    this.touch();
    $("#zone-name-input").focus();
  }

  // -- pointer ---------------------------------------------------------------------------------------------------

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: clamp((e.clientX - r.left) / r.width), y: clamp((e.clientY - r.top) / r.height), r };
  }

  /** The draggable point under `p` (CSS-pixel distance), as {get, set}. */
  handleAt(p) {
    const { width: w, height: hh } = p.r;
    const near = (q) => Math.hypot((q.x - p.x) * w, (q.y - p.y) * hh) <= HIT_PX;
    const cal = this.calibration?.image_points || [];
    for (const q of cal)
      if (near(q) && (this.tool === "calibrate" || this.tool === "select")) return { obj: q, kx: "x", ky: "y" };
    const lines = [this.line(), ...this.lines].filter(Boolean);
    for (const l of lines) {
      if (near({ x: l.x1, y: l.y1 })) return { obj: l, kx: "x1", ky: "y1", sel: { kind: "line", id: l.line_id } };
      if (near({ x: l.x2, y: l.y2 })) return { obj: l, kx: "x2", ky: "y2", sel: { kind: "line", id: l.line_id } };
    }
    const z = this.zone();
    if (z) for (const q of z.points) if (near(q)) return { obj: q, kx: "x", ky: "y", sel: this.selected };
    return null;
  }

  pick(p) {
    const { width: w, height: hh } = p.r;
    const px = (q) => ({ x: q.x * w, y: q.y * hh });
    for (const l of this.lines)
      if (segmentDistance(px(p), px({ x: l.x1, y: l.y1 }), px({ x: l.x2, y: l.y2 })) <= HIT_PX)
        return { kind: "line", id: l.line_id };
    for (const z of [...this.zones].reverse()) if (insidePolygon(p, z.points)) return { kind: "zone", id: z.zone_id };
    return null;
  }

  down(e) {
    if (e.button !== undefined && e.button !== 0) return;
    e.preventDefault();
    const p = this.point(e);
    const at = { x: p.x, y: p.y };
    if (this.tool === "line") {
      if (!this.pending.length) this.pending = [at];
      else {
        const a = this.pending[0];
        if (Math.hypot((a.x - at.x) * p.r.width, (a.y - at.y) * p.r.height) < 4) return; // the same point twice
        const line_id = nextId(
          "line",
          this.lines.map((l) => l.line_id),
        );
        this.lines.push({
          line_id,
          name: "",
          x1: a.x,
          y1: a.y,
          x2: at.x,
          y2: at.y,
          in_direction: "LEFT_TO_RIGHT",
          one_way: false,
        });
        this.selected = { kind: "line", id: line_id };
        this.setTool("select");
        this.touch();
      }
      return this.redraw();
    }
    if (this.tool === "zone") {
      const first = this.pending[0];
      if (this.pending.length >= 3 && Math.hypot((first.x - at.x) * p.r.width, (first.y - at.y) * p.r.height) <= HIT_PX)
        return this.closeZone();
      this.pending.push(at);
      return this.redraw();
    }
    const hit = this.handleAt(p);
    if (hit) {
      if (hit.sel) this.selected = hit.sel;
      this.drag = hit;
      this.canvas.setPointerCapture?.(e.pointerId);
      this.renderPanel();
      return this.redraw();
    }
    if (this.tool === "calibrate") {
      if (this.calibration.image_points.length < 4) {
        this.calibration.image_points.push(at);
        this.calib.changed();
        this.touch();
      }
      return;
    }
    this.selected = this.pick(p);
    this.renderPanel();
    this.redraw();
  }

  move(e) {
    const p = this.point(e);
    if (this.drag) {
      this.drag.obj[this.drag.kx] = p.x;
      this.drag.obj[this.drag.ky] = p.y;
      if (this.drag.obj === this.calibration?.image_points.find((q) => q === this.drag.obj)) this.calib.changed();
      this.dirty = true;
      return this.redraw();
    }
    if (this.pending.length) {
      this.hover = { x: p.x, y: p.y };
      this.redraw();
    }
  }

  up() {
    if (!this.drag) return;
    this.drag = null;
    this.touch();
  }

  bind() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", () => this.up());
    c.addEventListener("pointercancel", () => this.up());
    for (const b of document.querySelectorAll("[data-tool]"))
      b.addEventListener("click", () => this.setTool(b.dataset.tool));
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.pending.length) this.setTool(this.tool);
    });
    $("#zone-close").addEventListener("click", () => this.closeZone());
    $("#line-name-input").addEventListener("input", (e) => this.edit(this.line(), "name", e.target.value));
    $("#line-flip").addEventListener("click", () => {
      const l = this.line();
      if (l) this.edit(l, "in_direction", l.in_direction === "RIGHT_TO_LEFT" ? "LEFT_TO_RIGHT" : "RIGHT_TO_LEFT");
    });
    $("#line-one-way").addEventListener("change", (e) => this.edit(this.line(), "one_way", e.target.checked));
    $("#line-delete").addEventListener("click", () => this.remove("line"));
    $("#zone-name-input").addEventListener("input", (e) => this.edit(this.zone(), "name", e.target.value));
    $("#zone-kind").addEventListener("change", (e) => this.edit(this.zone(), "kind", e.target.value));
    $("#zone-delete").addEventListener("click", () => this.remove("zone"));
    $("#boxes-toggle").addEventListener("change", (e) => {
      this.showBoxes = e.target.checked;
      this.redraw();
    });
    $("#editor-save").addEventListener("click", () => this.save());
    $("#editor-revert").addEventListener("click", () => this.reload());
    new ResizeObserver(() => this.redraw()).observe(c);
  }

  edit(obj, key, value) {
    if (!obj) return;
    obj[key] = value;
    this.dirty = true;
    $("#save-status").textContent = "unsaved changes";
    $("#save-status").dataset.state = "dirty";
    this.renderList();
    this.renderProps();
    this.redraw();
  }

  remove(kind) {
    if (kind === "line") this.lines = this.lines.filter((l) => l.line_id !== this.selected?.id);
    else this.zones = this.zones.filter((z) => z.zone_id !== this.selected?.id);
    this.selected = null;
    this.touch();
  }

  // -- panel -----------------------------------------------------------------------------------------------------

  renderPanel() {
    this.renderList();
    this.renderProps();
  }

  renderList() {
    const items = [
      ...this.lines.map((l) => ({
        kind: "line",
        id: l.line_id,
        text: `line ${l.name || l.line_id}`,
        data: { lineId: l.line_id },
      })),
      ...this.zones.map((z) => ({
        kind: "zone",
        id: z.zone_id,
        text: `${z.kind} zone ${z.name || z.zone_id}`,
        data: { zoneId: z.zone_id },
      })),
    ];
    $("#item-list").replaceChildren(
      ...items.map((it) => {
        const b = h("button", { type: "button", textContent: it.text, className: "item", data: it.data });
        b.setAttribute("aria-pressed", String(this.selected?.kind === it.kind && this.selected.id === it.id));
        b.addEventListener("click", () => {
          this.selected = { kind: it.kind, id: it.id };
          this.renderPanel();
          this.redraw();
        });
        return b;
      }),
    );
    if (!items.length) $("#item-list").append(h("p", { className: "muted", textContent: "No lines or zones yet." }));
  }

  renderProps() {
    const l = this.line();
    const z = this.zone();
    $("#line-props").hidden = !l;
    $("#zone-props").hidden = !z;
    if (l) {
      const input = $("#line-name-input");
      if (document.activeElement !== input) input.value = l.name;
      $("#line-id").textContent = l.line_id;
      const rtl = l.in_direction === "RIGHT_TO_LEFT";
      $("#line-direction").textContent = rtl ? "IN: right → left" : "IN: left → right";
      $("#line-direction").dataset.direction = l.in_direction;
      $("#line-one-way").checked = !!l.one_way;
    }
    if (z) {
      const input = $("#zone-name-input");
      if (document.activeElement !== input) input.value = z.name;
      $("#zone-id").textContent = z.zone_id;
      $("#zone-kind").value = ["approach", "occupancy", "stop", "privacy"].includes(z.kind) ? z.kind : "approach";
    }
    $("#calib-props").hidden = this.tool !== "calibrate" && !this.calibration;
  }

  // -- drawing ---------------------------------------------------------------------------------------------------

  redraw() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      const w = this.canvas.clientWidth;
      const hh = this.canvas.clientHeight;
      if (!w || !hh) return;
      drawOverlay(fitCanvas(this.canvas, w, hh), this, w, hh);
    });
  }

  // -- saving (editor_save.js) ----------------------------------------------------------------------------------

  reload() {
    return reload(this);
  }

  save(body) {
    return save(this, body);
  }
}
