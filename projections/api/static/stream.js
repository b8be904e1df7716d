// The live stream: Server-Sent Events over fetch (EventSource cannot send an Authorization header). It only
// accelerates the page: polling keeps it right without it.

import { authHeaders, auth } from "./api.js";

const RETRY_MS = 10000;

export class LiveStream {
  /** `onEvent(type, cameraId, payload)` for each event; `onState(text|null)` when the stream stops or starts. */
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.ctrl = null;
    this.streaming = false;
  }

  restart() {
    this.ctrl?.abort();
    this.ctrl = null;
    this.streaming = false;
    if (auth.key) this.run();
  }

  dispatch(name, data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const type = msg.type || name;
    const payload = msg.type && "data" in msg ? msg.data : msg;
    this.onEvent(type, msg.camera_id || payload?.camera_id, payload);
  }

  async run() {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    try {
      const r = await fetch("/v1/stream?types=detections,count,status", {
        headers: authHeaders("text/event-stream"),
        signal: ctrl.signal,
        cache: "no-store",
      });
      if (r.status === 401) {
        this.ctrl = null; // the polling loop reports the refused key; a new key restarts the stream
        return;
      }
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      this.streaming = true;
      this.onState(null);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) this.dispatch(name, data.join("\n"));
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
      this.onState(`live stream unavailable: ${e.message}`);
    }
    this.streaming = false;
    if (this.ctrl === ctrl) setTimeout(() => this.ctrl === ctrl && this.run(), RETRY_MS);
  }
}
