"""CameraAnalytics end to end on synthetic traffic: counts, determinism, state snapshots, late frames, windows,
camera status, incidents, speed, reconfiguration, class filter, occupancy."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.events import CameraConfig, CameraStatusChanged, DetectionsProduced
from streams.analytics.camera import CameraAnalytics, Params
from streams.analytics.state import dump_state, load_state
from tests.streams.analytics.factories import T0, Car, camera_status, line_camera, traffic

CAM = "cam-1"
W, H, FPS = 1280, 720, 10.0
LINE_Y = 0.5 * H

Rec = dict[str, Any]


def run(ca: CameraAnalytics, evs: list[DetectionsProduced], cfg: CameraConfig) -> list[tuple[int, str, Rec]]:
    """Process in-order frames; (frame_seq, kind, record) of every output."""
    out: list[tuple[int, str, Rec]] = []
    for ev in evs:
        assert ca.classify(ev) == "ok"
        out += [(ev["frame_seq"], kind, dict(rec)) for kind, rec in ca.process(ev, cfg)]
    return out


def of(outs: list[tuple[int, str, Rec]], kind: str) -> list[Rec]:
    return [r for _, k, r in outs if k == kind]


def at(seq: float, fps: float = FPS) -> datetime:
    return T0 + timedelta(seconds=seq / fps)


def status(ca: CameraAnalytics, ev: CameraStatusChanged) -> list[tuple[str, Rec]]:
    """Apply a camera status change; (kind, record) of every output."""
    return [(kind, dict(rec)) for kind, rec in ca.status(ev)]


def rect(zone_id: str, kind: str, x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    pts = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    return {"zone_id": zone_id, "name": zone_id, "kind": kind, "points": [{"x": x, "y": y} for x, y in pts]}


#: The image's unit square is a 20 m x 20 m ground square, axis aligned.
CALIBRATION = {
    "image_points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}],
    "ground_points": [{"x": 0.0, "y": 0.0}, {"x": 20.0, "y": 0.0}, {"x": 20.0, "y": 20.0}, {"x": 0.0, "y": 20.0}],
}


def stream(n: int = 6) -> list[Car]:
    """n cars driving down across the middle line, 1.5 s apart, side by side in alternate lanes, of two classes."""
    return [
        Car(
            start_frame=15 * i,
            x=200.0 + 220.0 * (i % 5),
            y=80.0 + 10.0 * (i % 3),
            vx=1.0 - (i % 3),
            vy=18.0 + 2.0 * (i % 4),
            class_name="truck" if i % 4 == 3 else "car",
            class_id=7 if i % 4 == 3 else 2,
            w=100.0 if i % 4 == 3 else 80.0,
        )
        for i in range(n)
    ]


# -- counting ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, 8])
def test_cars_crossing_down_count_in_once_each(n: int) -> None:
    cars = stream(n)
    outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, cars, 15 * n + 40), line_camera(CAM))
    vehicles = of(outs, "vehicle")
    assert len(vehicles) == n
    assert [(v["direction"], v["motion"], v["line_id"]) for v in vehicles] == [("IN", "DOWN", "line-1")] * n
    assert len({v["event_id"] for v in vehicles}) == n
    assert len({v["track_id"] for v in vehicles}) == n
    for car, v in zip(cars, vehicles, strict=True):  # the cars cross in the order they start
        k = (LINE_Y - car.y) / car.vy  # frames after its start at which its centre is on the line
        assert v["crossed_at"] == pytest.approx(at(car.start_frame + k), abs=timedelta(milliseconds=1))
        assert v["x"] == pytest.approx((car.x + k * car.vx) / W, abs=1e-6)
        assert v["y"] == pytest.approx(0.5, abs=1e-9)
        assert (v["class_name"], v["class_id"]) == (car.class_name, car.class_id)
        assert v["confidence"] == pytest.approx(0.9)
        assert v["camera_id"] == CAM
        assert v["speed_kmh"] is None  # no calibration
        band = Params().line_band * H
        clear = next(j for j in range(100) if car.y + j * car.vy - LINE_Y > band)
        assert v["frame_seq"] == car.start_frame + clear  # the first frame clearly past the line
    assert of(outs, "incident") == []


@pytest.mark.parametrize(
    ("in_direction", "vy", "direction", "motion"),
    [
        ("LEFT_TO_RIGHT", 20.0, "IN", "DOWN"),
        ("LEFT_TO_RIGHT", -20.0, "OUT", "UP"),
        ("RIGHT_TO_LEFT", 20.0, "OUT", "DOWN"),
        ("RIGHT_TO_LEFT", -20.0, "IN", "UP"),
    ],
)
def test_line_direction_mapping(in_direction: str, vy: float, direction: str, motion: str) -> None:
    """For a line drawn left to right, LEFT_TO_RIGHT makes crossing downwards IN; RIGHT_TO_LEFT, upwards."""
    y0 = 100.0 if vy > 0 else H - 100.0
    cfg = line_camera(CAM, in_direction=in_direction)
    outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, [Car(0, 640, y0, 0, vy)], 30), cfg)
    assert [(v["direction"], v["motion"]) for v in of(outs, "vehicle")] == [(direction, motion)]


def test_jittery_boxes_count_once_and_a_car_parked_on_the_line_never() -> None:
    """3 px of box jitter: each crossing car counts once; a car standing on the line (its centre within the
    band) is not counted however its box jitters."""
    cars = [*stream(5), Car(0, 1150.0, LINE_Y, 0.0, 0.0)]
    for seed in range(3):
        outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, cars, 120, jitter=3.0, seed=seed), line_camera(CAM))
        vehicles = of(outs, "vehicle")
        assert [v["direction"] for v in vehicles] == ["IN"] * 5
        assert all(v["x"] < 1100 / W for v in vehicles)


def test_car_crossing_back_counts_out_once_and_never_a_second_in() -> None:
    """Down, up, down again (slowly, a tall box: one track throughout): IN then OUT, nothing more."""
    down = Car(0, 640, 300, 0, 8, h=120, frames=15)  # to y=412
    up = Car(15, 640, 420, 0, -8, h=120, frames=15)  # to y=308
    again = Car(30, 640, 300, 0, 8, h=120, frames=15)  # to y=412
    ca = CameraAnalytics(CAM, Params())
    outs = run(ca, traffic(CAM, [down, up, again], 45), line_camera(CAM))
    vehicles = of(outs, "vehicle")
    assert [(v["direction"], v["motion"]) for v in vehicles] == [("IN", "DOWN"), ("OUT", "UP")]
    assert vehicles[0]["track_id"] == vehicles[1]["track_id"]
    assert list(ca.tracks) == [vehicles[0]["track_id"]]  # still the same track when it crossed again


def test_car_first_seen_past_the_line_is_not_counted() -> None:
    outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, [Car(0, 640, LINE_Y + 40, 0, 20)], 15), line_camera(CAM))
    assert of(outs, "vehicle") == []


def test_crossing_beside_the_line_is_not_counted() -> None:
    """The line spans the left half of the frame; a car on the right crosses its extension only."""
    cfg = line_camera(CAM, x1=0.0, x2=0.5)
    cars = [Car(0, 1000, 100, 0, 20), Car(0, 300, 100, 0, 20)]
    vehicles = of(run(CameraAnalytics(CAM, Params()), traffic(CAM, cars, 30), cfg), "vehicle")
    assert [round(v["x"] * W) for v in vehicles] == [300]


def test_classes_outside_params_are_not_tracked_or_counted() -> None:
    person = Car(0, 300, 100, 0, 15, w=30, h=70, class_name="person", class_id=0)
    car = Car(0, 900, 100, 0, 15)
    params = Params()
    assert "person" not in params.classes
    ca = CameraAnalytics(CAM, params)
    outs = run(ca, traffic(CAM, [person, car], 700), line_camera(CAM))
    vehicles = of(outs, "vehicle")
    assert [v["class_name"] for v in vehicles] == ["car"]
    (stats,) = of(outs, "stats")
    assert stats["vehicles"] == 1
    assert stats["counts"] == [{"line_id": "line-1", "class_name": "car", "direction": "IN", "count": 1}]
    # ... and counted when the parameters say so
    with_people = Params(classes=params.classes | {"person"})
    outs = run(CameraAnalytics(CAM, with_people), traffic(CAM, [person, car], 60), line_camera(CAM))
    assert sorted(v["class_name"] for v in of(outs, "vehicle")) == ["car", "person"]


# -- determinism and snapshots ----------------------------------------------------------------------------------


def busy_day() -> tuple[list[DetectionsProduced], CameraConfig]:
    """Traffic both ways with jitter, a wrong-way driver, a stop zone and an occupancy zone."""
    cars = [*stream(8), Car(20, 1100, 650, 0, -20, frames=40), Car(40, 640, 560, 0, 0, frames=60, w=120, h=80)]
    cfg = line_camera(
        CAM,
        one_way=True,
        zones=[rect("stop-1", "stop", 0.4, 0.6, 0.6, 0.95), rect("occ-1", "occupancy", 0.4, 0.7, 0.6, 0.9)],
        calibration=CALIBRATION,
    )
    return traffic(CAM, cars, 700, jitter=2.0, seed=7), cfg


def params() -> Params:
    return Params(stop_seconds=3.0, window=30.0, congestion_window=5.0, congestion_threshold=0.1)


def test_same_sequence_from_fresh_state_gives_identical_outputs() -> None:
    evs, cfg = busy_day()
    first = run(CameraAnalytics(CAM, params()), evs, cfg)
    second = run(CameraAnalytics(CAM, params()), evs, cfg)
    assert first == second
    kinds = Counter(k for _, k, _ in first)
    assert kinds["vehicle"] >= 9 and kinds["stats"] >= 2 and kinds["incident"] >= 3  # the scenario does happen
    types = {r["type"] for r in of(first, "incident")}
    assert {"WRONG_WAY", "STOPPED_VEHICLE", "CONGESTION"} <= types


@pytest.mark.parametrize("cut", [1, 25, 47, 333])
def test_stored_state_continues_like_uninterrupted(cut: int) -> None:
    evs, cfg = busy_day()
    whole = run(CameraAnalytics(CAM, params()), evs, cfg)
    ca = CameraAnalytics(CAM, params())
    head = run(ca, evs[:cut], cfg)
    data = dump_state(ca)
    restored = load_state(data, params(), CAM)
    assert dump_state(restored) == data
    tail = run(restored, evs[cut:], cfg)
    assert head + tail == whole


def test_stored_state_does_not_share_with_the_original() -> None:
    evs, cfg = busy_day()
    ca = CameraAnalytics(CAM, params())
    run(ca, evs[:100], cfg)
    copy = load_state(dump_state(ca), params(), CAM)
    a = run(ca, evs[100:200], cfg)
    b = run(copy, evs[100:200], cfg)
    assert a == b


# -- frame order ------------------------------------------------------------------------------------------------


def test_classify_duplicates_and_late_frames() -> None:
    evs = traffic(CAM, [Car(0, 640, 100, 0, 20)], 20)
    ca = CameraAnalytics(CAM, Params())
    cfg = line_camera(CAM)
    for ev in [*evs[:5], *evs[7:10]]:  # seqs 0-4 and 7-9
        assert ca.classify(ev) == "ok"
        ca.process(ev, cfg)
    assert ca.classify(evs[9]) == "duplicate"  # the last one again
    assert ca.classify(evs[3]) == "duplicate"  # an older one already processed
    assert ca.classify(evs[5]) == "late"  # older, never processed
    assert ca.classify(evs[10]) == "ok"
    # a newer sequence number captured before the last processed frame is late too
    assert ca.classify({**evs[10], "captured_at": evs[8]["captured_at"]}) == "late"


def test_late_frames_count_into_the_open_window() -> None:
    evs = traffic(CAM, [Car(0, 640, 100, 0, 5)], 700)
    ca = CameraAnalytics(CAM, Params())
    cfg = line_camera(CAM)
    late = [evs[10], evs[20], evs[30]]
    in_order = [ev for ev in evs if ev not in late]
    outs: list[tuple[int, str, Rec]] = []
    for i, ev in enumerate(in_order):
        outs += [(ev["frame_seq"], k, dict(r)) for k, r in ca.process(ev, cfg)]
        if i == 100:
            for x in late:
                assert ca.classify(x) == "late"
                ca.note_late()
    stats = of(outs, "stats")
    assert [s["late_frames"] for s in stats] == [3]
    assert stats[0]["frames"] == 600 - 3  # late frames change no window


# -- windows and camera status ----------------------------------------------------------------------------------


def test_two_and_a_half_minutes_emit_two_windows_matching_the_counts() -> None:
    fps = 5.0
    n = int(150 * fps)
    # a car every 9 s going down, one every 13 s going up, a bus every 30 s
    cars = [Car(int(9 * fps * i), 300, 80, 0, 10) for i in range(16)]
    cars += [Car(int(13 * fps * i) + 3, 700, 650, 0, -10) for i in range(11)]
    cars += [Car(int(30 * fps * i) + 11, 1100, 80, 0, 8, w=160, h=90, class_name="bus", class_id=5) for i in range(5)]
    cars = [Car(**{**c.__dict__, "frames": 75}) for c in cars]  # gone once past the frame
    evs = traffic(CAM, cars, n, fps=fps)
    outs = run(CameraAnalytics(CAM, Params()), evs, line_camera(CAM, target_fps=fps))
    stats = [(seq, r) for seq, k, r in outs if k == "stats"]
    assert [seq for seq, _ in stats] == [int(60 * fps), int(120 * fps)]  # emitted by the first frame past each end
    vehicles = [(seq, r) for seq, k, r in outs if k == "vehicle"]
    assert len(vehicles) > 20
    for i, (_, rec) in enumerate(stats):
        lo, hi = int(60 * fps * i), int(60 * fps * (i + 1))
        assert rec["closed_by"] == "NEXT_FRAME"
        assert rec["window_start"] == T0 + timedelta(seconds=60 * i)
        assert rec["window_end"] == T0 + timedelta(seconds=60 * (i + 1))
        assert rec["frames"] == hi - lo
        inside = [v for seq, v in vehicles if lo <= seq < hi]
        expected = Counter((v["line_id"], v["class_name"], v["direction"]) for v in inside)
        assert {(c["line_id"], c["class_name"], c["direction"]): c["count"] for c in rec["counts"]} == expected
        assert rec["counts"] == sorted(rec["counts"], key=lambda c: (c["line_id"], c["class_name"], c["direction"]))
        assert {"IN", "OUT"} <= {c["direction"] for c in rec["counts"]}
        assert rec["vehicles"] >= len({v["track_id"] for v in inside})
        assert rec["mean_speed_kmh"] is None and rec["speed_samples"] == 0
        assert rec["late_frames"] == 0


def test_offline_closes_the_window_and_opens_an_incident_online_closes_it() -> None:
    ca = CameraAnalytics(CAM, Params())
    cfg = line_camera(CAM)
    evs = traffic(CAM, [Car(0, 640, 100, 0, 20)], 100)  # 10 s of frames, one car crossing
    outs = run(ca, evs, cfg)
    assert of(outs, "stats") == []

    off = status(ca, camera_status(CAM, "OFFLINE", at(105), reason="stream ended"))
    assert [k for k, _ in off] == ["stats", "incident"]
    stats, opened = off[0][1], off[1][1]
    assert stats["closed_by"] == "CAMERA_STOPPED"
    assert stats["frames"] == 100
    assert (stats["window_start"], stats["window_end"]) == (T0, T0 + timedelta(seconds=60))
    assert stats["counts"] == [{"line_id": "line-1", "class_name": "car", "direction": "IN", "count": 1}]
    assert opened["type"] == "CAMERA_OFFLINE" and opened["state"] == "OPEN"
    assert opened["started_at"] == at(105) and opened["ended_at"] is None
    assert "stream ended" in opened["detail"]

    assert status(ca, camera_status(CAM, "OFFLINE", at(150))) == []  # already offline, window already closed
    on = status(ca, camera_status(CAM, "ONLINE", at(200), reason="reconnected"))
    assert len(on) == 1
    kind, closed = on[0]
    assert kind == "incident"
    assert closed["type"] == "CAMERA_OFFLINE" and closed["state"] == "CLOSED"
    assert closed["incident_id"] == opened["incident_id"]
    assert (closed["started_at"], closed["ended_at"]) == (at(105), at(200))

    # frames of the closed window are late; the next window's are not
    later = traffic(CAM, [Car(0, 640, 100, 0, 20)], 1, seq0=300)[0]
    assert ca.classify(later) == "late"
    nxt = traffic(CAM, [Car(0, 640, 100, 0, 20)], 1, seq0=600)[0]
    assert ca.classify(nxt) == "ok"
    assert ca.process(nxt, cfg) == []  # no second record of the closed window
    assert ca.window is not None and ca.window.start == (T0 + timedelta(seconds=60)).timestamp()


def test_a_stop_reported_before_the_cameras_last_frames_closes_the_window_after_them() -> None:
    # The status goes straight from ingest to analytics while the last frames are still in inference: the window
    # waits for the last frame the status names (last_frame_at), and those frames count, none of them late.
    cfg = line_camera(CAM)
    evs = traffic(CAM, [Car(0, 640, 100, 0, 20)], 100)
    whole = CameraAnalytics(CAM, Params())
    ref = run(whole, evs, cfg) + [("", k, dict(r)) for k, r in whole.status(camera_status(CAM, "DISABLED", at(100)))]

    ca = CameraAnalytics(CAM, Params())
    outs = run(ca, evs[:40], cfg)
    stop = {**camera_status(CAM, "DISABLED", at(100), reason="ended"), "last_frame_at": evs[-1]["captured_at"]}
    assert status(ca, stop) == []  # not yet: frames up to last_frame_at are on their way
    assert ca.close_after == evs[-1]["captured_at"].timestamp()
    outs += run(ca, evs[40:], cfg)  # run() asserts each is "ok", not late
    stats = of(outs, "stats")
    assert len(stats) == 1 and stats[0]["closed_by"] == "CAMERA_STOPPED" and stats[0]["frames"] == 100
    assert stats == [r for _, k, r in ref if k == "stats"]
    assert of(outs, "vehicle") == of(ref, "vehicle")
    assert ca.window is None and ca.close_after is None


def test_a_stop_whose_last_frame_never_comes_leaves_the_window_to_the_next_minute() -> None:
    cfg = line_camera(CAM)
    evs = traffic(CAM, [Car(0, 640, 100, 0, 20)], 700)  # 70 s: two windows
    ca = CameraAnalytics(CAM, Params())
    run(ca, evs[:40], cfg)
    status(ca, {**camera_status(CAM, "OFFLINE", at(45)), "last_frame_at": evs[40]["captured_at"]})
    outs = run(ca, evs[41:], cfg)  # frame 40 was lost on the way; the camera came back
    stats = of(outs, "stats")
    assert [(s["closed_by"], s["frames"]) for s in stats] == [("NEXT_FRAME", 599)]
    assert ca.close_after is None and ca.window is not None and ca.window.frames == 100


def test_a_camera_back_online_before_its_deferred_close_keeps_its_window() -> None:
    cfg = line_camera(CAM)
    evs = traffic(CAM, [Car(0, 640, 100, 0, 20)], 100)
    ca = CameraAnalytics(CAM, Params())
    run(ca, evs[:40], cfg)
    status(ca, {**camera_status(CAM, "OFFLINE", at(45)), "last_frame_at": evs[50]["captured_at"]})
    status(ca, camera_status(CAM, "ONLINE", at(60)))
    assert ca.close_after is None
    assert of(run(ca, evs[40:], cfg), "stats") == []  # one window, still open


def test_offline_incident_id_is_deterministic() -> None:
    ids = []
    for _ in range(2):
        ca = CameraAnalytics(CAM, Params())
        ids.append([r["incident_id"] for _, r in status(ca, camera_status(CAM, "OFFLINE", at(10)))])
    assert ids[0] == ids[1] and len(ids[0]) == 1


# -- incidents --------------------------------------------------------------------------------------------------


def test_one_way_line_crossed_out_is_a_wrong_way_incident() -> None:
    cfg = line_camera(CAM, one_way=True)
    cars = [Car(0, 300, 100, 0, 20), Car(0, 900, 650, 0, -20)]
    outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, cars, 30), cfg)
    vehicles = of(outs, "vehicle")
    assert sorted(v["direction"] for v in vehicles) == ["IN", "OUT"]
    out = next(v for v in vehicles if v["direction"] == "OUT")
    (inc,) = of(outs, "incident")
    assert inc["type"] == "WRONG_WAY"
    assert inc["state"] == "CLOSED"
    assert inc["started_at"] == inc["ended_at"] == out["crossed_at"]
    assert (inc["track_id"], inc["class_name"], inc["line_id"]) == (out["track_id"], "car", "line-1")
    # a two-way line: the same OUT crossing is no incident
    outs = run(CameraAnalytics(CAM, Params()), traffic(CAM, cars, 30), line_camera(CAM, one_way=False))
    assert len(of(outs, "vehicle")) == 2 and of(outs, "incident") == []


STOP_ZONE = rect("stop-1", "stop", 0.3, 0.3, 0.7, 0.7)


def stop_camera(calibrated: bool = False) -> CameraConfig:
    return line_camera(CAM, y=0.95, zones=[STOP_ZONE], calibration=CALIBRATION if calibrated else None)


@pytest.mark.parametrize("calibrated", [False, True])
def test_stopped_vehicle_opens_then_closes_when_it_moves_on(calibrated: bool) -> None:
    """Still in the stop zone for 5 s (stop_seconds 3), then drives off: OPEN, then CLOSED when it moves."""
    cars = [Car(0, 640, 330, 0, 0, frames=50), Car(50, 640, 330, 20, 0, frames=20)]
    outs = run(CameraAnalytics(CAM, Params(stop_seconds=3.0)), traffic(CAM, cars, 70), stop_camera(calibrated))
    incidents = [(seq, r) for seq, k, r in outs if k == "incident"]
    assert [(r["type"], r["state"]) for _, r in incidents] == [
        ("STOPPED_VEHICLE", "OPEN"),
        ("STOPPED_VEHICLE", "CLOSED"),
    ]
    (seq_open, opened), (seq_closed, closed) = incidents
    assert opened["incident_id"] == closed["incident_id"]
    assert opened["zone_id"] == closed["zone_id"] == "stop-1"
    assert opened["track_id"] == closed["track_id"] is not None
    assert opened["class_name"] == "car"
    assert 20 <= seq_open < 50
    # the first frame it moves in; calibrated, once the mean speed over the 1 s horizon passes 5 km/h
    assert 50 <= seq_closed <= 60
    assert closed["ended_at"] == at(seq_closed)
    assert closed["started_at"] == opened["started_at"]


def test_stopped_vehicle_closes_when_its_track_ends() -> None:
    cars = [Car(0, 640, 330, 0, 0, frames=50)]
    outs = run(CameraAnalytics(CAM, Params(stop_seconds=3.0)), traffic(CAM, cars, 100), stop_camera())
    incidents = of(outs, "incident")
    assert [r["state"] for r in incidents] == ["OPEN", "CLOSED"]
    assert incidents[1]["ended_at"] == at(49)  # when it was last seen
    assert incidents[1]["incident_id"] == incidents[0]["incident_id"]


def test_stopped_vehicle_started_at_is_not_before_it_was_seen() -> None:
    """A vehicle first seen standing still: it cannot be known to have stopped before its first detection."""
    cars = [Car(10, 640, 330, 0, 0, frames=60)]
    outs = run(CameraAnalytics(CAM, Params(stop_seconds=3.0)), traffic(CAM, cars, 80), stop_camera())
    opened = of(outs, "incident")[0]
    assert opened["state"] == "OPEN"
    assert opened["started_at"] >= at(10)


def test_no_stopped_vehicle_before_stop_seconds_of_standing_still() -> None:
    """A vehicle seen standing in the zone for 2.8 s (stop_seconds 3) is no stopped-vehicle incident."""
    cars = [Car(0, 640, 330, 0, 0, frames=29)]  # seen at 0.0 .. 2.8 s
    outs = run(CameraAnalytics(CAM, Params(stop_seconds=3.0)), traffic(CAM, cars, 60), stop_camera())
    assert of(outs, "incident") == []


def test_standing_still_outside_stop_zones_or_moving_inside_is_no_incident() -> None:
    cars = [
        Car(0, 100, 330, 0, 0, frames=80),  # still, left of the zone
        Car(0, 480, 300, 3, 0, frames=80),  # crawling through the zone at 30 px/s (> 1 % of the width per second)
    ]
    outs = run(CameraAnalytics(CAM, Params(stop_seconds=3.0)), traffic(CAM, cars, 80), stop_camera())
    assert of(outs, "incident") == []


def test_congestion_from_occupancy() -> None:
    zone = rect("occ-1", "occupancy", 0.25, 0.25, 0.75, 0.75)
    cfg = line_camera(CAM, y=0.95, zones=[zone])
    jam = Car(0, 640, 360, 0, 0, w=640, h=360, frames=100)  # covers the whole zone for 10 s
    p = Params(congestion_window=5.0, congestion_threshold=0.5)
    outs = run(CameraAnalytics(CAM, p), traffic(CAM, [jam], 200), cfg)
    incidents = [(seq, r) for seq, k, r in outs if k == "incident"]
    assert [(r["type"], r["state"]) for _, r in incidents] == [("CONGESTION", "OPEN"), ("CONGESTION", "CLOSED")]
    (s_open, opened), (s_closed, closed) = incidents
    assert s_open == 40  # the first frame of the 5th second
    assert 100 < s_closed < 150
    assert opened["zone_id"] == closed["zone_id"] == "occ-1"
    assert opened["incident_id"] == closed["incident_id"]


# -- speed ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("vx", "vy"), [(0.0, 18.0), (0.0, 30.0), (16.0, 18.0), (-8.0, 12.0)])
def test_counted_speed_with_calibration(vx: float, vy: float) -> None:
    """20 m per frame width and per frame height: (vx/W, vy/H) frames per frame, times 20 m, times fps."""
    expected = ((vx / W * 20.0) ** 2 + (vy / H * 20.0) ** 2) ** 0.5 * FPS * 3.6
    car = Car(0, 500, 100, vx, vy)
    calibrated = line_camera(CAM, calibration=CALIBRATION)
    (v,) = of(run(CameraAnalytics(CAM, Params()), traffic(CAM, [car], 40), calibrated), "vehicle")
    assert v["speed_kmh"] == pytest.approx(expected, rel=0.05)
    (v,) = of(run(CameraAnalytics(CAM, Params()), traffic(CAM, [car], 40), line_camera(CAM)), "vehicle")
    assert v["speed_kmh"] is None


def test_window_mean_speed_with_calibration() -> None:
    car = Car(0, 500, 100, 0, 18)  # 18 km/h
    ca = CameraAnalytics(CAM, Params())
    run(ca, traffic(CAM, [car], 30), line_camera(CAM, calibration=CALIBRATION))
    (_, stats) = status(ca, camera_status(CAM, "DISABLED", at(30)))[0]
    assert stats["speed_samples"] > 20
    assert stats["mean_speed_kmh"] == pytest.approx(18.0, rel=0.05)


def test_degenerate_calibration_gives_no_speed_and_says_why() -> None:
    """Three collinear image points: counted without a speed, and the camera's derived state names the points."""
    collinear = [{"x": 0.0, "y": 0.0}, {"x": 0.5, "y": 0.5}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]
    cfg = line_camera(CAM)
    # the edge refuses such a calibration now; a record written before that still reaches analytics
    cfg["calibration"] = {**CALIBRATION, "image_points": collinear}  # type: ignore[typeddict-item]
    ca = CameraAnalytics(CAM, Params())
    (v,) = of(run(ca, traffic(CAM, [Car(0, 500, 100, 0, 18)], 40), cfg), "vehicle")
    assert v["speed_kmh"] is None
    error = ca.derived(cfg, W, H).calibration_error
    assert error is not None and "(0.5, 0.5)" in error


def test_no_speed_before_the_trail_spans_a_quarter_of_the_horizon() -> None:
    """First seen two frames (0.1 s of trail) before it crosses: counted, with no speed rather than a guess."""
    car = Car(0, 500, LINE_Y - 45, 0, 30)  # clear of the line at frame 2
    (v,) = of(
        run(CameraAnalytics(CAM, Params()), traffic(CAM, [car], 10), line_camera(CAM, calibration=CALIBRATION)),
        "vehicle",
    )
    assert v["frame_seq"] == 2
    assert v["speed_kmh"] is None


# -- reconfiguration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("new_line_id", ["line-2", "line-1"])
def test_reconfiguration_takes_effect_from_the_next_frame(new_line_id: str) -> None:
    """The line moves from y=0.3 to y=0.7 (a new line, or the same id moved) at the very frame the car would
    cross the old one: that crossing is not counted, the new line's is."""
    car = Car(0, 640, 100, 0, 20)  # centre y = 100 + 20 k: clear (7.2 px band) of y=216 at 7, of y=504 at 21
    evs = traffic(CAM, [car], 40)
    old = line_camera(CAM, y=0.3)
    new = line_camera(CAM, y=0.7, line_id=new_line_id, updated_at=T0 + timedelta(hours=1))

    unchanged = of(run(CameraAnalytics(CAM, Params()), evs, old), "vehicle")
    assert [(v["line_id"], v["frame_seq"]) for v in unchanged] == [("line-1", 7)]

    ca = CameraAnalytics(CAM, Params())
    outs = run(ca, evs[:7], old) + run(ca, evs[7:], new)
    vehicles = of(outs, "vehicle")
    assert [(v["line_id"], v["frame_seq"]) for v in vehicles] == [(new_line_id, 21)]
    assert vehicles[0]["y"] == pytest.approx(0.7)


def test_reconfiguration_keeps_counts_made_before_it() -> None:
    car = Car(0, 640, 100, 0, 20)
    evs = traffic(CAM, [car], 40)
    ca = CameraAnalytics(CAM, Params())
    outs = run(ca, evs[:10], line_camera(CAM, y=0.3))
    outs += run(ca, evs[10:], line_camera(CAM, y=0.7, line_id="line-2", updated_at=T0 + timedelta(hours=1)))
    assert [v["line_id"] for v in of(outs, "vehicle")] == ["line-1", "line-2"]


# -- occupancy --------------------------------------------------------------------------------------------------

OCC_ZONE = rect("occ-1", "occupancy", 0.25, 0.2, 0.75, 0.8)  # 640 x 432 px from (320, 144)
#: one grid cell at each side of the zone
OCC_TOL = 1 / (0.5 * 160) + 1 / (0.6 * 90)


@pytest.mark.parametrize(
    ("box", "share"),
    [
        ((640, 360, 640, 432), 1.0),  # (centre x, centre y, w, h): the whole zone
        ((480, 360, 320, 432), 0.5),  # its left half
        ((480, 252, 320, 216), 0.25),  # its top-left quarter
        ((640, 360, 1280, 720), 1.0),  # more than the zone
        ((100, 100, 100, 100), 0.0),  # outside it
        ((320, 360, 640, 432), 0.5),  # half inside
    ],
)
def test_occupancy_share_of_the_zone(box: tuple[float, float, float, float], share: float) -> None:
    cx, cy, w, h = box
    cfg = line_camera(CAM, y=0.99, zones=[OCC_ZONE])
    ca = CameraAnalytics(CAM, Params())
    run(ca, traffic(CAM, [Car(0, cx, cy, 0, 0, w=w, h=h)], 20), cfg)
    (kind, stats) = status(ca, camera_status(CAM, "OFFLINE", at(20)))[0]
    assert kind == "stats"
    assert stats["mean_occupancy"] == pytest.approx(share, abs=OCC_TOL)


def test_occupancy_is_the_mean_over_frames_and_ignores_other_classes() -> None:
    cfg = line_camera(CAM, y=0.99, zones=[OCC_ZONE])
    half = Car(0, 480, 360, 0, 0, w=320, h=432, frames=10)  # half the zone, in 10 of 20 frames
    crowd = Car(0, 640, 360, 0, 0, w=640, h=432, class_name="person", class_id=0)  # not a vehicle class
    ca = CameraAnalytics(CAM, Params())
    run(ca, traffic(CAM, [half, crowd], 20), cfg)
    (_, stats) = status(ca, camera_status(CAM, "OFFLINE", at(20)))[0]
    assert stats["mean_occupancy"] == pytest.approx(0.25, abs=OCC_TOL / 2)


# -- the factory ------------------------------------------------------------------------------------------------


def test_traffic_factory_timeline_boxes_and_jitter() -> None:
    cars = [Car(2, 100, 100, 10, 5, frames=3), Car(0, 1270, 700, 0, 0, w=40, h=40, class_name="bus", class_id=5)]
    evs = traffic(CAM, cars, 6, fps=5.0, seq0=100)
    assert [e["frame_seq"] for e in evs] == list(range(100, 106))
    assert [e["captured_at"] for e in evs] == [T0 + timedelta(seconds=s / 5.0) for s in range(100, 106)]
    assert all((e["camera_id"], e["width"], e["height"]) == (CAM, W, H) for e in evs)
    assert [len(e["detections"]) for e in evs] == [1, 1, 2, 2, 2, 1]
    d = evs[3]["detections"][0]  # the first car's second frame
    assert (d["x1"], d["y1"], d["x2"], d["y2"]) == (70.0, 75.0, 150.0, 135.0)
    assert (d["class_name"], d["class_id"], d["confidence"]) == ("car", 2, 0.9)
    bus = evs[0]["detections"][0]
    assert (bus["x1"], bus["y1"], bus["x2"], bus["y2"], bus["class_name"]) == (1250.0, 680.0, 1280.0, 720.0, "bus")
    assert traffic(CAM, cars, 6, jitter=2.0, seed=1) == traffic(CAM, cars, 6, jitter=2.0, seed=1)
    jittered = traffic(CAM, cars, 6, jitter=2.0, seed=1)[3]["detections"][0]
    assert jittered != d and abs(jittered["x1"] - 70.0) <= 2.0
