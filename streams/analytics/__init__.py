"""Analytics: detections -> tracks, directional line counts, speeds, incidents and windowed statistics.

Pure logic (geometry, counting, tracking, speed, incidents, windows, camera) is importable without Faust; `app`
holds the Faust agents and `worker` runs them.
"""

from streams.analytics.camera import CameraAnalytics, Params
from streams.analytics.settings import AnalyticsSettings

__all__ = ["AnalyticsSettings", "CameraAnalytics", "Params"]
