"""The camera health state machine (pure logic)."""

from datetime import UTC, datetime

from streams.ingest.status import StatusTracker

W = datetime(2026, 1, 1, tzinfo=UTC)


def _feed(t: StatusTracker, start: float, seconds: float, fps: float, size: tuple[int, int] = (640, 360)) -> list[str]:
    out = []
    n = int(seconds * fps)
    for i in range(n):
        c = t.frame(start + i / fps, W, *size)
        if c:
            out.append(f"{c.status}:{c.reason}")
        if i % max(1, int(fps)) == 0:
            c = t.tick(start + i / fps, W)
            if c:
                out.append(f"{c.status}:{c.reason}")
    return out


def test_first_frame_is_online_then_quiet_at_the_expected_rate() -> None:
    t = StatusTracker(expected_fps=5.0, window_s=5.0)
    assert _feed(t, 0.0, 20.0, 5.0) == ["ONLINE:connected"]
    assert 4.5 <= t.measured_fps(20.0) <= 5.0


def test_slow_camera_is_degraded_then_recovers() -> None:
    t = StatusTracker(expected_fps=10.0, window_s=5.0)
    assert _feed(t, 0.0, 10.0, 10.0) == ["ONLINE:connected"]
    assert _feed(t, 10.0, 10.0, 5.0) == ["DEGRADED:slow"]
    assert _feed(t, 20.0, 10.0, 10.0) == ["ONLINE:recovered"]


def test_lag_drops_degrade() -> None:
    t = StatusTracker(expected_fps=2.0, window_s=5.0)
    _feed(t, 0.0, 6.0, 2.0)
    t.lag_drop(6.2)
    c = t.tick(6.5, W)
    assert c is not None and (c.status, c.reason) == ("DEGRADED", "lagging") and "overloaded" in (c.error or "")


def test_failures_report_once_per_cause_and_recovery_says_so() -> None:
    t = StatusTracker(expected_fps=1.0)
    c = t.failed(0.0, W, "refused", "Connection refused ...")
    assert c is not None and (c.status, c.previous, c.reason) == ("OFFLINE", None, "refused")
    assert t.failed(1.0, W, "refused", "Connection refused ...") is None  # retries do not spam
    c = t.failed(2.0, W, "unauthorized", "401")
    assert c is not None and c.reason == "unauthorized"
    c = t.frame(3.0, W, 1280, 720)
    assert c is not None and (c.status, c.previous, c.reason) == ("ONLINE", "OFFLINE", "recovered")


def test_resolution_change_is_reported_with_both_sizes() -> None:
    t = StatusTracker(expected_fps=1.0)
    t.frame(0.0, W, 1280, 720)
    c = t.frame(1.0, W, 640, 360)
    assert c is not None and c.status == "ONLINE" and c.reason == "resolution_changed"
    assert "1280x720 to 640x360" in (c.error or "") and (c.width, c.height) == (640, 360)
    assert t.frame(2.0, W, 640, 360) is None


def test_disabled_is_reported_once() -> None:
    t = StatusTracker(expected_fps=1.0)
    t.frame(0.0, W, 10, 10)
    c = t.disabled(1.0, W, "removed")
    assert c is not None and (c.status, c.previous, c.reason) == ("DISABLED", "ONLINE", "removed")
    assert t.disabled(2.0, W, "removed") is None
