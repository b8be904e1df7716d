"""Writing DetectionsProduced batches into the PostgreSQL read models, offsets in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import psycopg

from schemas.events import DetectionsProduced

__all__ = ["BatchStats", "PgStore"]


@dataclass
class BatchStats:
    frames_new: int
    frames_duplicate: int
    detections: int


def _minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


class PgStore:
    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], group_id: str) -> None:
        self.conn = conn
        self.group_id = group_id

    def offsets(self, topic: str) -> dict[int, int]:
        rows = self.conn.execute(
            "SELECT partition, next_offset FROM projection_offsets WHERE consumer_group = %s AND topic = %s",
            (self.group_id, topic),
        ).fetchall()
        self.conn.commit()
        return {int(p): int(o) for p, o in rows}  # type: ignore[call-overload]

    def write(self, events: list[DetectionsProduced], offsets: dict[tuple[str, int], int]) -> BatchStats:
        """Write one batch; `offsets` maps (topic, partition) to the next offset to read.

        Commit order, all in one PostgreSQL transaction:
          1. insert frames, skipping ones already projected (replays are no-ops);
          2. COPY the detections of the new frames;
          3. add the new frames to the per-minute counts and the camera rows;
          4. store the consumer offsets.
        """
        by_key = {(e["camera_id"], e["captured_at"], e["frame_seq"]): e for e in events}
        with self.conn.transaction(), self.conn.cursor() as cur:
            # 1.
            cur.execute(
                "INSERT INTO frames (camera_id, captured_at, frame_seq, width, height, model_name, model_sha256,"
                " n_detections, inference_ms, produced_at)"
                " SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::bigint[], %s::int[], %s::int[],"
                " %s::text[], %s::text[], %s::int[], %s::real[], %s::timestamptz[])"
                " ON CONFLICT DO NOTHING RETURNING camera_id, captured_at, frame_seq",
                [
                    [k[0] for k in by_key],
                    [k[1] for k in by_key],
                    [k[2] for k in by_key],
                    [e["width"] for e in by_key.values()],
                    [e["height"] for e in by_key.values()],
                    [e["model"]["name"] for e in by_key.values()],
                    [e["model"]["sha256"] for e in by_key.values()],
                    [len(e["detections"]) for e in by_key.values()],
                    [e["timings"]["inference_ms"] for e in by_key.values()],
                    [e["produced_at"] for e in by_key.values()],
                ],
            )
            new = [by_key[(str(c), t, int(s))] for c, t, s in cur.fetchall()]  # type: ignore[call-overload,index]
            # 2.
            n_det = 0
            with cur.copy(
                "COPY detections (camera_id, captured_at, frame_seq, idx, class_id, class_name, confidence,"
                " x1, y1, x2, y2) FROM STDIN"
            ) as copy:
                for e in new:
                    for i, d in enumerate(e["detections"]):
                        copy.write_row(
                            (
                                e["camera_id"],
                                e["captured_at"],
                                e["frame_seq"],
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
                        n_det += 1
            # 3.
            if new:
                self._counts(cur, new)
            # 4.
            cur.executemany(
                "INSERT INTO projection_offsets (consumer_group, topic, partition, next_offset, updated_at)"
                " VALUES (%s, %s, %s, %s, now()) ON CONFLICT (consumer_group, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
                [(self.group_id, t, p, o) for (t, p), o in offsets.items()],
            )
        return BatchStats(len(new), len(events) - len(new), n_det)

    def _counts(self, cur: psycopg.Cursor[tuple[object, ...]], new: list[DetectionsProduced]) -> None:
        frames_min: dict[tuple[str, datetime], int] = defaultdict(int)
        class_min: dict[tuple[str, datetime, str], int] = defaultdict(int)
        cams: dict[str, list[DetectionsProduced]] = defaultdict(list)
        for e in new:
            minute = _minute(e["captured_at"])
            frames_min[(e["camera_id"], minute)] += 1
            for d in e["detections"]:
                class_min[(e["camera_id"], minute, d["class_name"])] += 1
            cams[e["camera_id"]].append(e)
        cur.executemany(
            "INSERT INTO frames_minute (camera_id, minute, frames) VALUES (%s, %s, %s)"
            " ON CONFLICT (camera_id, minute) DO UPDATE SET frames = frames_minute.frames + EXCLUDED.frames",
            [(c, mi, n) for (c, mi), n in frames_min.items()],
        )
        cur.executemany(
            "INSERT INTO class_counts_minute (camera_id, minute, class_name, detections) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (camera_id, minute, class_name)"
            " DO UPDATE SET detections = class_counts_minute.detections + EXCLUDED.detections",
            [(c, mi, k, n) for (c, mi, k), n in class_min.items()],
        )
        rows = []
        for cam, evs in cams.items():
            latest = max(evs, key=lambda e: e["captured_at"])
            rows.append(
                (
                    cam,
                    min(e["captured_at"] for e in evs),
                    latest["captured_at"],
                    latest["frame_seq"],
                    len(evs),
                    sum(len(e["detections"]) for e in evs),
                )
            )
        cur.executemany(
            "INSERT INTO cameras (camera_id, first_seen_at, last_seen_at, last_frame_seq, frames, detections,"
            " last_projected_at) VALUES (%s, %s, %s, %s, %s, %s, clock_timestamp())"
            " ON CONFLICT (camera_id) DO UPDATE SET"
            " first_seen_at = LEAST(cameras.first_seen_at, EXCLUDED.first_seen_at),"
            " last_frame_seq = CASE WHEN EXCLUDED.last_seen_at >= cameras.last_seen_at"
            "   THEN EXCLUDED.last_frame_seq ELSE cameras.last_frame_seq END,"
            " last_seen_at = GREATEST(cameras.last_seen_at, EXCLUDED.last_seen_at),"
            " frames = cameras.frames + EXCLUDED.frames,"
            " detections = cameras.detections + EXCLUDED.detections,"
            " last_projected_at = clock_timestamp()",
            rows,
        )
