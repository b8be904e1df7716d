// Stacked bar charts over time with uPlot (vendored: vendor/uplot, MIT). uPlot draws on its own canvas and styles
// its elements through element.style (CSSOM), which the page's strict style-src allows.

import uPlot from "./vendor/uplot/uPlot.esm.js";

const AXIS = { stroke: "#8a96a6", grid: { stroke: "#1f2a36", width: 1 }, ticks: { stroke: "#243040", width: 1 } };

/**
 * A stacked bar chart in `box` (a <div>): `set(bins, stacks)` draws one bar per bin (start times in seconds, all of
 * one width), each split into `stacks` ({label, color, values}) bottom-up. The legend shows each stack's own value.
 */
export class StackedBars {
  constructor(box, { height = 240, empty = "no data" } = {}) {
    this.box = box;
    this.height = height;
    this.empty = empty;
    this.plot = null;
    this.key = "";
    this.note = document.createElement("p");
    this.note.className = "chart-note muted";
    this.box.append(this.note);
    new ResizeObserver(() => this.resize()).observe(box);
  }

  width() {
    return Math.max(200, this.box.clientWidth || 600);
  }

  resize() {
    if (this.plot && Math.abs(this.plot.width - this.width()) > 1)
      this.plot.setSize({ width: this.width(), height: this.height });
  }

  /** `bins`: bar start times (s); `width_s`: the bins' width; `stacks`: [{label, color, values}]. */
  set(bins, width_s, stacks, range) {
    const raw = stacks.map((s) => s.values);
    const cum = [];
    let acc = bins.map(() => 0);
    for (const s of stacks) {
      acc = acc.map((v, i) => v + (s.values[i] || 0));
      cum.push(acc);
    }
    // uPlot draws the series in order: the tallest (the whole stack) first, each lower part over it.
    const order = stacks.map((_, i) => i).reverse();
    const xs = bins.map((t) => t + width_s / 2);
    const data = [xs, ...order.map((i) => cum[i])];
    const key = stacks.map((s) => `${s.label}:${s.color}`).join("|");
    if (!this.plot || key !== this.key) {
      this.plot?.destroy();
      this.key = key;
      const bars = uPlot.paths.bars({ size: [0.9, Infinity], align: 0 });
      const opts = {
        width: this.width(),
        height: this.height,
        scales: {
          x: { time: true, range: () => [range[0], range[1]] },
          y: { range: (u, lo, hi) => [0, Math.max(5, hi * 1.1)] },
        },
        axes: [{ ...AXIS }, { ...AXIS, size: 48 }],
        legend: { live: true },
        cursor: { points: { show: false } },
        series: [
          { label: "time" },
          ...order.map((i) => ({
            label: stacks[i].label,
            fill: stacks[i].color,
            stroke: stacks[i].color,
            width: 0,
            paths: bars,
            points: { show: false },
            value: (u, v, si, idx) => (idx == null ? "–" : String(this.raw[order[si - 1]][idx] ?? 0)),
          })),
        ],
      };
      this.raw = raw;
      this.plot = new uPlot(opts, data, this.box);
      this.box.append(this.note);
    } else {
      this.raw = raw;
      this.plot.setScale("x", { min: range[0], max: range[1] });
      this.plot.setData(data);
    }
    this.range = range;
    const total = cum.length ? cum[cum.length - 1].reduce((a, b) => a + b, 0) : 0;
    this.note.textContent = total ? "" : this.empty;
    this.box.dataset.total = String(total);
    this.box.dataset.bins = String(bins.length);
  }

  clear(text) {
    this.plot?.destroy();
    this.plot = null;
    this.key = "";
    this.note.textContent = text;
    this.box.dataset.total = "0";
  }
}

/** Bin starts (s) covering [from, to) in steps of `width_ms`, aligned to multiples of the width since the epoch. */
export function binsOf(from, to, width_ms) {
  const out = [];
  for (let t = Math.floor(from.getTime() / width_ms) * width_ms; t < to.getTime(); t += width_ms) out.push(t / 1000);
  return out;
}

/** Values per bin of `buckets` (API buckets with `start`), `pick(bucket)` giving the number. */
export function valuesOf(bins, buckets, pick) {
  const at = new Map(buckets.map((b) => [Date.parse(b.start) / 1000, b]));
  return bins.map((t) => {
    const b = at.get(t);
    return b ? pick(b) || 0 : 0;
  });
}
