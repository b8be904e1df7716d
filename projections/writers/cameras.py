"""Camera configuration (its.cameras.v1, tombstone = delete) and camera status (its.camera-status.v1).

No credential is stored: source_url is kept redacted. The config JSON keeps source_secret (the URL sealed for
ingest: ciphertext only ingest opens) so a PATCH keeps the camera's credentials; the API never answers it. A legacy
record with credentials in plaintext is sealed here when ITS_CAMERA_SEAL_PUBLIC_KEY is set, else its credentials
are dropped from the read model (ingest still reads them from the topic).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

import psycopg

from projections.batch import CameraChange
from schemas.credentials import CredentialsError, display_url, has_credentials, seal_source
from schemas.events import CameraConfig, CameraStatusChanged

__all__ = ["STATUS_COLUMNS", "write_camera_changes", "write_statuses"]

Cursor = psycopg.Cursor[Any]

STATUS_COLUMNS = (
    "camera_id",
    "status",
    "previous",
    "reason",
    "error",
    "changed_at",
    "last_frame_at",
    "measured_fps",
    "target_fps",
    "width",
    "height",
    "reconnects",
    "frames_produced",
    "frames_dropped",
    "worker",
    "source",
)


def _json_default(v: object) -> str:
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def config_json(cfg: CameraConfig) -> str:
    return json.dumps(cfg, default=_json_default, sort_keys=True)


def stored_config(cfg: CameraConfig) -> CameraConfig:
    """`cfg` as the read model keeps it: no credential in plaintext."""
    if not has_credentials(cfg["source_url"]):
        return cfg
    try:
        return cast(CameraConfig, seal_source(cfg))
    except CredentialsError:  # no sealing key here: keep no credential at all
        return {**cfg, "source_url": display_url(cfg["source_url"])}


def write_camera_changes(cur: Cursor, changes: list[CameraChange]) -> None:
    """Apply configurations and tombstones; the last record of a camera in the log wins (one camera's records are
    on one partition, so log order is the order they were written)."""
    last: dict[str, CameraChange] = {}
    for ch in changes:
        last[ch.camera_id] = ch
    if not last:
        return
    rows = []
    for ch in last.values():
        c = stored_config(ch.config) if ch.config else None
        rows.append(
            (
                ch.camera_id,
                c["name"] if c else None,
                c["source_url"] if c else None,
                c["protocol"] if c else None,
                c["target_fps"] if c else None,
                c["enabled"] if c else None,
                config_json(c) if c else None,
                c["updated_at"] if c else None,
                None if c else ch.at,
            )
        )
    cur.executemany(
        "INSERT INTO cameras (camera_id, name, source_url, protocol, target_fps, enabled, config, config_updated_at,"
        " deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
        " ON CONFLICT (camera_id) DO UPDATE SET name = EXCLUDED.name, source_url = EXCLUDED.source_url,"
        " protocol = EXCLUDED.protocol, target_fps = EXCLUDED.target_fps, enabled = EXCLUDED.enabled,"
        " config = EXCLUDED.config, config_updated_at = EXCLUDED.config_updated_at, deleted_at = EXCLUDED.deleted_at",
        rows,
    )


def newest_statuses(statuses: list[CameraStatusChanged]) -> list[CameraStatusChanged]:
    newest: dict[str, CameraStatusChanged] = {}
    for s in statuses:
        cur = newest.get(s["camera_id"])
        if cur is None or s["changed_at"] >= cur["changed_at"]:
            newest[s["camera_id"]] = s
    return list(newest.values())


def write_statuses(cur: Cursor, statuses: list[CameraStatusChanged]) -> None:
    """Upsert each camera's newest status; a status older than the stored one changes nothing."""
    rows = [tuple(s[c] for c in STATUS_COLUMNS) for s in newest_statuses(statuses)]  # type: ignore[literal-required]
    if not rows:
        return
    cols = ", ".join(STATUS_COLUMNS)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in STATUS_COLUMNS[1:])
    cur.executemany(
        f"INSERT INTO camera_status ({cols}) VALUES ({', '.join(['%s'] * len(STATUS_COLUMNS))})"
        f" ON CONFLICT (camera_id) DO UPDATE SET {sets} WHERE EXCLUDED.changed_at >= camera_status.changed_at",
        rows,
    )
