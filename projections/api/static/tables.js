// The camera's numbers as tables: today's counts per line and direction, the latest speeds, open incidents, the
// turning-movement origin-destination matrix and the latest 1-minute statistics. Each shows the API's values as
// they are (the page adds nothing up on its own except the matrix's row and column totals).

import { $, classesText, fmt, fmtDateTime, fmtSpeed, fmtTime, h } from "./format.js";

const cell = (text, props = {}) => h("td", { textContent: text, ...props });

/** Counts per configured line (and any other line the API counted today) and direction. */
export function renderLineCounts(doc, lines) {
  const table = $("#line-counts");
  const hint = $("#no-lines-hint");
  const per = doc?.totals?.lines || {};
  const names = new Map(lines.map((l) => [l.line_id, l.name]));
  const ids = [
    ...lines.map((l) => l.line_id),
    ...Object.keys(per)
      .filter((id) => !names.has(id))
      .sort(),
  ];
  hint.hidden = lines.length > 0;
  table.hidden = !ids.length;
  table.tBodies[0].replaceChildren(
    ...ids.map((id) => {
      const c = per[id] || { vehicles: 0, IN: 0, OUT: 0, by_class: {}, mean_speed_kmh: null };
      const name = names.has(id) ? names.get(id) || id : `${id} (no longer drawn)`;
      return h(
        "tr",
        { data: { lineId: id } },
        h("th", { scope: "row", textContent: name }),
        cell(fmt(c.IN ?? 0), { data: { dir: "IN" } }),
        cell(fmt(c.OUT ?? 0), { data: { dir: "OUT" } }),
        cell(fmt(c.vehicles ?? 0), { data: { dir: "total" } }),
        cell(c.mean_speed_kmh == null ? "–" : `${c.mean_speed_kmh.toFixed(1)} km/h`, { data: { col: "speed" } }),
        cell(classesText(c.by_class) || "–", { className: "classes" }),
      );
    }),
  );
}

export function renderSpeeds(items, lines) {
  const names = new Map(lines.map((l) => [l.line_id, l.name]));
  const body = $("#speeds").tBodies[0];
  body.replaceChildren(
    ...items.map((e) =>
      h(
        "tr",
        { data: { eventId: e.event_id } },
        cell(fmtTime(e.crossed_at), { title: e.crossed_at, data: { col: "time" } }),
        cell(e.line_name || names.get(e.line_id) || e.line_id, { data: { col: "line" } }),
        cell(e.direction, { data: { col: "direction" } }),
        cell(e.class_name, { data: { col: "class" } }),
        cell(fmtSpeed(e.speed_kmh), { data: { col: "speed" } }),
      ),
    ),
  );
  if (!items.length) body.append(h("tr", {}, cell("no vehicle counted yet", { colSpan: 5, className: "muted" })));
}

export function renderIncidents(items) {
  const ul = $("#incidents");
  ul.replaceChildren(
    ...items.map((i) =>
      h(
        "li",
        { data: { incidentId: i.incident_id } },
        h("time", { textContent: fmtDateTime(i.started_at), dateTime: i.started_at }),
        " ",
        h("strong", { textContent: i.type }),
        i.detail ? ` — ${i.detail}` : "",
      ),
    ),
  );
  if (!items.length) ul.append(h("li", { className: "muted", textContent: "no open incidents" }));
}

/** The origin-destination matrix of `doc` (the movements answer) with approach names; or `note` instead. */
export function renderMatrix(doc, note) {
  const table = $("#od-matrix");
  const msg = $("#movements-note");
  msg.textContent = note || "";
  if (!doc) {
    table.hidden = true;
    return;
  }
  const names = doc.approaches || {};
  const matrix = doc.totals?.matrix || {};
  const ids = [
    ...new Set([...Object.keys(names), ...Object.keys(matrix), ...Object.values(matrix).flatMap(Object.keys)]),
  ];
  ids.sort((a, b) => (names[a] || a).localeCompare(names[b] || b));
  const name = (id) => names[id] || id;
  table.hidden = !ids.length;
  if (!ids.length) {
    msg.textContent ||= "draw approach zones (kind approach) to count turning movements";
    return;
  }
  table.tHead.replaceChildren(
    h(
      "tr",
      {},
      h("th", { textContent: "from \\ to" }),
      ...ids.map((id) => h("th", { scope: "col", textContent: name(id), data: { destination: id } })),
      h("th", { textContent: "total" }),
    ),
  );
  table.tBodies[0].replaceChildren(
    ...ids.map((o) => {
      const row = matrix[o] || {};
      const total = Object.values(row).reduce((a, b) => a + b, 0);
      return h(
        "tr",
        { data: { origin: o } },
        h("th", { scope: "row", textContent: name(o) }),
        ...ids.map((d) => cell(o === d && !row[d] ? "·" : fmt(row[d] ?? 0), { data: { origin: o, destination: d } })),
        cell(fmt(total), { data: { total: "row" } }),
      );
    }),
  );
  if (!msg.textContent)
    msg.textContent = `${fmt(doc.totals?.vehicles ?? 0)} movements today · ${classesText(doc.totals?.by_class)}`;
}

/** The latest closed 1-minute statistics window. */
export function renderStats(items) {
  const box = $("#stats-summary");
  const w = items[items.length - 1];
  if (!w) {
    box.replaceChildren(h("p", { className: "muted", textContent: "no statistics window in the last 15 minutes" }));
    return;
  }
  const rows = [
    ["window", `${fmtTime(w.window_start)}–${fmtTime(w.window_end)}`],
    ["vehicles", fmt(w.vehicles)],
    [
      "mean speed",
      w.mean_speed_kmh == null
        ? "not calibrated"
        : `${w.mean_speed_kmh.toFixed(1)} km/h (${fmt(w.speed_samples)} samples)`,
    ],
    ["mean occupancy", typeof w.mean_occupancy === "number" ? w.mean_occupancy.toFixed(2) : "–"],
    ["frames", fmt(w.frames)],
  ];
  // A window missing frames, or counted from stale ones, is not the minute's whole traffic: say so, never hide it.
  const incomplete = items.filter((x) => x.complete === false).length;
  if (w.complete === false) {
    rows.push(["incomplete", `${fmt(w.missing_frames)} frames missing, ${fmt(w.stale_frames)} stale`]);
  }
  if (incomplete) rows.push(["incomplete windows", `${fmt(incomplete)} of ${fmt(items.length)}`]);
  box.dataset.complete = w.complete === false ? "false" : "true";
  box.replaceChildren(
    h(
      "dl",
      { className: "kv" },
      ...rows.flatMap(([k, v]) => [h("dt", { textContent: k }), h("dd", { textContent: v })]),
    ),
  );
}
