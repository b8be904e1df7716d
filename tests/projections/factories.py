"""Factories of the events the projector consumes, for projection tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import codec
from schemas.cameras import camera_config
from schemas.events import (
    CameraConfig,
    CameraStatusChanged,
    DetectionsProduced,
    IncidentDetected,
    TrafficStatsWindow,
    TurningMovement,
    VehicleCounted,
)

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def detections_event(camera: str, seq: int, classes: list[str], at: datetime | None = None) -> DetectionsProduced:
    ts = at or T0 + timedelta(milliseconds=100 * seq)
    return {
        "camera_id": camera,
        "frame_seq": seq,
        "captured_at": ts,
        "produced_at": ts + timedelta(milliseconds=50),
        "width": 1280,
        "height": 720,
        "model": {
            "name": "yolo11n",
            "version": "ab" * 6,
            "sha256": "ab" * 32,
            "backend": "onnxruntime",
            "precision": "fp32",
            "imgsz": 640,
            "class_names": ["person", "car"],
        },
        "detections": [
            {
                "class_id": i,
                "class_name": c,
                "confidence": 0.5,
                "x1": 10.0 * i,
                "y1": 1.0,
                "x2": 10.0 * i + 5,
                "y2": 9.0,
            }
            for i, c in enumerate(classes)
        ],
        "timings": {
            "queued_ms": 5.0,
            "decode_ms": 1.0,
            "preprocess_ms": 1.0,
            "inference_ms": 20.0,
            "postprocess_ms": 1.0,
            "total_ms": 30.0,
            "batch_size": 1,
        },
    }


def status_event(camera: str, i: int, status: str = "ONLINE") -> CameraStatusChanged:
    return {
        "camera_id": camera,
        "status": status,
        "previous": None if i == 0 else "ONLINE",
        "reason": "test",
        "error": None,
        "changed_at": T0 + timedelta(seconds=i),
        "last_frame_at": T0 + timedelta(seconds=i) if i % 2 else None,
        "measured_fps": 9.5,
        "target_fps": 10.0,
        "width": 1280,
        "height": 720,
        "reconnects": i,
        "frames_produced": 10 * i,
        "frames_dropped": 0,
        "worker": "w1",
        "source": "file",
    }


def vehicle_event(camera: str, i: int, at: datetime | None = None) -> VehicleCounted:
    return {
        "event_id": f"{camera}-v{i}",
        "camera_id": camera,
        "line_id": f"l{i % 2}",
        "line_name": f"line {i % 2}",
        "track_id": i,
        "direction": "IN" if i % 3 else "OUT",
        "motion": "UP",
        "class_name": ("car", "truck", "bus")[i % 3],
        "class_id": 2,
        "confidence": 0.75,
        "frame_seq": i,
        "crossed_at": at or T0 + timedelta(seconds=7 * i),
        "x": 0.5,
        "y": 0.25,
        "speed_kmh": None if i % 4 == 0 else 40.0 + (i % 8) * 0.5,  # binary fractions: sums are exact
    }


def stats_window(camera: str, i: int) -> TrafficStatsWindow:
    start = T0 + timedelta(minutes=i)
    return {
        "camera_id": camera,
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "frames": 600,
        "counts": [
            {"line_id": "l0", "class_name": "car", "direction": "IN", "count": i + 1},
            {"line_id": "l1", "class_name": "bus", "direction": "OUT", "count": 1},
        ],
        "vehicles": i + 2,
        "mean_speed_kmh": 42.5 if i % 2 else None,
        "speed_samples": i,
        "mean_occupancy": 0.25,
        "late_frames": 0,
        "closed_by": "NEXT_FRAME",
    }


def incident_event(camera: str, i: int, state: str) -> IncidentDetected:
    return {
        "incident_id": f"{camera}-inc{i}",
        "camera_id": camera,
        "type": "STOPPED_VEHICLE",
        "state": state,
        "started_at": T0 + timedelta(seconds=i),
        "ended_at": T0 + timedelta(seconds=i + 30) if state == "CLOSED" else None,
        "track_id": i,
        "class_name": "car",
        "line_id": None,
        "zone_id": "z1",
        "value": 31.5,
        "detail": "stopped 30 s",
    }


def camera_record(camera: str, i: int) -> CameraConfig:
    return camera_config(
        camera,
        f"rtsp://example.invalid/{camera}",
        name=f"Camera {camera}",
        target_fps=5.0 + i % 3,
        updated_at=T0 + timedelta(seconds=i),
    )


Record = tuple[str, bytes, bytes | None]  # (kind, key, value); value None = tombstone


def mixed_stream(cameras: list[str], n_per_camera: int) -> list[Record]:
    """About `n_per_camera` records per camera over all seven kinds, in the order analytics would produce them:
    configs (one camera deleted at the end), statuses, detections over two UTC days, vehicle events, turning
    movements, stats windows and incidents (every other one closed, then an OPEN replayed after the CLOSED, which
    must not reopen it)."""
    out: list[Record] = []
    for ci, cam in enumerate(cameras):
        k = cam.encode()
        out.append(("CameraConfig", k, codec("CameraConfig").encode(camera_record(cam, 0))))
        for i in range(n_per_camera):
            kind = i % 10
            if kind < 5:
                at = T0 + timedelta(hours=20 * (i * 2 >= n_per_camera), milliseconds=100 * i)  # crosses midnight
                ev = detections_event(cam, i, ["car", "bus", "car"][: 1 + i % 3], at)
                out.append(("DetectionsProduced", k, codec("DetectionsProduced").encode(ev)))
            elif kind == 5:
                out.append(("VehicleCounted", k, codec("VehicleCounted").encode(vehicle_event(cam, i))))
            elif kind == 6:
                od = ("north", "south") if i % 20 < 10 else ("east", "west")
                out.append(("TurningMovement", k, codec("TurningMovement").encode(movement_event(cam, i, *od))))
            elif kind == 7:
                out.append(("CameraStatusChanged", k, codec("CameraStatusChanged").encode(status_event(cam, i))))
            elif kind == 8:
                out.append(("TrafficStatsWindow", k, codec("TrafficStatsWindow").encode(stats_window(cam, i))))
            else:
                inc = incident_event(cam, i // 20, "OPEN" if (i // 10) % 2 == 0 else "CLOSED")
                out.append(("IncidentDetected", k, codec("IncidentDetected").encode(inc)))
        if n_per_camera >= 20:
            reopened = incident_event(cam, 0, "OPEN")  # after incident 0 was closed
            out.append(("IncidentDetected", k, codec("IncidentDetected").encode(reopened)))
        if ci == 0 and len(cameras) > 1:
            out.append(("CameraConfig", k, None))  # the first camera is deleted
        else:
            out.append(("CameraConfig", k, codec("CameraConfig").encode(camera_record(cam, 1))))
    return out


def movement_event(
    camera: str, i: int, origin: str, destination: str, at: datetime | None = None, class_name: str = "car"
) -> TurningMovement:
    """Movement i of `camera` (track i), origin -> destination approach zone, moved at `at` (default T0 + i s)."""
    moved = at or T0 + timedelta(seconds=i)
    return {
        "movement_id": f"{camera}-m{i}",
        "camera_id": camera,
        "track_id": i,
        "origin_zone_id": origin,
        "origin_name": origin.title(),
        "destination_zone_id": destination,
        "destination_name": destination.title(),
        "class_name": class_name,
        "class_id": 2,
        "confidence": 0.8,
        "frame_seq": 10 * i,
        "entered_at": moved - timedelta(seconds=3),
        "moved_at": moved,
        "speed_kmh": None if i % 2 else 40.0,
    }
