"""The Prometheus metrics our code defines, found in the code itself, for the monitoring consistency tests.

The modules that define metrics are found by reading the source of the stage packages (a module that imports a metric
class from prometheus_client), then imported; their metric objects are read from the module globals. Importing these
modules only defines the metrics: no server starts and nothing connects.

`series_names()` are the names a scrape of our /metrics shows: a counter `x` as `x_total` (and `x_created`),
a histogram as `x_bucket`, `x_sum`, `x_count` (and `x_created`), a gauge or an enum under its own name.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

__all__ = ["PACKAGES", "DefinedMetric", "defined_metrics", "metric_modules", "series_names"]

_REPO = Path(__file__).resolve().parents[2]
# The packages whose code runs in the deployables (itscam/ only composes them).
PACKAGES = ("streams", "inference", "projections", "schemas")
_METRIC_CLASSES = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Enum", "Info"})
# The sample-name suffixes of each metric type as prometheus_client exposes them (text format).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "stateset": ("",),
    "info": ("_info",),
}


@dataclass(frozen=True)
class DefinedMetric:
    """One metric object of our code: its family name, type, label names and where it is defined."""

    name: str
    type: str
    labels: tuple[str, ...]
    module: str

    @property
    def series(self) -> tuple[str, ...]:
        """The sample names this metric exposes."""
        return tuple(self.name + suffix for suffix in _SUFFIXES[self.type])


def metric_modules() -> list[str]:
    """Dotted names of the modules in PACKAGES that import a metric class from prometheus_client."""
    found = []
    for package in PACKAGES:
        for path in sorted((_REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "prometheus_client"
                    and any(alias.name in _METRIC_CLASSES for alias in node.names)
                ):
                    found.append(".".join(path.relative_to(_REPO).with_suffix("").parts))
                    break
    return found


def defined_metrics() -> list[DefinedMetric]:
    """Every metric object defined at module level by the modules of `metric_modules()`."""
    metrics = []
    for module_name in metric_modules():
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            labels = tuple(getattr(value, "_labelnames", ()))
            for family in value.describe():
                metrics.append(DefinedMetric(family.name, family.type, labels, module_name))
    return sorted(metrics, key=lambda m: m.name)


def series_names() -> set[str]:
    """Every sample name our /metrics endpoints can show."""
    return {name for metric in defined_metrics() for name in metric.series}
