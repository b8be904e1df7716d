"""Prometheus metrics of the analytics stage."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "EVENTS_OUT",
    "FRAMES",
    "FRAMES_MISSING",
    "FRAMES_STALE",
    "PROCESS_SECONDS",
    "READY",
    "RESUMED",
    "SKIPPED",
    "STATE_BYTES",
    "STATE_REFUSED",
]

FRAMES = Counter("its_analytics_frames_total", "Detection events applied to a camera's state")
SKIPPED = Counter(
    "its_analytics_frames_skipped_total",
    "Input events not applied: duplicate, late-frame, unknown-camera, removed-camera, bad-value, analytics-error "
    "(detections), bad-payload (either input), bad-camera-record (the cameras topic; the projector dead-letters it), "
    "replayed (either input: at or below the offset the committed state "
    "already holds, after a restart)",
    ["reason"],
)
EVENTS_OUT = Counter("its_analytics_events_total", "Events produced", ["kind"])
PROCESS_SECONDS = Histogram(
    "its_analytics_process_seconds",
    "Seconds to apply one detection event (waiting for its partition's transaction, which a commit writing the "
    "camera states holds; decode, tracking, counting, incidents, windows, sending its events)",
    buckets=(0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
STATE_BYTES = Histogram(
    "its_analytics_state_bytes",
    "Compressed bytes of a camera's state written to the changelog (once per commit in which the camera changed)",
    buckets=(1e3, 4e3, 16e3, 64e3, 256e3, 1e6),
)
STATE_REFUSED = Counter(
    "its_analytics_state_refused_total",
    "Camera states dropped and rebuilt from the input: legacy-pickle (written before issue 18, refused), "
    "undecodable (the changelog record), failing (two frames in a row failed to apply to it)",
    ["reason"],
)
READY = Gauge(
    "its_analytics_ready", "1 once the Faust worker has partitions (after the camera topic catch-up, at most 60 s)"
)
RESUMED = Counter(
    "its_analytics_resumed_records_total",
    "Input records the stream skipped after a partition assignment, read from the broker and applied (resume.py)",
    ["topic"],
)
# Per camera: where the frames a window misses were lost is in its TrafficStatsWindow (exactly once); these counters
# are for alerting and may count a frame again when a crashed worker replays it.
FRAMES_MISSING = Counter(
    "its_analytics_frames_missing_total",
    "Frames of a camera's ingest run that never reached analytics (a jump in run_index: expired from the frames "
    "topic while inference was behind, or dead-lettered upstream)",
    ["camera_id"],
)
FRAMES_STALE = Counter(
    "its_analytics_frames_stale_total",
    "Frames applied whose detections were produced more than ITS_ANALYTICS_STALE_FRAME_S after capture",
    ["camera_id"],
)
