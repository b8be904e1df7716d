"""Turning movements on synthetic tracks: vehicles driven through a junction's four approach zones give the exact
origin-destination matrix; one movement per vehicle; deterministic ids; stored states (state.py) resume movements."""

from __future__ import annotations

from collections import Counter
from typing import Any

from streams.analytics.camera import CameraAnalytics, Params
from streams.analytics.movements import MovementState, step_movement
from streams.analytics.state import dump_state, load_state
from tests.streams.analytics.factories import Car, line_camera, traffic

CAM = "junction-1"
W, H, FPS = 1280, 720, 10.0
FRAMES = 24  # each vehicle's trip: 2.4 s


def zone(zone_id: str, name: str, x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    pts = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    return {"zone_id": zone_id, "name": name, "kind": "approach", "points": [{"x": x, "y": y} for x, y in pts]}


#: A four-arm junction: each arm a band at one edge of the picture; the middle belongs to no zone.
APPROACHES = [
    zone("n", "North", 0.35, 0.0, 0.65, 0.3),
    zone("s", "South", 0.35, 0.7, 0.65, 1.0),
    zone("w", "West", 0.0, 0.35, 0.3, 0.65),
    zone("e", "East", 0.7, 0.35, 1.0, 0.65),
]
#: normalised centre of each arm, where trips start and end
ARM = {"n": (0.5, 0.1), "s": (0.5, 0.9), "w": (0.1, 0.5), "e": (0.9, 0.5)}


def trip(k: int, origin: str, dest: str, class_name: str = "car", class_id: int = 2) -> Car:
    """Vehicle k drives in a straight line from the middle of one arm to the middle of another, alone (40 frames
    apart from the previous one, longer than a track is kept once lost). Its box is large enough for consecutive
    boxes to overlap the way real detections of a car do (a new track is confirmed only above IoU 0.3)."""
    (x0, y0), (x1, y1) = ARM[origin], ARM[dest]
    return Car(
        start_frame=k * 40,
        x=x0 * W,
        y=y0 * H,
        vx=(x1 - x0) * W / (FRAMES - 1),
        vy=(y1 - y0) * H / (FRAMES - 1),
        frames=FRAMES,
        w=160,
        h=90,
        class_name=class_name,
        class_id=class_id,
    )


#: the trips, and so the matrix they must give: straight on, left and right turns from every arm
TRIPS = [
    ("n", "s"), ("n", "s"), ("n", "e"), ("n", "w"),
    ("s", "n"), ("s", "e"), ("s", "w"), ("s", "n"), ("s", "n"),
    ("w", "e"), ("w", "n"), ("w", "s"),
    ("e", "w"), ("e", "n"), ("e", "w"),
]  # fmt: skip


def junction() -> Any:
    cfg = line_camera(CAM)
    cfg["lines"] = []
    cfg["zones"] = APPROACHES
    return cfg


def run(cars: list[Car], cfg: Any, n_frames: int) -> list[dict[str, Any]]:
    ca = CameraAnalytics(CAM, Params())
    out = []
    for ev in traffic(CAM, cars, n_frames, fps=FPS, width=W, height=H):
        out += [dict(rec) for kind, rec in ca.process(ev, cfg) if kind == "movement"]
    return out


def test_trips_through_four_approaches_give_the_exact_od_matrix() -> None:
    cars = [trip(k, o, d, *(("truck", 7) if k % 4 == 3 else ())) for k, (o, d) in enumerate(TRIPS)]
    moves = run(cars, junction(), 40 * len(TRIPS) + 10)
    got = Counter((m["origin_zone_id"], m["destination_zone_id"]) for m in moves)
    assert got == Counter(TRIPS)
    names = {z["zone_id"]: z["name"] for z in APPROACHES}
    for m, (o, d) in zip(sorted(moves, key=lambda m: m["moved_at"]), TRIPS, strict=True):
        assert (m["origin_zone_id"], m["destination_zone_id"]) == (o, d)
        assert (m["origin_name"], m["destination_name"]) == (names[o], names[d])
        assert m["entered_at"] < m["moved_at"]
        assert m["speed_kmh"] is None  # no calibration: no invented speed
    assert Counter(m["class_name"] for m in moves) == Counter("truck" if k % 4 == 3 else "car" for k in range(15))
    assert len({m["movement_id"] for m in moves}) == len(moves)
    # the same detections give the same movements, ids included
    assert run(cars, junction(), 40 * len(TRIPS) + 10) == moves


def test_a_vehicle_moves_once_and_only_between_two_zones() -> None:
    cfg = junction()
    # three zones in a row: a vehicle driving through all three makes one movement, a -> b, not a second b -> c
    cfg["zones"] = [
        zone("a", "A", 0.0, 0.4, 0.2, 0.6),
        zone("b", "B", 0.4, 0.4, 0.6, 0.6),
        zone("c", "C", 0.8, 0.4, 1.0, 0.6),
    ]
    through = Car(start_frame=0, x=0.1 * W, y=0.5 * H, vx=0.8 * W / 23, vy=0, frames=24, w=160, h=90)
    # a vehicle that stays in one zone, and one that never touches a zone
    parked = Car(start_frame=40, x=0.1 * W, y=0.5 * H, vx=2, vy=0, frames=30, w=160, h=90)
    outside = Car(start_frame=80, x=0.2 * W, y=0.15 * H, vx=20, vy=0, frames=30, w=160, h=90)
    moves = run([through, parked, outside], cfg, 120)
    assert [(m["origin_zone_id"], m["destination_zone_id"]) for m in moves] == [("a", "b")]


def test_zones_of_other_kinds_and_a_single_approach_make_no_movements() -> None:
    cfg = junction()
    cfg["zones"] = [APPROACHES[0], {**APPROACHES[1], "kind": "occupancy"}]
    assert run([trip(0, "n", "s")], cfg, 30) == []


def test_step_movement() -> None:
    st = MovementState()
    assert step_movement(st, None, 0.0) is None and st.origin is None
    assert step_movement(st, "a", 1.0) is None and (st.origin, st.entered_at) == ("a", 1.0)
    assert step_movement(st, "a", 2.0) is None
    assert step_movement(st, None, 3.0) is None
    assert step_movement(st, "b", 4.0) == "b" and st.moved
    assert step_movement(st, "c", 5.0) is None


def test_a_state_stored_mid_trip_resumes_the_movement() -> None:
    cfg = junction()
    evs = traffic(CAM, [trip(1, "w", "e")], 80, fps=FPS, width=W, height=H)
    ca = CameraAnalytics(CAM, Params())
    out = []
    for i, ev in enumerate(evs):
        if i == 48:
            ca = load_state(dump_state(ca), Params(), CAM)
        out += [rec for kind, rec in ca.process(ev, cfg) if kind == "movement"]
    assert [(m["origin_zone_id"], m["destination_zone_id"]) for m in out] == [("w", "e")]


def test_a_stored_state_whose_tracks_have_no_approach_counts_new_movements() -> None:
    cfg = junction()
    evs = traffic(CAM, [trip(1, "w", "e")], 80, fps=FPS, width=W, height=H)
    ca = CameraAnalytics(CAM, Params())
    for ev in evs[:48]:
        ca.process(ev, cfg)
    # a state stored while the camera had no approach zones: its tracks hold no approach
    for tr in ca.tracks.values():
        tr.approach = None
    old = load_state(dump_state(ca), Params(), CAM)
    assert all(tr.approach is None for tr in old.tracks.values()) and old.close_after is None
    out = [rec for ev in evs[48:] for kind, rec in old.process(ev, cfg) if kind == "movement"]
    # an old state's tracks have no origin: this one, already past its zone (in the middle) when restored, makes no
    # movement rather than a guessed one, and a new vehicle after the restore is counted as usual
    assert out == []
    later = traffic(CAM, [trip(0, "n", "s")], 30, fps=FPS, width=W, height=H, seq0=200)
    moves = [rec for ev in later for kind, rec in old.process(ev, cfg) if kind == "movement"]
    assert [(m["origin_zone_id"], m["destination_zone_id"]) for m in moves] == [("n", "s")]
