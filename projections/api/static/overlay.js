// What the editor draws over the camera's picture: the picture's detection boxes, counting lines with their IN/OUT arrows,
// zones, the calibration quad and the shape being drawn. Coordinates arrive normalised (0..1).

import { drawBoxes } from "./fleet.js";
import { inDirection } from "./homography.js";

const LINE = "#ff4d6d";
const SELECTED = "#ffe066";
const ZONE = { approach: "#4dabf7", occupancy: "#69db7c", stop: "#ff922b" };
const CALIB = "#e599f7";

function label(ctx, text, x, y, color) {
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  const w = ctx.measureText(text).width + 8;
  ctx.fillStyle = "rgba(11, 15, 20, 0.8)";
  ctx.fillRect(x - w / 2, y - 9, w, 18);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
}

function handle(ctx, x, y, color) {
  ctx.fillStyle = color;
  ctx.strokeStyle = "#0b0f14";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(x, y, 6, 0, 2 * Math.PI);
  ctx.fill();
  ctx.stroke();
}

function arrow(ctx, x, y, ux, uy, len, color, text) {
  const ex = x + ux * len;
  const ey = y + uy * len;
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(ex, ey);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(ex + ux * 8, ey + uy * 8);
  ctx.lineTo(ex - uy * 7, ey + ux * 7);
  ctx.lineTo(ex + uy * 7, ey - ux * 7);
  ctx.closePath();
  ctx.fill();
  label(ctx, text, ex + ux * 22, ey + uy * 22, color);
}

function drawLine(ctx, line, w, h, selected) {
  const color = selected ? SELECTED : LINE;
  const [ax, ay, bx, by] = [line.x1 * w, line.y1 * h, line.x2 * w, line.y2 * h];
  ctx.strokeStyle = color;
  ctx.lineWidth = selected ? 4 : 3;
  ctx.beginPath();
  ctx.moveTo(ax, ay);
  ctx.lineTo(bx, by);
  ctx.stroke();
  const mx = (ax + bx) / 2;
  const my = (ay + by) / 2;
  const u = inDirection(line, w, h);
  arrow(ctx, mx, my, u.x, u.y, 28, "#3fbf7f", "IN");
  if (!line.one_way) arrow(ctx, mx, my, -u.x, -u.y, 18, "#f5a524", "OUT");
  handle(ctx, ax, ay, color);
  handle(ctx, bx, by, color);
  label(ctx, line.name || line.line_id, ax + (bx - ax) * 0.15, ay + (by - ay) * 0.15 - 16, color);
}

/** A privacy mask: ingest paints it black before encoding, so it is drawn opaque black, hatched. */
function drawPrivacy(ctx, zone, w, h, selected) {
  const path = () => {
    ctx.beginPath();
    zone.points.forEach((p, i) => (i ? ctx.lineTo(p.x * w, p.y * h) : ctx.moveTo(p.x * w, p.y * h)));
    ctx.closePath();
  };
  ctx.save();
  path();
  ctx.fillStyle = "#000000";
  ctx.fill();
  ctx.clip();
  ctx.strokeStyle = "rgba(255, 255, 255, 0.22)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let d = -h; d < w; d += 12) {
    ctx.moveTo(d, h);
    ctx.lineTo(d + h, 0);
  }
  ctx.stroke();
  ctx.restore();
  ctx.strokeStyle = selected ? SELECTED : "#f8f9fa";
  ctx.lineWidth = selected ? 3 : 2;
  path();
  ctx.stroke();
  if (selected) for (const p of zone.points) handle(ctx, p.x * w, p.y * h, SELECTED);
  const cx = zone.points.reduce((s, p) => s + p.x, 0) / zone.points.length;
  const cy = zone.points.reduce((s, p) => s + p.y, 0) / zone.points.length;
  label(ctx, `${zone.name || zone.zone_id} (privacy mask)`, cx * w, cy * h, selected ? SELECTED : "#f8f9fa");
}

function drawZone(ctx, zone, w, h, selected) {
  if (zone.kind === "privacy") return drawPrivacy(ctx, zone, w, h, selected);
  const base = ZONE[zone.kind] || "#adb5bd";
  const color = selected ? SELECTED : base;
  ctx.strokeStyle = color;
  ctx.fillStyle = `${base}33`;
  ctx.lineWidth = selected ? 3 : 2;
  ctx.beginPath();
  zone.points.forEach((p, i) => (i ? ctx.lineTo(p.x * w, p.y * h) : ctx.moveTo(p.x * w, p.y * h)));
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  if (selected) for (const p of zone.points) handle(ctx, p.x * w, p.y * h, color);
  const cx = zone.points.reduce((s, p) => s + p.x, 0) / zone.points.length;
  const cy = zone.points.reduce((s, p) => s + p.y, 0) / zone.points.length;
  label(ctx, `${zone.name || zone.zone_id} (${zone.kind})`, cx * w, cy * h, color);
}

function drawCalibration(ctx, pts, w, h) {
  ctx.strokeStyle = CALIB;
  ctx.lineWidth = 2;
  ctx.setLineDash([6, 4]);
  ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(p.x * w, p.y * h) : ctx.moveTo(p.x * w, p.y * h)));
  if (pts.length === 4) ctx.closePath();
  ctx.stroke();
  ctx.setLineDash([]);
  pts.forEach((p, i) => {
    handle(ctx, p.x * w, p.y * h, CALIB);
    label(ctx, String(i + 1), p.x * w + 14, p.y * h - 14, CALIB);
  });
}

function drawPending(ctx, ed, w, h) {
  const { pending, hover, tool } = ed;
  if (!pending.length) return;
  ctx.strokeStyle = SELECTED;
  ctx.lineWidth = 2;
  ctx.setLineDash([5, 4]);
  ctx.beginPath();
  pending.forEach((p, i) => (i ? ctx.lineTo(p.x * w, p.y * h) : ctx.moveTo(p.x * w, p.y * h)));
  if (hover) ctx.lineTo(hover.x * w, hover.y * h);
  ctx.stroke();
  ctx.setLineDash([]);
  pending.forEach((p, i) => handle(ctx, p.x * w, p.y * h, i === 0 && tool === "zone" ? "#ffffff" : SELECTED));
}

/** Everything of editor `ed` on `ctx`, a `w` x `h` CSS-pixel area over the picture. */
export function drawOverlay(ctx, ed, w, h) {
  ctx.clearRect(0, 0, w, h);
  if (ed.frame && ed.frame.width > 0 && ed.showBoxes) drawBoxes(ctx, ed.frame, w, h);
  const sel = ed.selected;
  for (const z of ed.zones) drawZone(ctx, z, w, h, sel?.kind === "zone" && sel.id === z.zone_id);
  for (const l of ed.lines) drawLine(ctx, l, w, h, sel?.kind === "line" && sel.id === l.line_id);
  if (ed.calibration && ed.calibration.image_points.length) drawCalibration(ctx, ed.calibration.image_points, w, h);
  drawPending(ctx, ed, w, h);
}
