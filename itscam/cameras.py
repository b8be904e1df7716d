"""`itscam cameras add|update|remove|list`: write and read the camera registry (its.cameras.v1)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["add_parser", "cmd_cameras"]

_FIELDS = {  # flag dest -> CameraConfig field
    "name": "name",
    "url": "source_url",
    "protocol": "protocol",
    "fps": "target_fps",
    "max_width": "max_width",
    "max_height": "max_height",
    "jpeg_quality": "jpeg_quality",
    "decode": "decode",
    "loop": "loop",
    "enabled": "enabled",
}
_JSON_FIELDS = ("lines", "zones", "calibration")


def _json_arg(value: str) -> Any:
    """Inline JSON, or @path to a JSON file."""
    from schemas.cameras import CameraConfigError

    text = value
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise CameraConfigError(f"Cannot read {value[1:]}: {e}.") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CameraConfigError(f"{value[:60]!r} is not valid JSON ({e}); pass inline JSON or @file.json.") from e


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    out = {field: getattr(args, dest) for dest, field in _FIELDS.items() if getattr(args, dest, None) is not None}
    for field in _JSON_FIELDS:
        raw = getattr(args, field, None)
        if raw is not None:
            out[field] = _json_arg(raw)
    return out


def _bootstrap(args: argparse.Namespace) -> str:
    from eventbus.settings import DeployableSettings

    return str(args.bootstrap or DeployableSettings().kafka_bootstrap)


def cmd_cameras(args: argparse.Namespace) -> int:
    from eventbus.registry import put_camera, read_cameras, remove_camera
    from schemas.cameras import CameraConfigError, camera_config
    from schemas.credentials import display_url
    from schemas.source_policy import check_source

    bootstrap, topic = _bootstrap(args), args.topic
    if args.action == "list":
        cams = read_cameras(bootstrap, topic)
        if args.json:
            rows = [
                {
                    **{k: v for k, v in c.items() if k != "source_secret"},  # sealed for ingest: never shown
                    "source_url": display_url(c["source_url"]),
                    "updated_at": c["updated_at"].isoformat(),
                }
                for c in cams.values()
            ]
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'CAMERA':24} {'ENABLED':7} {'FPS':>5} {'PROTOCOL':10} {'DECODE':9} {'LINES':>5}  SOURCE")
        for c in cams.values():
            print(
                f"{c['camera_id']:24} {('yes' if c['enabled'] else 'no'):7} {c['target_fps']:5g} {c['protocol']:10} "
                f"{c['decode']:9} {len(c['lines']):5}  {display_url(c['source_url'])}"
            )
        print(f"{len(cams)} camera(s) in {topic}")
        return 0
    if args.action == "reseal":
        return _reseal(bootstrap, topic)
    cid = args.camera_id
    if args.action == "remove":
        if cid not in read_cameras(bootstrap, topic) and not args.force:
            raise CameraConfigError(f"Camera {cid} is not in {topic}; `itscam cameras list` shows the cameras.")
        remove_camera(bootstrap, cid, topic)
        print(f"removed {cid}")
        return 0
    changes = _changes(args)
    current = read_cameras(bootstrap, topic).get(cid)
    if args.action == "add":
        if current is not None and not args.replace:
            raise CameraConfigError(
                f"Camera {cid} already exists: use `itscam cameras update {cid} ...` or add --replace."
            )
        url = changes.pop("source_url", None)
        if not url:
            raise CameraConfigError("cameras add needs the source URL: `itscam cameras add ID URL`.")
        cfg = camera_config(cid, url, **changes)
    else:
        if current is None:
            raise CameraConfigError(f"Camera {cid} is not in {topic}: add it with `itscam cameras add {cid} URL`.")
        if not changes:
            raise CameraConfigError("Nothing to update: pass at least one option (see `itscam cameras update -h`).")
        merged = {**current, **changes, "updated_at": datetime.now(UTC)}
        if "source_url" in changes:
            merged["source_secret"] = None  # a new URL: its credentials (if any) are sealed afresh by put_camera
        cfg = camera_config(cid, merged.pop("source_url"), **{k: v for k, v in merged.items() if k != "camera_id"})
    check_source(cfg["source_url"], cfg["protocol"])  # SourceRefused (a CameraConfigError) names the rule
    put_camera(bootstrap, cfg, topic)
    print(f"{args.action}{'d' if args.action == 'update' else 'ed'} {cid}: {display_url(cfg['source_url'])}")
    return 0


def _reseal(bootstrap: str, topic: str) -> int:
    """Rewrite every camera whose record still holds its credentials in plaintext (written before they were
    sealed) as a sealed record: the compacted topic then keeps only the sealed one. Nothing else changes."""
    from eventbus.registry import put_camera, read_cameras
    from schemas.credentials import display_url, has_credentials

    cams = read_cameras(bootstrap, topic)
    plain = [c for c in cams.values() if not c.get("source_secret") and has_credentials(c["source_url"])]
    for c in plain:
        put_camera(bootstrap, c, topic)  # seals (ITS_CAMERA_SEAL_PUBLIC_KEY) before it writes
        print(f"resealed {c['camera_id']}: {display_url(c['source_url'])}")
    print(f"{len(plain)} of {len(cams)} camera(s) in {topic} held plaintext credentials; now sealed")
    return 0


def add_parser(sub: Any) -> None:
    from schemas.camera_model import DECODE_MODES, PROTOCOLS
    from schemas.camera_model import CameraConfig as Model
    from schemas.topics import CAMERAS

    def default(name: str) -> Any:  # the .avsc default, through the typed model
        return Model.model_fields[name].default

    cp = sub.add_parser(
        "cameras",
        help="Add, update, remove and list cameras (the registry topic its.cameras.v1).",
        description="The registry is a compacted Kafka topic of CameraConfig records keyed by camera id; ingest "
        "workers pick changes up within seconds. Credentials in URLs are never printed.",
    )
    csub = cp.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bootstrap", help="Kafka bootstrap servers (ITS_KAFKA_BOOTSTRAP).")
        p.add_argument("--topic", default=CAMERAS.name, help=f"Registry topic ({CAMERAS.name}).")

    def fields(p: argparse.ArgumentParser) -> None:
        p.add_argument("--name", help="Human-readable name.")
        p.add_argument("--protocol", choices=PROTOCOLS, help="How to read the URL (AUTO: from the URL).")
        p.add_argument("--fps", type=float, help=f"Target sampled frames per second ({default('target_fps'):g}).")
        p.add_argument(
            "--max-width", type=int, help=f"Scale wider frames down to this ({default('max_width')}; 0 = no cap)."
        )
        p.add_argument(
            "--max-height", type=int, help=f"Scale taller frames down to this ({default('max_height')}; 0 = no cap)."
        )
        p.add_argument("--jpeg-quality", type=int, help=f"JPEG quality ({default('jpeg_quality')}).")
        p.add_argument("--decode", choices=DECODE_MODES, help="AUTO (key frames only when enough), ALL, KEYFRAMES.")
        p.add_argument("--loop", action=argparse.BooleanOptionalAction, default=None, help="Files: loop.")
        p.add_argument(
            "--enabled", action=argparse.BooleanOptionalAction, default=None, help="--no-enabled stops reading it."
        )
        p.add_argument("--lines", help='Counting lines as JSON or @file: [{"line_id":..,"x1":..,...}].')
        p.add_argument("--zones", help="Zones as JSON or @file.")
        p.add_argument("--calibration", help='{"image_points":[4 points],"ground_points":[4 points]} or @file.')
        common(p)

    add = csub.add_parser("add", help="Add a camera.", description="Add a camera (fails if the id exists).")
    add.add_argument("camera_id")
    add.add_argument("url", help="rtsp://user:pass@host/path, http(s):// MJPEG or HLS, whep://host/path, or a file.")
    add.add_argument("--replace", action="store_true", help="Overwrite an existing camera.")
    fields(add)
    upd = csub.add_parser("update", help="Change fields of a camera.", description="Change the given fields only.")
    upd.add_argument("camera_id")
    upd.add_argument("--url", help="New source URL.")
    fields(upd)
    rm = csub.add_parser("remove", help="Remove a camera (tombstone).", description="Append a tombstone.")
    rm.add_argument("camera_id")
    rm.add_argument("--force", action="store_true", help="Write the tombstone even if the id is unknown.")
    common(rm)
    rs = csub.add_parser(
        "reseal",
        help="Seal credentials still in plaintext.",
        description="Rewrite every camera record that still holds credentials in plaintext (written before they "
        "were sealed) sealed for ingest (ITS_CAMERA_SEAL_PUBLIC_KEY); run once after upgrading.",
    )
    common(rs)
    ls = csub.add_parser("list", help="List cameras.", description="Read the registry to its end and list it.")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table.")
    common(ls)
    cp.set_defaults(fn=cmd_cameras)
