"""DetectionsProduced -> frames, detections (COPY), per-minute counts and the cameras' activity columns."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import psycopg

from schemas.events import DetectionsProduced

__all__ = ["write_detections"]

Cursor = psycopg.Cursor[Any]

_FRAME_TYPES = ["text", "timestamptz", "int8", "int4", "int4", "text", "text", "int4", "float4", "timestamptz"]
_DETECTION_TYPES = [
    "text",
    "timestamptz",
    "int8",
    "int2",
    "int2",
    "text",
    "float4",
    "float4",
    "float4",
    "float4",
    "float4",
]


def _minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def write_detections(cur: Cursor, events: list[DetectionsProduced]) -> tuple[list[DetectionsProduced], int]:
    """Write the frames not projected yet and their detections; return (the new frames' events, detections)."""
    if not events:
        return [], 0
    by_key = {(e["camera_id"], e["captured_at"], e["frame_seq"]): e for e in events}
    # Frames go through a per-connection staging table by binary COPY, then INSERT ... ON CONFLICT DO NOTHING
    # RETURNING says which are new (a replayed frame is skipped with its detections).
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS frames_stage (camera_id text, captured_at timestamptz, frame_seq bigint,"
        " width integer, height integer, model_name text, model_sha256 text, n_detections integer,"
        " inference_ms real, produced_at timestamptz) ON COMMIT DELETE ROWS"
    )
    with cur.copy("COPY frames_stage FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_FRAME_TYPES)
        for (cam, at, seq), e in by_key.items():
            model = e["model"]
            copy.write_row(
                (
                    cam,
                    at,
                    seq,
                    e["width"],
                    e["height"],
                    model["name"],
                    model["sha256"],
                    len(e["detections"]),
                    e["timings"]["inference_ms"],
                    e["produced_at"],
                )
            )
    cur.execute(
        "INSERT INTO frames (camera_id, captured_at, frame_seq, width, height, model_name, model_sha256,"
        " n_detections, inference_ms, produced_at) SELECT * FROM frames_stage"
        " ON CONFLICT DO NOTHING RETURNING camera_id, captured_at, frame_seq"
    )
    new = [by_key[(str(c), t, int(s))] for c, t, s in cur.fetchall()]
    n_det = 0
    with cur.copy(
        "COPY detections (camera_id, captured_at, frame_seq, idx, class_id, class_name, confidence,"
        " x1, y1, x2, y2) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(_DETECTION_TYPES)
        write = copy.write_row
        for e in new:
            cam, at, seq = e["camera_id"], e["captured_at"], e["frame_seq"]
            for i, d in enumerate(e["detections"]):
                write(
                    (
                        cam,
                        at,
                        seq,
                        i,
                        d["class_id"],
                        d["class_name"],
                        d["confidence"],
                        d["x1"],
                        d["y1"],
                        d["x2"],
                        d["y2"],
                    )
                )
            n_det += len(e["detections"])
    if new:
        _counts(cur, new)
    return new, n_det


def _counts(cur: Cursor, new: list[DetectionsProduced]) -> None:
    frames_min: dict[tuple[str, datetime], int] = defaultdict(int)
    class_min: dict[tuple[str, datetime, str], int] = defaultdict(int)
    cams: dict[str, list[DetectionsProduced]] = defaultdict(list)
    for e in new:
        minute = _minute(e["captured_at"])
        frames_min[(e["camera_id"], minute)] += 1
        for d in e["detections"]:
            class_min[(e["camera_id"], minute, d["class_name"])] += 1
        cams[e["camera_id"]].append(e)
    fm = list(frames_min.items())
    cur.execute(
        "INSERT INTO frames_minute (camera_id, minute, frames)"
        " SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::bigint[])"
        " ON CONFLICT (camera_id, minute) DO UPDATE SET frames = frames_minute.frames + EXCLUDED.frames",
        ([k[0] for k, _ in fm], [k[1] for k, _ in fm], [n for _, n in fm]),
    )
    cm = list(class_min.items())
    cur.execute(
        "INSERT INTO class_counts_minute (camera_id, minute, class_name, detections)"
        " SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::text[], %b::bigint[])"
        " ON CONFLICT (camera_id, minute, class_name)"
        " DO UPDATE SET detections = class_counts_minute.detections + EXCLUDED.detections",
        ([k[0] for k, _ in cm], [k[1] for k, _ in cm], [k[2] for k, _ in cm], [n for _, n in cm]),
    )
    rows = []
    for cam, evs in cams.items():
        latest = max(evs, key=lambda e: (e["captured_at"], e["frame_seq"]))
        rows.append(
            (
                cam,
                min(e["captured_at"] for e in evs),
                latest["captured_at"],
                latest["frame_seq"],
                len(evs),
                sum(len(e["detections"]) for e in evs),
                json.dumps(latest["model"]),
            )
        )
    cur.execute(
        "INSERT INTO cameras (camera_id, first_seen_at, last_seen_at, last_frame_seq, frames, detections,"
        " last_model, last_projected_at)"
        " SELECT c, f, l, s, n, d, m::jsonb, clock_timestamp()"
        " FROM unnest(%b::text[], %b::timestamptz[], %b::timestamptz[], %b::bigint[], %b::bigint[], %b::bigint[],"
        " %b::text[]) AS u(c, f, l, s, n, d, m)"
        " ON CONFLICT (camera_id) DO UPDATE SET"
        " first_seen_at = LEAST(cameras.first_seen_at, EXCLUDED.first_seen_at),"
        " last_frame_seq = CASE WHEN cameras.last_seen_at IS NULL OR EXCLUDED.last_seen_at >= cameras.last_seen_at"
        "   THEN EXCLUDED.last_frame_seq ELSE cameras.last_frame_seq END,"
        " last_model = CASE WHEN cameras.last_seen_at IS NULL OR EXCLUDED.last_seen_at >= cameras.last_seen_at"
        "   THEN EXCLUDED.last_model ELSE cameras.last_model END,"
        " last_seen_at = GREATEST(cameras.last_seen_at, EXCLUDED.last_seen_at),"
        " frames = cameras.frames + EXCLUDED.frames,"
        " detections = cameras.detections + EXCLUDED.detections,"
        " last_projected_at = clock_timestamp()",
        tuple(list(col) for col in zip(*rows, strict=True)),
    )
