// The /v1 API client: the analyst's key (fragment, input or localStorage), JSON and blob requests with the bearer
// header, problem+json errors as ApiError, and the error banner.

import { $ } from "./format.js";

const KEY_STORE = "itscam.apiKey";

export const auth = { key: null };

export class ApiError extends Error {
  constructor(status, title, detail, path, retryAfter = 0, body = {}) {
    super(detail);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.path = path;
    this.retryAfter = retryAfter;
    this.body = body; // the problem document (invalid_params of a 422)
  }
}

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: the key lives only in this page
  }
}

/** The fragment's parameters (`#key=its_...&filter=...&camera=...`); the key leaves the address bar at once. */
export function loadFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get("key");
  if (key) {
    auth.key = key;
    storage()?.setItem(KEY_STORE, key);
    // Keep the secret out of the address bar, history and screenshots.
    params.delete("key");
    setFragment(params);
  } else {
    auth.key = storage()?.getItem(KEY_STORE) || null;
  }
  return params;
}

export function setFragment(params) {
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

export function storeKey(key) {
  auth.key = key || null;
  if (auth.key) storage()?.setItem(KEY_STORE, auth.key);
  else storage()?.removeItem(KEY_STORE);
}

export function onKeyChangedElsewhere(fn) {
  window.addEventListener("storage", (e) => {
    if (e.key === KEY_STORE && e.newValue !== auth.key) fn(e.newValue || "");
  });
}

export function authHeaders(accept) {
  return { Authorization: `Bearer ${auth.key}`, Accept: accept };
}

export function apiUrl(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") url.searchParams.set(k, v);
  return url;
}

async function request(path, params, init) {
  let r;
  try {
    r = await fetch(apiUrl(path, params), { cache: "no-store", ...init });
  } catch (e) {
    throw new ApiError(0, "Network error", `Cannot reach the API at ${location.origin} (${e.message}).`, path);
  }
  if (!r.ok) {
    let body = {};
    try {
      body = await r.json();
    } catch {
      // not problem+json (a proxy's page): keep the status line
    }
    const retry = Number.parseInt(r.headers.get("Retry-After") || "0", 10) || 0;
    const detail = body.detail || `${r.status} ${r.statusText}`;
    throw new ApiError(r.status, body.title || r.statusText, detail, path, retry, body);
  }
  return r;
}

/** GET `path` as JSON; an answer with an ETag (a camera's configuration) carries it as a non-enumerable `etag`. */
export async function api(path, params = {}) {
  const r = await request(path, params, { headers: authHeaders("application/json") });
  const doc = await r.json();
  const tag = r.headers.get("ETag");
  if (tag && doc && typeof doc === "object") Object.defineProperty(doc, "etag", { value: tag });
  return doc;
}

/** GET `path` as a blob, with the response (for its headers). */
export async function apiBlob(path, params = {}, accept = "*/*") {
  const r = await request(path, params, { headers: authHeaders(accept) });
  return { blob: await r.blob(), response: r };
}

/** PATCH/POST/PUT `body` as JSON (with `extra` headers, e.g. If-Match); the JSON answer. */
export async function apiSend(method, path, body, extra = {}) {
  const headers = { ...authHeaders("application/json"), "Content-Type": "application/json", ...extra };
  const r = await request(path, {}, { method, headers, body: JSON.stringify(body) });
  return r.json();
}

// -- error banner ------------------------------------------------------------------------------------------------

export function describe(err) {
  if (!(err instanceof ApiError)) return `Unexpected error: ${err && err.message ? err.message : err}`;
  switch (err.status) {
    case 0:
      return `${err.detail} Retrying every few seconds.`;
    case 401:
      return `The API refused the key (401 ${err.title}): ${err.detail} Enter a valid key above.`;
    case 403:
      return `The key may not do this (403 ${err.title}): ${err.detail}`;
    case 429:
      return `Rate limited (429): ${err.detail} The page pauses its updates for ${err.retryAfter || 5} s.`;
    default:
      return `${err.status} ${err.title} on ${err.path}: ${err.detail}`;
  }
}

export function showErrors(errors) {
  const banner = $("#banner");
  if (!errors.length) {
    banner.hidden = true;
    banner.textContent = "";
    banner.removeAttribute("data-status");
    return;
  }
  const lines = [...new Set(errors.map(describe))].slice(0, 3);
  banner.replaceChildren(...lines.map((t) => Object.assign(document.createElement("div"), { textContent: t })));
  banner.dataset.status = String(errors[0].status ?? "");
  banner.hidden = false;
}

export function setConn(text) {
  $("#conn").textContent = text;
}
