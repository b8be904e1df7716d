"""A camera that leaves the worker leaves /metrics: every series labelled with it is removed, others stay."""

from __future__ import annotations

from prometheus_client import Metric

from streams.ingest import metrics as m


def _cameras(metric: object) -> set[str]:
    families: list[Metric] = list(metric.collect())  # type: ignore[attr-defined]
    return {s.labels["camera_id"] for f in families for s in f.samples if "camera_id" in s.labels}


def test_forget_camera_removes_its_series_of_every_label_set() -> None:
    for cam in ("forget-a", "forget-b"):
        m.CAPTURED.labels(cam).inc()
        m.DROPPED.labels(cam, "oldest").inc()
        m.DROPPED.labels(cam, "lag").inc()
        m.DELIVERY_ERRORS.labels(cam, "_MSG_TIMED_OUT").inc()
        m.STATUS.labels(cam).state("ONLINE")
    m.forget_camera("forget-a")
    for metric in (m.CAPTURED, m.DROPPED, m.DELIVERY_ERRORS, m.STATUS):
        assert "forget-a" not in _cameras(metric) and "forget-b" in _cameras(metric), metric
    m.forget_camera("forget-b")
    m.forget_camera("never-seen")  # a camera without series is fine
    assert not {"forget-a", "forget-b"} & _cameras(m.DROPPED)
