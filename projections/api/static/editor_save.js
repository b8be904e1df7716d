// Saving the editor's lines, zones and calibration: PATCH /v1/cameras/{id}, then wait until the camera registry
// (the API's read model, fed by the projector from its.cameras.v1) shows what was sent. A 422 lists the API's
// invalid_params next to the editor; a 403 says the key is read-only.

import { ApiError, api, apiSend } from "./api.js";
import { $, h } from "./format.js";

const APPLY_WAIT_MS = 20000; // how long the page waits for the registry to show a saved configuration

/** JSON with object keys sorted, to compare what was sent with what the registry stores (jsonb reorders keys). */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)
      .join(",")}}`;
  return JSON.stringify(v ?? null);
}

function problems(list) {
  const ul = $("#editor-problems");
  ul.replaceChildren(...list.map((t) => h("li", { textContent: t })));
  ul.hidden = !list.length;
}

function status(text, state) {
  $("#save-status").textContent = text;
  $("#save-status").dataset.state = state;
}

/** The saved configuration again, dropping unsaved changes. */
export async function reload(ed) {
  const doc = await api(`/v1/cameras/${encodeURIComponent(ed.camera)}`);
  ed.load(ed.camera, doc.config || {}, true);
  ed.etag = doc.etag || null;
  status("", "clean");
  problems([]);
  return doc;
}

/** The PATCH body of editor `ed`, or null (with the problems shown) when the edit cannot be saved. */
function bodyOf(ed) {
  const out = { lines: ed.lines, zones: ed.zones };
  if (ed.calib.dirty) {
    const cal = ed.calib.value();
    if (cal.error) {
      problems([`calibration: ${cal.error}`]);
      status("not saved: fix the calibration first", "invalid");
      return null;
    }
    out.calibration = cal.value;
  }
  return out;
}

/** Save `body` (by default the editor's lines, zones and any changed calibration). */
export async function save(ed, body = bodyOf(ed)) {
  if (!body || !ed.camera) return;
  const cam = ed.camera;
  problems([]);
  status("saving…", "saving");
  try {
    const ifMatch = ed.etag ? { "If-Match": ed.etag } : {};
    await apiSend("PATCH", `/v1/cameras/${encodeURIComponent(cam)}`, body, ifMatch);
  } catch (e) {
    failed(e);
    return;
  }
  ed.dirty = false;
  ed.calib.dirty = false;
  status("accepted — waiting for the camera registry to apply it…", "accepted");
  const want = canon([body.lines ?? null, body.zones ?? null, body.calibration ?? null]);
  const deadline = Date.now() + APPLY_WAIT_MS;
  while (Date.now() < deadline && cam === ed.camera) {
    const doc = await api(`/v1/cameras/${encodeURIComponent(cam)}`).catch(() => null);
    const cfg = doc?.config || {};
    const got = canon([
      body.lines ? cfg.lines : null,
      body.zones ? cfg.zones : null,
      "calibration" in body ? cfg.calibration : null,
    ]);
    if (doc && got === want) {
      if (!ed.dirty) ed.load(cam, cfg, true);
      ed.etag = doc.etag || null;
      status("saved — the analytics stage applies it to the next frames", "saved");
      ed.onSaved(doc);
      return;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
  status("accepted (202), but the camera registry does not show it yet: reload the page in a moment", "accepted");
}

function failed(e) {
  if (e instanceof ApiError && e.status === 422) {
    const params = e.body.invalid_params || [];
    problems([e.detail, ...params.map((p) => `${p.name}: ${p.reason}`)]);
    status("not saved: the API refused the configuration (422)", "invalid");
  } else if (e instanceof ApiError && e.status === 412) {
    problems([`Someone else changed this camera since it was opened (412): ${e.detail} Reload it, then redo the edit.`]);
    status("not saved: the camera changed meanwhile", "conflict");
  } else if (e instanceof ApiError && e.status === 403) {
    problems([`This key may only read (403): ${e.detail} Saving needs a key with the ops scope.`]);
    status("not saved: the key is read-only", "forbidden");
  } else {
    problems([e instanceof ApiError ? `${e.status} ${e.title}: ${e.detail}` : String(e)]);
    status("not saved", "error");
  }
}
