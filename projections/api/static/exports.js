// CSV exports of the camera's data for a chosen time range: the API's own CSV (`?format=csv`), fetched with the
// bearer header and saved as a download.

import { ApiError, apiBlob } from "./api.js";
import { $, toLocalInput, utcMidnight } from "./format.js";

const WHAT = {
  counts: { path: "counts", bucketed: true },
  movements: { path: "movements", bucketed: true },
  events: { path: "vehicle-events", bucketed: false },
  stats: { path: "stats", bucketed: false },
};

export class Exports {
  constructor(getCamera, getBucket) {
    this.getCamera = getCamera;
    this.getBucket = getBucket;
    for (const [what] of Object.entries(WHAT))
      $(`#export-${what}`).addEventListener("click", () => this.download(what));
    this.resetRange();
  }

  /** Today (from midnight UTC) up to the next full minute. */
  resetRange() {
    const now = new Date();
    const to = new Date(Math.ceil((now.getTime() + 1) / 60e3) * 60e3);
    $("#export-from").value = toLocalInput(utcMidnight(now));
    $("#export-to").value = toLocalInput(to);
  }

  range() {
    const from = new Date($("#export-from").value);
    const to = new Date($("#export-to").value);
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new Error("enter both a start and an end");
    if (to <= from) throw new Error("the end must come after the start");
    return { from: from.toISOString(), to: to.toISOString() };
  }

  async download(what) {
    const status = $("#export-status");
    const cam = this.getCamera();
    let params;
    try {
      params = { format: "csv", ...this.range() };
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    if (WHAT[what].bucketed) params.bucket = this.getBucket();
    const path = `/v1/cameras/${encodeURIComponent(cam)}/${WHAT[what].path}`;
    status.textContent = `downloading ${what}…`;
    try {
      const { blob, response } = await apiBlob(path, params, "text/csv");
      const type = response.headers.get("Content-Type") || "";
      if (!type.startsWith("text/csv")) throw new Error(`${what} CSV: the API answered ${type || "no type"}, not CSV`);
      const cd = response.headers.get("Content-Disposition") || "";
      const m = /filename="?([^";]+)"?/.exec(cd);
      const name = m ? m[1] : `${cam}-${WHAT[what].path}.csv`;
      const url = URL.createObjectURL(blob);
      const a = Object.assign(document.createElement("a"), { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60e3);
      const q = new URLSearchParams(params).toString();
      Object.assign(status.dataset, { what, file: name, url: `${path}?${q}` });
      status.textContent = `downloaded ${name} (${blob.size.toLocaleString("en-US")} bytes)`;
    } catch (e) {
      status.textContent = e instanceof ApiError ? `${what} CSV: ${e.status} ${e.title}: ${e.detail}` : e.message;
    }
  }
}
