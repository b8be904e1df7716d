// Formatting and small DOM helpers shared by the page's modules (no state, no I/O).

export const $ = (sel, root = document) => root.querySelector(sel);

/** An element with properties (textContent, className, dataset via `data`) and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  const { data, ...rest } = props;
  Object.assign(el, rest);
  if (data) Object.assign(el.dataset, data);
  el.append(...children.filter((c) => c != null));
  return el;
}

export function fmt(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

export function fmtSpeed(v) {
  return typeof v === "number" ? `${v.toFixed(1)} km/h` : "not calibrated";
}

export function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleTimeString("en-GB", { hour12: false });
}

export function fmtDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "–" : d.toLocaleString("en-GB", { hour12: false });
}

export function classesText(byClass) {
  const entries = Object.entries(byClass || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length ? entries.map(([k, v]) => `${k} ${fmt(v)}`).join(" · ") : "";
}

// COCO's road users get fixed, distinct colours; any other class a colour hashed from its name.
const CLASS_COLORS = {
  car: "#4da3ff",
  truck: "#ff9f43",
  bus: "#ffd43b",
  motorcycle: "#c77dff",
  bicycle: "#51cf66",
  person: "#ff6b9d",
};

export function classColor(name) {
  if (CLASS_COLORS[name]) return CLASS_COLORS[name];
  let hash = 0;
  for (const ch of name || "") hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 85% 60%)`;
}

/** Midnight UTC of the day of `now` (the counters' day). */
export function utcMidnight(now = new Date()) {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** A Date as the value of an <input type="datetime-local"> (local time, minutes). */
export function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A canvas sized to `cssW` x `cssH` CSS pixels at the screen's density; its 2D context in CSS pixels. */
export function fitCanvas(canvas, cssW, cssH) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(cssW * dpr));
  const hh = Math.max(1, Math.round(cssH * dpr));
  if (canvas.width !== w || canvas.height !== hh) {
    canvas.width = w;
    canvas.height = hh;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}
