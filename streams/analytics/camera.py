"""Everything analytics knows about one camera, and how one frame of detections changes it.

`CameraAnalytics` is plain state with an explicit, versioned encoding (state.py; never pickled): the Faust agent
keeps one per camera in a table backed by a changelog topic, so a restarted or rebalanced worker resumes exactly
where the last one stopped. Given the same detection sequence (and configuration) it produces the same events with
the same ids.

Backpressure is decided from the events alone, never from this worker's clock, so a replay after a crash emits the
same windows: a frame is stale when its detections were produced (`produced_at`, stamped by inference in the
committed event) more than `Params.stale_s` after its capture; frames are missing when the run_index ingest numbers
them with jumps between two applied frames of one run (see windows.py for how a window carries both).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from schemas.events import (
    CameraConfig,
    CameraStatusChanged,
    DetectionsProduced,
    IncidentDetected,
    TrafficStatsWindow,
    TurningMovement,
    VehicleCounted,
)
from streams.analytics.counting import LineSide, PixelLine, step_line
from streams.analytics.geometry import Anchor, Homography, ZoneGrid, anchor_points
from streams.analytics.incidents import Congestion, OpenIncident, event_id, incident
from streams.analytics.metrics import FRAMES_MISSING, FRAMES_STALE
from streams.analytics.movements import Approaches, MovementState, step_movement
from streams.analytics.speed import Trail, displacement_rate, speed_kmh
from streams.analytics.tracking import Tracker, TrackParams
from streams.analytics.windows import Window, run_gap, spread_missing, window_start

__all__ = ["CameraAnalytics", "Output", "Params"]

Output = (
    tuple[Literal["vehicle"], VehicleCounted]
    | tuple[Literal["incident"], IncidentDetected]
    | tuple[Literal["stats"], TrafficStatsWindow]
    | tuple[Literal["movement"], TurningMovement]
)

_RECENT_SEQS = 512


@dataclass(frozen=True)
class Params:
    """Analytics tuning, the same for every camera (from AnalyticsSettings)."""

    classes: frozenset[str] = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})
    anchor: Anchor = Anchor.CENTER
    line_band: float = 0.01  # share of the frame height an anchor must clear the line by (jitter hysteresis)
    track: TrackParams = field(default_factory=TrackParams)
    speed_horizon: float = 1.0  # s
    window: float = 60.0  # s
    stop_speed_kmh: float = 5.0
    stop_rate: float = 0.01  # normalised units per second, for cameras without calibration
    stop_seconds: float = 30.0
    congestion_threshold: float = 0.5
    congestion_window: float = 60.0
    congestion_release: float = 0.8
    stale_s: float = 30.0  # detections produced more than this after capture: a stale frame (0: never)


@dataclass
class _Track:
    first_seq: int
    class_votes: dict[int, float] = field(default_factory=dict)
    class_names: dict[int, str] = field(default_factory=dict)
    conf_sum: float = 0.0
    n: int = 0
    last_t: float = 0.0
    lines: dict[str, LineSide] = field(default_factory=dict)
    trail: Trail = field(default_factory=deque)
    speed: float | None = None
    still_since: float | None = None
    stop: OpenIncident | None = None
    approach: MovementState | None = None

    def vote(self, class_id: int, class_name: str, conf: float) -> None:
        self.class_votes[class_id] = self.class_votes.get(class_id, 0.0) + conf
        self.class_names[class_id] = class_name
        self.conf_sum += conf
        self.n += 1

    @property
    def class_id(self) -> int:
        return max(sorted(self.class_votes), key=lambda c: self.class_votes[c])


class _Derived:
    """What a configuration and frame size determine; rebuilt on demand, never stored."""

    def __init__(self, cfg: CameraConfig, width: int, height: int) -> None:
        self.lines = [
            PixelLine(
                line_id=ln["line_id"],
                name=ln["name"],
                a=(ln["x1"] * width, ln["y1"] * height),
                b=(ln["x2"] * width, ln["y2"] * height),
                in_from=-1 if ln["in_direction"] == "LEFT_TO_RIGHT" else 1,
                one_way=ln.get("one_way", False),
            )
            for ln in cfg["lines"]
        ]
        occ = [z for z in cfg["zones"] if z["kind"] == "occupancy"]
        self.occupancy = ZoneGrid([[(p["x"], p["y"]) for p in z["points"]] for z in occ])
        self.occupancy_zone = ",".join(z["zone_id"] for z in occ) or None
        stops = [z for z in cfg["zones"] if z["kind"] == "stop"]
        self.stop_ids = [z["zone_id"] for z in stops]
        self.stops = ZoneGrid([[(p["x"], p["y"]) for p in z["points"]] for z in stops])
        self.approaches = Approaches(cfg)
        self.homography: Homography | None = None
        self.calibration_error: str | None = None
        cal = cfg["calibration"]
        if cal is not None:
            try:
                self.homography = Homography(
                    [(p["x"], p["y"]) for p in cal["image_points"]], [(p["x"], p["y"]) for p in cal["ground_points"]]
                )
            except ValueError as e:
                self.calibration_error = str(e)


def _ts(d: datetime) -> float:
    return d.timestamp()


class CameraAnalytics:
    #: capture time of the camera's last frame when it stopped, while frames up to it are still on their way
    close_after: float | None = None
    #: run_start_seq and run_index of the last applied frame (None: unknown, no gap can be measured from it)
    run: int | None = None
    run_index: int = -1

    def __init__(self, camera_id: str, params: Params) -> None:
        self.camera_id = camera_id
        self.params = params
        self.tracker: Tracker | None = None
        self.tracks: dict[int, _Track] = {}
        self.last_seq = -1
        self.last_t = -math.inf
        self.recent: deque[int] = deque(maxlen=_RECENT_SEQS)
        self.window: Window | None = None
        self.congestion = Congestion(params.congestion_window, params.congestion_threshold, params.congestion_release)
        self.offline: OpenIncident | None = None
        self.pending_late = 0
        self.closed_until = -math.inf  # end of a window closed early because the camera stopped
        self._derived: tuple[CameraConfig, tuple[int, int], _Derived] | None = None

    def derived(self, cfg: CameraConfig, width: int, height: int) -> _Derived:
        # Keyed by the configuration object itself (held here, so its id cannot be reused): the camera follower hands
        # out the same object until the camera's record changes, so this is one identity check per frame.
        if self._derived is None or self._derived[0] is not cfg or self._derived[1] != (width, height):
            self._derived = (cfg, (width, height), _Derived(cfg, width, height))
        return self._derived[2]

    def classify(self, ev: DetectionsProduced) -> Literal["ok", "duplicate", "late"]:
        """Where a frame stands against the frames already processed."""
        seq = ev["frame_seq"]
        if seq in self.recent or seq == self.last_seq:
            return "duplicate"
        t = _ts(ev["captured_at"])
        if seq < self.last_seq or t < self.last_t or t < self.closed_until:
            return "late"
        return "ok"

    def note_late(self) -> None:
        if self.window is not None:
            self.window.late_frames += 1
        else:  # the camera stopped and its window closed: the next window carries it
            self.pending_late += 1

    def process(self, ev: DetectionsProduced, cfg: CameraConfig) -> list[Output]:
        """Apply one in-order frame (check `classify` first); the events it causes."""
        p = self.params
        t = _ts(ev["captured_at"])
        w, h = ev["width"], ev["height"]
        prev_t = self.last_t
        missing, head = self._gap(ev)
        stale = p.stale_s > 0 and _ts(ev["produced_at"]) - t > p.stale_s
        if missing or head:
            FRAMES_MISSING.labels(self.camera_id).inc(missing + head)
        if stale:
            FRAMES_STALE.labels(self.camera_id).inc()
        if self.close_after is not None and t > self.close_after:
            # the stop's last frame never came (dead-lettered upstream) and the camera is sending again: the window
            # goes on as if the stop had not been seen, and closes with the next minute's first frame
            self.close_after = None
        self.last_seq, self.last_t = ev["frame_seq"], t
        self.recent.append(ev["frame_seq"])
        out: list[Output] = []
        out += self._roll_window(t, spread_missing(prev_t, t, missing, p.window), head)
        d = self.derived(cfg, w, h)
        if self.tracker is None:
            self.tracker = Tracker(cfg["target_fps"], p.track)

        dets = [x for x in ev["detections"] if x["class_name"] in p.classes]
        xyxy = np.array([[x["x1"], x["y1"], x["x2"], x["y2"]] for x in dets], np.float64).reshape(-1, 4)
        conf = np.array([x["confidence"] for x in dets], np.float64)
        cls = np.array([x["class_id"] for x in dets], np.int64)
        names = {x["class_id"]: x["class_name"] for x in dets}
        tracked = self.tracker.update(xyxy, conf, cls)

        anchors = anchor_points(tracked.xyxy, p.anchor)
        ground = anchor_points(tracked.xyxy, Anchor.BOTTOM_CENTER) / np.array([w, h], np.float64)
        band = p.line_band * h
        ids: list[int] = []
        speeds: list[float] = []
        for i, tid in enumerate(tracked.track_id.tolist()):
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = _Track(first_seq=ev["frame_seq"])
            cid = int(tracked.class_id[i])
            tr.vote(cid, names.get(cid, str(cid)), float(tracked.confidence[i]))
            tr.last_t = t
            ids.append(tid)
            # float32 ground points (a millionth of the frame): the state keeps the trail as float32 pairs
            gx, gy = float(np.float32(ground[i, 0])), float(np.float32(ground[i, 1]))
            tr.trail.append((t, gx, gy))
            while tr.trail and tr.trail[0][0] < t - p.speed_horizon:
                tr.trail.popleft()
            tr.speed = speed_kmh(tr.trail, p.speed_horizon, d.homography)
            if tr.speed is not None:
                speeds.append(tr.speed)
            pt = (float(anchors[i, 0]), float(anchors[i, 1]))
            for line in d.lines:
                st = tr.lines.get(line.line_id)
                if st is None or st.geometry != line.geometry:
                    st = tr.lines[line.line_id] = LineSide(geometry=line.geometry)
                hit = step_line(st, line, pt, t, band)
                if hit is not None:
                    out += self._crossed(ev, tid, tr, hit)
            if d.approaches:
                out += self._moved(ev, tid, tr, t, d.approaches, pt[0] / w, pt[1] / h)
            out += self._stopped(tid, tr, t, gx, gy, d)

        alive = self.tracker.alive()
        for tid in [k for k in self.tracks if k not in alive]:
            tr = self.tracks.pop(tid)
            if tr.stop is not None:
                out.append(self._stop_closed(tr, tr.last_t, "The vehicle's track ended."))

        occupancy = d.occupancy.coverage(xyxy / np.array([w, h, w, h], np.float64))
        out += [("incident", x) for x in self.congestion.update(self.camera_id, d.occupancy_zone, t, occupancy)]
        assert self.window is not None
        self.window.add_frame(ids, speeds, occupancy, stale)
        if self.close_after is not None and t >= self.close_after:
            out += self._close_stopped()  # the camera's last frame before it stopped is in
        return out

    def _close_stopped(self) -> list[Output]:
        """The camera stopped and every frame it sent before is applied: emit the open window, accept no earlier
        frame into it."""
        self.close_after = None
        if self.window is None or not self.window.frames:
            return []
        out: list[Output] = [("stats", self.window.record(self.camera_id, "CAMERA_STOPPED"))]
        self.closed_until = self.window.end
        self.window = None
        return out

    def _gap(self, ev: DetectionsProduced) -> tuple[int, int]:
        prev = self.run, self.run_index
        run, index = ev.get("run_start_seq"), ev.get("run_index")
        self.run, self.run_index = (run, index) if run is not None and index is not None else (None, -1)
        return run_gap(prev, (self.run, self.run_index))

    def _roll_window(self, t: float, missing: Sequence[tuple[float, int]] = (), head: int = 0) -> list[Output]:
        """Close the open window if `t` is past it, open `t`'s; `missing` (window start, frames) go to the windows
        they fall in: the open one, empty windows in between (emitted as they are), or `t`'s (also `head`)."""
        size = self.params.window
        start = window_start(t, size)
        out: list[Output] = []
        carry = head  # to t's window
        between: list[tuple[float, int]] = []
        for ws, n in missing:
            if self.window is not None and ws == self.window.start:
                self.window.missing_frames += n
            elif ws >= start or ws < self.closed_until or (self.window is not None and ws < self.window.start):
                carry += n  # t's own window, or one already closed (the camera stopped): the next window carries it
            else:
                between.append((ws, n))
        if self.window is not None and t >= self.window.end:
            out.append(("stats", self.window.record(self.camera_id, "NEXT_FRAME")))
            self.window = None
        for ws, n in between:  # no frame of these windows reached analytics: emitted empty, incomplete
            out.append(
                ("stats", Window(start=ws, end=ws + size, missing_frames=n).record(self.camera_id, "NEXT_FRAME"))
            )
        if self.window is None:
            self.window = Window(start=start, end=start + size, late_frames=self.pending_late)
            self.pending_late = 0
        self.window.missing_frames += carry
        return out

    def _crossed(self, ev: DetectionsProduced, tid: int, tr: _Track, hit: Any) -> list[Output]:
        cid = tr.class_id
        line = hit.line
        w, h = ev["width"], ev["height"]
        rec: VehicleCounted = {
            "event_id": event_id(self.camera_id, line.line_id, tid, hit.direction, ev["frame_seq"]),
            "camera_id": self.camera_id,
            "line_id": line.line_id,
            "line_name": line.name,
            "track_id": tid,
            "direction": hit.direction,
            "motion": hit.motion,
            "class_name": tr.class_names[cid],
            "class_id": cid,
            "confidence": tr.conf_sum / tr.n,
            "frame_seq": ev["frame_seq"],
            "crossed_at": datetime.fromtimestamp(hit.at, UTC),
            "x": hit.point.x / w,
            "y": hit.point.y / h,
            "speed_kmh": tr.speed,
        }
        assert self.window is not None
        self.window.add_count(line.line_id, rec["class_name"], hit.direction)
        out: list[Output] = [("vehicle", rec)]
        if line.one_way and hit.direction == "OUT":
            inc = OpenIncident(
                event_id(self.camera_id, "WRONG_WAY", line.line_id, tid, ev["frame_seq"]),
                hit.at,
                track_id=tid,
                class_name=rec["class_name"],
            )
            detail = f"Track {tid} ({rec['class_name']}) crossed one-way line {line.line_id!r} against its direction."
            out.append(
                ("incident", incident(self.camera_id, "WRONG_WAY", inc, hit.at, line_id=line.line_id, detail=detail))
            )
        return out

    def _moved(
        self, ev: DetectionsProduced, tid: int, tr: _Track, t: float, approaches: Approaches, x: float, y: float
    ) -> list[Output]:
        if tr.approach is None:
            tr.approach = MovementState()
        dest = step_movement(tr.approach, approaches.zone_at(x, y), t)
        if dest is None:
            return []
        origin = tr.approach.origin
        assert origin is not None
        cid = tr.class_id
        rec: TurningMovement = {
            "movement_id": event_id(self.camera_id, "MOVEMENT", tid, origin, dest, ev["frame_seq"]),
            "camera_id": self.camera_id,
            "track_id": tid,
            "origin_zone_id": origin,
            "origin_name": approaches.names.get(origin, origin),
            "destination_zone_id": dest,
            "destination_name": approaches.names.get(dest, dest),
            "class_name": tr.class_names[cid],
            "class_id": cid,
            "confidence": tr.conf_sum / tr.n,
            "frame_seq": ev["frame_seq"],
            "entered_at": datetime.fromtimestamp(tr.approach.entered_at, UTC),
            "moved_at": datetime.fromtimestamp(t, UTC),
            "speed_kmh": tr.speed,
        }
        return [("movement", rec)]

    def _stopped(self, tid: int, tr: _Track, t: float, gx: float, gy: float, d: _Derived) -> list[Output]:
        p = self.params
        zone = next((z for i, z in enumerate(d.stop_ids) if d.stops.contains(i, gx, gy)), None)
        if d.homography is not None:
            still = tr.speed is not None and tr.speed < p.stop_speed_kmh
        else:
            rate = displacement_rate(tr.trail, p.speed_horizon)
            still = rate is not None and rate < p.stop_rate
        if zone is None or not still:
            tr.still_since = None
            if tr.stop is not None:
                return [self._stop_closed(tr, t, "The vehicle moved on.")]
            return []
        if tr.still_since is None:
            tr.still_since = tr.trail[0][0]  # still over the whole trail (trimmed to the horizon)
        if tr.stop is None and t - tr.still_since >= p.stop_seconds:
            tr.stop = OpenIncident(
                event_id(self.camera_id, "STOPPED_VEHICLE", tid, tr.first_seq, tr.still_since),
                tr.still_since,
                track_id=tid,
                class_name=tr.class_names[tr.class_id],
                zone_id=zone,
            )
            detail = f"Track {tid} stopped in zone {zone!r} for {t - tr.still_since:.0f} s."
            rec = incident(self.camera_id, "STOPPED_VEHICLE", tr.stop, None, value=t - tr.still_since, detail=detail)
            return [("incident", rec)]
        return []

    def _stop_closed(self, tr: _Track, t: float, why: str) -> Output:
        assert tr.stop is not None
        rec = incident(self.camera_id, "STOPPED_VEHICLE", tr.stop, t, value=t - tr.stop.started, detail=why)
        tr.stop, tr.still_since = None, None
        return ("incident", rec)

    def status(self, ev: CameraStatusChanged) -> list[Output]:
        """A camera status change: CAMERA_OFFLINE incidents, and the open window closes when the camera stops."""
        t = _ts(ev["changed_at"])
        out: list[Output] = []
        if ev["status"] in ("OFFLINE", "DISABLED"):
            # The status travels straight from ingest while the camera's last frames are still in inference: close
            # the window once the last frame it reports (last_frame_at) is applied, not before, or they would be late.
            last = ev["last_frame_at"]
            if last is not None and _ts(last) > self.last_t:
                self.close_after = _ts(last)
            else:
                out += self._close_stopped()
        else:
            self.close_after = None
        if ev["status"] == "OFFLINE" and self.offline is None:
            self.offline = OpenIncident(event_id(self.camera_id, "CAMERA_OFFLINE", t), t)
            detail = f"Camera offline: {ev['reason']}" + (f" ({ev['error']})" if ev["error"] else "")
            out.append(("incident", incident(self.camera_id, "CAMERA_OFFLINE", self.offline, None, detail=detail)))
        elif ev["status"] != "OFFLINE" and self.offline is not None:
            detail = f"Camera {ev['status'].lower()} again: {ev['reason']}"
            out.append(("incident", incident(self.camera_id, "CAMERA_OFFLINE", self.offline, t, detail=detail)))
            self.offline = None
        return out
