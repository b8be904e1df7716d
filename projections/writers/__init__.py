"""Batched writers of the read models: one module per subject, each called inside the batch's transaction."""

from projections.writers.analytics import (
    counted_cameras,
    write_incidents,
    write_traffic_stats,
    write_vehicle_events,
)
from projections.writers.cameras import write_camera_changes, write_statuses
from projections.writers.detections import write_detections
from projections.writers.movements import write_movements

__all__ = [
    "counted_cameras",
    "write_camera_changes",
    "write_detections",
    "write_incidents",
    "write_movements",
    "write_statuses",
    "write_traffic_stats",
    "write_vehicle_events",
]
