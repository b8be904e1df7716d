// Speed calibration: four points on the road in the picture and where they are on the ground (metres). The page
// computes the homography (normalised image -> metres) to preview the scale it implies, and saves the point pairs
// as CameraConfig.calibration; the analytics stage computes the same homography from them.

import { $, h } from "./format.js";
import { homography, metresPerPixel, previewPoints } from "./homography.js";

// A 3.5 m wide lane and 12 m of it: what most road markings give; the analyst types the real figures.
const DEFAULT_GROUND = [
  { x: 0, y: 0 },
  { x: 3.5, y: 0 },
  { x: 3.5, y: 12 },
  { x: 0, y: 12 },
];

export class Calibration {
  constructor(editor) {
    this.ed = editor;
    this.dirty = false;
    this.rows = [];
    const body = $("#calib-rows");
    for (let i = 0; i < 4; i++) {
      const gx = h("input", { type: "number", step: "0.01", inputMode: "decimal", data: { testid: `calib-x-${i}` } });
      const gy = h("input", { type: "number", step: "0.01", inputMode: "decimal", data: { testid: `calib-y-${i}` } });
      gx.setAttribute("aria-label", `point ${i + 1} ground x (m)`);
      gy.setAttribute("aria-label", `point ${i + 1} ground y (m)`);
      const img = h("td", { className: "muted", data: { testid: `calib-img-${i}` } });
      for (const input of [gx, gy])
        input.addEventListener("input", () => {
          this.dirty = true;
          this.ed.dirty = true;
          this.preview();
        });
      body.append(h("tr", {}, h("th", { textContent: String(i + 1) }), img, h("td", {}, gx), h("td", {}, gy)));
      this.rows.push({ gx, gy, img });
    }
    $("#calib-remove").addEventListener("click", () => this.remove());
    $("#calib-reset").addEventListener("click", () => {
      if (!this.ed.calibration) return;
      this.ed.calibration.image_points = [];
      this.changed();
      this.ed.touch();
    });
  }

  /** Show the saved calibration (or none). */
  load(cal) {
    this.dirty = false;
    const ground = cal?.ground_points?.length === 4 ? cal.ground_points : DEFAULT_GROUND;
    this.rows.forEach((r, i) => {
      r.gx.value = String(ground[i].x);
      r.gy.value = String(ground[i].y);
    });
    $("#calib-saved").textContent = cal
      ? "saved calibration shown; drag its points or edit the metres to change it"
      : "no calibration saved: speeds show as “not calibrated”";
    this.preview();
  }

  /** The image points changed (placed or dragged). */
  changed() {
    this.dirty = true;
    this.preview();
  }

  ground() {
    return this.rows.map((r) => ({ x: Number.parseFloat(r.gx.value), y: Number.parseFloat(r.gy.value) }));
  }

  /** {value: {image_points, ground_points}} or {error: text}. */
  value() {
    const image = this.ed.calibration?.image_points || [];
    if (image.length !== 4) return { error: `place 4 points on the picture (${image.length} placed)` };
    const ground = this.ground();
    try {
      const H = homography(image, ground);
      return { value: { image_points: image.map(({ x, y }) => ({ x, y })), ground_points: ground }, H };
    } catch (e) {
      return { error: e.message };
    }
  }

  preview() {
    const image = this.ed.calibration?.image_points || [];
    this.rows.forEach((r, i) => {
      const p = image[i];
      r.img.textContent = p ? `${p.x.toFixed(3)}, ${p.y.toFixed(3)}` : "–";
    });
    const out = $("#calib-preview");
    const msg = $("#calib-message");
    for (const k of ["mppCentre", "mppNear", "mppFar"]) delete out.dataset[k];
    if (!image.length) {
      out.textContent = "";
      msg.textContent = "";
      return;
    }
    const v = this.value();
    if (v.error) {
      out.textContent = "";
      msg.textContent = v.error;
      msg.dataset.state = "invalid";
      return;
    }
    const { w, h: hh } = this.ed.dims;
    const pts = previewPoints(image);
    const mpp = Object.fromEntries(Object.entries(pts).map(([k, p]) => [k, metresPerPixel(v.H, p, w, hh)]));
    out.dataset.mppCentre = String(mpp.centre);
    out.dataset.mppNear = String(mpp.near);
    out.dataset.mppFar = String(mpp.far);
    out.textContent =
      `${(mpp.centre * 100).toFixed(2)} cm per pixel at the centre of the quad · ` +
      `${(mpp.near * 100).toFixed(2)} cm at its near edge · ${(mpp.far * 100).toFixed(2)} cm at its far edge ` +
      `(${w}×${hh} frame)`;
    msg.textContent = this.dirty ? "not saved yet: Save applies it" : "";
    msg.dataset.state = "ok";
    this.ed.redraw();
  }

  async remove() {
    this.ed.calibration = null;
    this.dirty = false;
    this.load(null);
    this.ed.redraw();
    await this.ed.save({ calibration: null });
  }
}
