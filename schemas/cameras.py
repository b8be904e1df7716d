"""The camera registry: CameraConfig records on the compacted `its.cameras.v1` topic, keyed by camera_id.

This module is the record's contract (defaults, validation, decoding); eventbus/registry.py writes and reads the topic.
Written by `itscam cameras add|update|remove` and the API's camera commands (POST/PUT/PATCH/DELETE /v1/cameras), read
by the ingest workers (each follows the partitions the consumer group gives it), the analytics stage (lines, zones,
calibration), the projector (the cameras read model) and `itscam cameras list`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote, urlsplit

from pydantic import ValidationError

from schemas import camera_model as cm
from schemas._camera_errors import describe
from schemas.camera_model import DECODE_MODES, LINE_DIRECTIONS, PROTOCOLS
from schemas.errors import SchemaError
from schemas.events import CameraConfig
from schemas.redaction import redact
from schemas.serde import codec

Point2 = tuple[float, float]

__all__ = [
    "DECODE_MODES",
    "LINE_DIRECTIONS",
    "PROTOCOLS",
    "CameraConfigError",
    "camera_config",
    "check_source_url",
    "decode_camera",
    "general_position",
    "redact",
    "simple_polygon",
    "validate_camera",
]


class CameraConfigError(SchemaError):
    """A camera configuration is invalid; the message names the field and the fix. `field` is where (the path of
    a missing, unknown or mistyped field, e.g. "lines[0].y2", or the top-level field holding a value out of range)
    and `reason` the short why, as the API's 422 problems show them."""

    def __init__(self, message: str, field: str = "body", reason: str = "is invalid") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


def camera_config(camera_id: str, source_url: str, **fields: Any) -> CameraConfig:
    """A complete CameraConfig from the schema's defaults and `fields` (updated_at: now); validated."""
    known = set(cm.CameraConfig.model_fields)
    unknown = set(fields) - known
    if unknown:
        raise CameraConfigError(
            f"Unknown camera field(s) {sorted(unknown)}; known: {sorted(known)}.", str(min(unknown)), "is unknown"
        )
    return validate_camera(
        {"updated_at": datetime.now(UTC), **fields, "camera_id": camera_id, "source_url": source_url}
    )


def validate_camera(cfg: Mapping[str, Any]) -> CameraConfig:
    """`cfg` checked against the CameraConfig model (types, enums, ranges) and completed with the schema's
    defaults; raise CameraConfigError naming the first field that is wrong."""
    try:
        model = cm.CameraConfig.model_validate(cfg)
    except ValidationError as e:
        raise CameraConfigError(*describe(cfg, e.errors(include_url=False)[0])) from None
    out = cast(CameraConfig, model.model_dump())
    cid = out["camera_id"]
    check_source_url(out["source_url"], cid)
    seen: set[str] = set()
    for line in out["lines"]:
        if (line["x1"], line["y1"]) == (line["x2"], line["y2"]):
            raise CameraConfigError(
                f"Camera {cid}: line {line['line_id']!r} has both ends at {(line['x1'], line['y1'])}; give two "
                "distinct points.",
                "lines",
                "has a line with both ends at one point",
            )
        if line["line_id"] in seen:
            raise CameraConfigError(
                f"Camera {cid}: line id {line['line_id']!r} is used twice; line ids are unique.",
                "lines",
                "has a line id used twice",
            )
        seen.add(line["line_id"])
    zone_ids: set[str] = set()
    for i, zone in enumerate(out["zones"]):
        pts = [(p["x"], p["y"]) for p in zone["points"]]
        if zone["zone_id"] in zone_ids:
            raise CameraConfigError(
                f"Camera {cid}: zone id {zone['zone_id']!r} is used twice; zone ids are unique.",
                "zones",
                "has a zone id used twice",
            )
        zone_ids.add(zone["zone_id"])
        if not simple_polygon(pts):
            raise CameraConfigError(
                f"Camera {cid}: zone {zone['zone_id']!r} crosses itself or has no area; give its points in order "
                "around the zone (clockwise or anticlockwise), at least 3 not on one line.",
                f"zones[{i}].points",
                "is self-intersecting or has no area",
            )
    cal = out["calibration"]
    if cal is not None:
        for name in ("image_points", "ground_points"):
            pts = [(p["x"], p["y"]) for p in cal[name]]
            if not general_position(pts):
                raise CameraConfigError(
                    f"Camera {cid}: calibration {name} has three points on one line (or two equal points), so no "
                    "perspective transform exists; place the four points at the corners of a quadrilateral on the "
                    "road.",
                    f"calibration.{name}",
                    "has three points on one line",
                )
    return out


# a scheme of two or more characters (`C:` is a drive letter): the source is a URL, not a path
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+:")
# not allowed unencoded in a URL (RFC 3986), and where a credential's redaction in a text would stop
_URL_UNSAFE = frozenset('"<>\\`')
_ENCODE_REASON = "holds a character that must be percent-encoded"


def check_source_url(url: str, camera_id: str = "") -> None:
    """Raise CameraConfigError (field source_url) when `url` cannot be split unambiguously into the parts that
    hold credentials: a control character anywhere; in a URL also whitespace, `"`, `<`, `>`, a backslash or a
    backtick (all must be percent-encoded), a port that is not a number (an unencoded ':', '/', '?' or '#' in a
    password) or an '@' after a '?' or '#' that ends the host (an unencoded '?' or '#' in a password). A bare
    path may hold spaces. The message never repeats the URL (it may hold a password)."""
    who = f"Camera {camera_id}: " if camera_id else ""
    is_url = _SCHEME.match(url) is not None
    for i, ch in enumerate(url):
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or (is_url and (ch in _URL_UNSAFE or ch.isspace())):
            shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
            raise CameraConfigError(
                f"{who}source_url holds {shown} at character {i + 1}, which a camera URL may not hold unencoded; "
                f"percent-encode it ({quote(ch, safe='')}), in a user name or password too.",
                "source_url",
                _ENCODE_REASON,
            )
    if not is_url:
        return
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError: not a number (or out of range)
        ambiguous = "@" not in parts.netloc and not parts.path and "@" in parts.query + parts.fragment
    except ValueError:
        ambiguous = True
    if ambiguous:
        raise CameraConfigError(
            f"{who}source_url's host part (after '//', up to the first '/', '?' or '#') is not host[:port] with a "
            "port 0-65535: a ':', '/', '?', '#' or '@' in the user name or password must be percent-encoded (%3A, "
            "%2F, %3F, %23, %40).",
            "source_url",
            "has a host part that is not host[:port]",
        )


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_meet(p1: Point2, p2: Point2, q1: Point2, q2: Point2) -> bool:
    """Whether closed segments p1p2 and q1q2 share a point (touching and collinear overlap included)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True

    def on(a: Point2, b: Point2, c: Point2, d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(q1, q2, p1, d1) or on(q1, q2, p2, d2) or on(p1, p2, q1, d3) or on(p1, p2, q2, d4)


def simple_polygon(pts: list[Point2]) -> bool:
    """Whether the closed polygon through `pts` has an area and no two of its edges cross or touch (other than
    neighbours at their shared corner)."""
    n = len(pts)
    area = sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n)) / 2
    if n < 3 or abs(area) < 1e-9:
        return False
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        if edges[i][0] == edges[i][1]:
            return False
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner
            if _segments_meet(*edges[i], *edges[j]):
                return False
    return True


def general_position(pts: list[Point2]) -> bool:
    """Whether no three of `pts` lie on one line (relative to the points' spread)."""
    span = max(max(p[0] for p in pts) - min(p[0] for p in pts), max(p[1] for p in pts) - min(p[1] for p in pts))
    if span <= 0:
        return False
    eps = 1e-6 * span * span
    n = len(pts)
    return all(
        abs(_cross(pts[i], pts[j], pts[k])) > eps for i in range(n) for j in range(i + 1, n) for k in range(j + 1, n)
    )


def decode_camera(value: bytes) -> CameraConfig:
    return cast(CameraConfig, codec("CameraConfig").decode(value))
