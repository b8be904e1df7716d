"""The camera state's changelog encoding: typed, versioned, and unable to run code.

A record is one version byte, then zlib-compressed msgpack of the state's plain data (`to_data` of each class).
msgpack decodes to None/bool/int/float/str/bytes/list/dict only, and `from_data` checks every field, so a crafted
record can at worst be refused: `load_state` raises `StateDecodeError`, and the caller rebuilds the camera's state
from its input (it starts empty; see app.py).

Versions:
- 0x01 (before issue 18): zlib of a pickle. Refused, never unpickled: whoever can write to the changelog topic could
  otherwise run code in the worker. A camera whose last state is such a record starts afresh once, at the upgrade.
- 0x02 (issue 18): zlib of msgpack, the tracker as supervision 0.27's ByteTrack fields. Still read: its tracker goes
  through `Tracker.from_legacy_data`, the one adapter, into our own tracker; it is written back as 0x03.
- 0x03: the tracker as our own ByteTrack's columns (tracking.py), with 8x8 Kalman covariances. Still read: the
  covariance blocks are taken out of them (bytetrack.blocks).
- 0x04: this format, as 0x03 with each covariance as its 4x3 blocks (a quarter of the state's size less). A new
  format takes the next byte; older ones stay readable only if decoded field by field.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from typing import Any

import msgpack
import numpy as np

from streams.analytics.camera import _RECENT_SEQS, CameraAnalytics, Params, _Track
from streams.analytics.counting import LineSide
from streams.analytics.incidents import Congestion, OpenIncident
from streams.analytics.movements import MovementState
from streams.analytics.plain import (
    MAX_LIST_ITEMS,
    StateDecodeError,
    field,
    need_int,
    need_list,
    need_num,
    need_str,
    opt,
)
from streams.analytics.tracking import Tracker
from streams.analytics.windows import Window

__all__ = ["LEGACY_PICKLE_VERSION", "STATE_VERSION", "StateDecodeError", "dump_state", "load_state"]

STATE_VERSION = 4
SQUARE_COV_VERSION = 3  # our tracker's columns, 8x8 covariances
LEGACY_SV_VERSION = 2  # supervision's tracker fields, read through Tracker.from_legacy_data
LEGACY_PICKLE_VERSION = 1
#: largest decompressed state accepted (a zlib bomb is refused before it is inflated past this)
MAX_STATE_BYTES = 2 * 1024 * 1024  # a state is ~5-20 KB; a crafted one of small objects costs ~100x its size


def _track_to(tr: _Track) -> dict[str, Any]:
    return {
        "first_seq": tr.first_seq,
        "class_votes": [[c, v] for c, v in tr.class_votes.items()],
        "class_names": [[c, n] for c, n in tr.class_names.items()],
        "conf_sum": tr.conf_sum,
        "n": tr.n,
        "last_t": tr.last_t,
        "lines": [[line_id, st.to_data()] for line_id, st in tr.lines.items()],
        "trail": _trail_to(tr.trail),
        "speed": tr.speed,
        "still_since": tr.still_since,
        "stop": None if tr.stop is None else tr.stop.to_data(),
        "approach": None if tr.approach is None else tr.approach.to_data(),
    }


def _pairs(v: Any, what: str) -> list[tuple[Any, Any]]:
    out = []
    for p in need_list(v, what):
        if not isinstance(p, list) or len(p) != 2:
            raise StateDecodeError(f"{what}: expected [key, value] pairs")
        out.append((p[0], p[1]))
    return out


def _trail_to(trail: deque[tuple[float, float, float]]) -> dict[str, bytes]:
    """A track's speed trail as two columns: times (float64) and ground points (float32 pairs, as camera.py keeps
    them). A third of a camera's state was this trail as lists of three msgpack floats; a tenth less state now."""
    return {
        "t": np.array([p[0] for p in trail], "<f8").tobytes(),
        "xy": np.array([(p[1], p[2]) for p in trail], "<f4").reshape(-1, 2).tobytes(),
    }


def _trail_from(v: Any) -> deque[tuple[float, float, float]]:
    trail: deque[tuple[float, float, float]] = deque()
    if isinstance(v, dict):
        t_raw, xy_raw = field(v, "t"), field(v, "xy")
        if not isinstance(t_raw, bytes) or not isinstance(xy_raw, bytes) or len(t_raw) % 8 or len(xy_raw) != len(t_raw):
            raise StateDecodeError("a trail is not float64 times and as many float32 (x, y) pairs")
        t = np.frombuffer(t_raw, "<f8")
        xy = np.frombuffer(xy_raw, "<f4").reshape(-1, 2)
        if len(t) > MAX_LIST_ITEMS or not (np.isfinite(t).all() and np.isfinite(xy).all()):
            raise StateDecodeError("a trail holds a value that is not a finite number, or too many points")
        trail.extend(zip(t.tolist(), xy[:, 0].tolist(), xy[:, 1].tolist(), strict=True))
        return trail
    for p in need_list(v, "trail"):  # written before the columns: [t, x, y] lists
        if not isinstance(p, list) or len(p) != 3:
            raise StateDecodeError("a trail point is not [t, x, y]")
        trail.append((need_num(p[0]), need_num(p[1]), need_num(p[2])))
    return trail


def _track_from(data: Any) -> _Track:
    trail = _trail_from(field(data, "trail"))
    tr = _Track(
        first_seq=need_int(field(data, "first_seq"), "first_seq"),
        class_votes={need_int(c): need_num(v) for c, v in _pairs(field(data, "class_votes"), "class_votes")},
        class_names={need_int(c): need_str(n) for c, n in _pairs(field(data, "class_names"), "class_names")},
        conf_sum=need_num(field(data, "conf_sum"), "conf_sum"),
        n=need_int(field(data, "n"), "n"),
        last_t=need_num(field(data, "last_t"), "last_t"),
        lines={need_str(k): LineSide.from_data(v) for k, v in _pairs(field(data, "lines"), "lines")},
        trail=trail,
        speed=opt(field(data, "speed"), need_num),
        still_since=opt(field(data, "still_since"), need_num),
        stop=opt(field(data, "stop"), OpenIncident.from_data),
        approach=opt(field(data, "approach"), MovementState.from_data),
    )
    if tr.n and not tr.class_votes:
        raise StateDecodeError("a track with detections has no class votes")
    return tr


def _runs(seqs: deque[int]) -> list[list[int]]:
    """Frame numbers in their order as [first, count] runs of consecutive numbers (a camera's are, mostly)."""
    out: list[list[int]] = []
    for q in seqs:
        if out and out[-1][0] + out[-1][1] == q:
            out[-1][1] += 1
        else:
            out.append([q, 1])
    return out


def _unruns(data: Any) -> list[int]:
    out: list[int] = []
    for run in need_list(data, "recent runs"):
        if not isinstance(run, list) or len(run) != 2:
            raise StateDecodeError("a recent-frames run is not [first, count]")
        first, count = need_int(run[0], "run start"), need_int(run[1], "run length")
        if not 0 < count <= _RECENT_SEQS or len(out) + count > _RECENT_SEQS:
            raise StateDecodeError(f"recent frames: more than the {_RECENT_SEQS} a state keeps")
        out.extend(range(first, first + count))
    return out


def state_to_data(st: CameraAnalytics) -> dict[str, Any]:
    """The plain data of a camera's state (its Params come from the settings on load, not from the record)."""
    return {
        "camera_id": st.camera_id,
        "tracker": None if st.tracker is None else st.tracker.to_data(),
        "tracks": [[tid, _track_to(tr)] for tid, tr in st.tracks.items()],
        "last_seq": st.last_seq,
        "last_t": st.last_t,
        "recent": _runs(st.recent),
        "window": None if st.window is None else st.window.to_data(),
        "congestion": st.congestion.to_data(),
        "offline": None if st.offline is None else st.offline.to_data(),
        "pending_late": st.pending_late,
        "closed_until": st.closed_until,
        "close_after": st.close_after,
        "run": st.run,
        "run_index": st.run_index,
    }


def state_from_data(data: Any, params: Params, version: int = STATE_VERSION) -> CameraAnalytics:
    st = CameraAnalytics(need_str(field(data, "camera_id"), "camera_id"), params)
    if version == LEGACY_SV_VERSION:
        st.tracker = opt(field(data, "tracker"), Tracker.from_legacy_data)
    else:
        st.tracker = opt(
            field(data, "tracker"), lambda d: Tracker.from_data(d, square_cov=version == SQUARE_COV_VERSION)
        )
    st.tracks = {need_int(tid): _track_from(tr) for tid, tr in _pairs(field(data, "tracks"), "tracks")}
    st.last_seq = need_int(field(data, "last_seq"), "last_seq")
    st.last_t = need_num(field(data, "last_t"), "last_t")
    recent = field(data, "recent")
    seqs = _unruns(recent) if version != LEGACY_SV_VERSION else [need_int(s, "recent seq") for s in need_list(recent)]
    st.recent = deque(seqs, maxlen=_RECENT_SEQS)
    st.window = opt(field(data, "window"), Window.from_data)
    st.congestion = Congestion.from_data(field(data, "congestion"))
    st.offline = opt(field(data, "offline"), OpenIncident.from_data)
    st.pending_late = need_int(field(data, "pending_late"), "pending_late")
    st.closed_until = need_num(field(data, "closed_until"), "closed_until")
    st.close_after = opt(field(data, "close_after"), need_num)
    # The ingest run of the last frame (missing-frame counting); absent from records written before it existed.
    st.run = opt(data.get("run"), need_int)
    st.run_index = need_int(data.get("run_index", -1), "run_index")
    if math.isnan(st.last_t) or math.isnan(st.closed_until):
        raise StateDecodeError("a state time is NaN")
    return st


def dump_state(st: CameraAnalytics) -> bytes:
    body = msgpack.packb(state_to_data(st), use_bin_type=True)
    return bytes([STATE_VERSION]) + zlib.compress(body, 6)  # written once per commit, not per event: 0.25 ms


def load_state(data: bytes, params: Params, camera_id: str | None = None) -> CameraAnalytics:
    """Decode a changelog record; `StateDecodeError` (never anything executed) when it is not one this version
    reads, or when it holds another camera's state than `camera_id`."""
    if not data:
        raise StateDecodeError("empty record")
    version = data[0]
    if version == LEGACY_PICKLE_VERSION:
        raise StateDecodeError("version 1 (pickle) records are refused; the state is rebuilt from the input")
    if version not in (STATE_VERSION, SQUARE_COV_VERSION, LEGACY_SV_VERSION):
        raise StateDecodeError(f"unknown state version {version}")
    try:
        inflate = zlib.decompressobj()
        body = inflate.decompress(data[1:], MAX_STATE_BYTES)
        if inflate.unconsumed_tail or not inflate.eof:
            raise StateDecodeError(f"state is truncated or inflates past {MAX_STATE_BYTES} bytes")
        plain = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_array_len=MAX_LIST_ITEMS,
            max_map_len=64,  # the widest map of a state has 16 fields
            max_str_len=64 * 1024,
            max_bin_len=MAX_STATE_BYTES,
        )
    except StateDecodeError:
        raise
    except (zlib.error, ValueError, TypeError, msgpack.UnpackException) as e:
        raise StateDecodeError(f"state is not zlib-compressed msgpack: {type(e).__name__}") from None
    try:
        st = state_from_data(plain, params, version)
    except StateDecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise StateDecodeError(f"state does not fit the version {version} layout: {type(e).__name__}") from None
    if camera_id is not None and st.camera_id != camera_id:
        raise StateDecodeError("the record holds another camera's state than its key")
    return st
