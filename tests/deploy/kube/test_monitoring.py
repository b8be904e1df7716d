"""Monitoring: the PrometheusRules pass `promtool check rules` and their unit tests, every alert is tested, every
metric the rules, dashboards and scrape configs name exists (in our code or a known exporter), the dashboards are
complete, and the ServiceMonitors and PodMonitors select objects that exist with the ports they name."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kube import K8S_DIR, OVERLAYS, tool
from deploy.kube.metrics import DefinedMetric, defined_metrics

Manifests = list[dict[str, Any]]

MONITORING = K8S_DIR / "base" / "monitoring"
RULE_TESTS = sorted((MONITORING / "rule-tests").glob("*.yaml"))
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
RUNBOOK = K8S_DIR / "RUNBOOK.md"
REQUIRED_DASHBOARDS = {"System overview", "ML inference", "Traffic analytics"}
RELEASE = {"release": "kube-prometheus-stack"}

# Metrics that other exporters write, each with the exporter that writes it.
EXTERNAL_METRICS = {
    "up": "Prometheus itself: 1 when the last scrape of the target succeeded",
    "kafka_consumergroup_lag": "Kafka Exporter (Strimzi Kafka spec.kafkaExporter)",
    "kafka_topic_partition_current_offset": "Kafka Exporter (Strimzi Kafka spec.kafkaExporter)",
    "DCGM_FI_DEV_GPU_UTIL": "NVIDIA DCGM exporter (GPU operator)",
    "container_cpu_usage_seconds_total": "kubelet cAdvisor",
    "container_memory_working_set_bytes": "kubelet cAdvisor",
}
EXTERNAL_PREFIXES = {
    "kube_": "kube-state-metrics (kube-prometheus-stack)",
    "cnpg_": "CloudNativePG instance manager, port metrics 9187",
    "redis_": "redis_exporter sidecar of its-redis, port metrics 9121",
}
# Labels Prometheus adds to every series scraped through a ServiceMonitor or PodMonitor.
TARGET_LABELS = {"namespace", "job", "pod", "instance", "service", "container", "endpoint"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$\{?\w+(?::\w+)?\}?")
_LABEL_VALUES = re.compile(r"\blabel_values\(([^,()]+(?:\{[^{}]*\})?)\s*,\s*\w+\s*\)")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_BRACES = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w:.])[A-Za-z_:][\w:]*")
_SELECTOR = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
_KEYWORDS |= {"inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression reads; Grafana's variables and label_values()
    are understood too."""
    text = _GRAFANA_VAR.sub("", _LABEL_VALUES.sub(r"\1", expr))
    text = _STRING.sub('""', text)
    text = _RANGE.sub("", _BRACES.sub("", _LABEL_LIST.sub("", text)))
    names = set()
    for match in _IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        if match.group() in _KEYWORDS or rest.startswith("("):
            continue  # a keyword or a function call
        names.add(match.group())
    return names


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric name, label names matched) for each `name{...}` selector of an expression."""
    text = _STRING.sub('""', _GRAFANA_VAR.sub("", _LABEL_VALUES.sub(r"\1", expr)))
    for match in _SELECTOR.finditer(text):
        yield match.group(1), set(_MATCHER.findall(match.group(2)))


def test_metric_names_parser() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (namespace, le) (rate(its_api_request_seconds_bucket{route!="/v1/{x}"}'
        "[5m]))) > 0.5 and on (namespace) ns:its_x:rate5m offset 1w > 1e3 or vector(0) unless absent(up)"
        ' or label_values(kube_pod_info{namespace="$namespace"}, pod) or sum(rate(a_total[$__rate_interval]))'
    )
    assert metric_names(expr) == {"its_api_request_seconds_bucket", "ns:its_x:rate5m", "up", "kube_pod_info", "a_total"}
    assert dict(selectors(expr))["its_api_request_seconds_bucket"] == {"route"}


@pytest.fixture(scope="session")
def ours() -> dict[str, DefinedMetric]:
    """Every series name our code exposes -> the metric that exposes it."""
    return {series: m for m in defined_metrics() for series in m.series}


def rule_groups(objects: Manifests) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for doc in objects:
        if doc.get("kind") == "PrometheusRule":
            groups.extend(doc["spec"]["groups"])
    return groups


def rules(objects: Manifests) -> list[dict[str, Any]]:
    return [rule for group in rule_groups(objects) for rule in group["rules"]]


def alerts(objects: Manifests) -> list[dict[str, Any]]:
    return [rule for rule in rules(objects) if "alert" in rule]


def write_rules(objects: Manifests, path: Path) -> Path:
    """The rendered PrometheusRules' groups as a plain Prometheus rule file."""
    path.write_text(yaml.safe_dump({"groups": rule_groups(objects)}, sort_keys=False))
    return path


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True, check=False)


def load_rule_tests() -> dict[str, dict[str, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in RULE_TESTS}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_promtool_check_rules(rendered: dict[str, Manifests], overlay: str, tmp_path: Path) -> None:
    assert alerts(rendered[overlay]), f"{overlay}: no PrometheusRule with alerts rendered"
    proc = promtool("check", "rules", write_rules(rendered[overlay], tmp_path / "rules.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


_UNIT_TEST_RESULTS: dict[str, tuple[int, str]] = {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_promtool_rule_unit_tests(rendered: dict[str, Manifests], overlay: str, tmp_path: Path) -> None:
    """The rule tests run against the rules as the overlay renders them (rule_files point at the extracted file)."""
    assert RULE_TESTS, f"no promtool tests in {MONITORING / 'rule-tests'}"
    rules_file = write_rules(rendered[overlay], tmp_path / "rules.yaml")
    key = rules_file.read_text()
    if key not in _UNIT_TEST_RESULTS:  # overlays that render the same rules share one run (a week of series: ~10 s)
        copies = []
        for name, doc in load_rule_tests().items():
            doc["rule_files"] = [str(rules_file)]
            copies.append(tmp_path / name)
            copies[-1].write_text(yaml.safe_dump(doc, sort_keys=False))
        proc = promtool("test", "rules", *copies)
        _UNIT_TEST_RESULTS[key] = (proc.returncode, proc.stdout + proc.stderr)
    returncode, output = _UNIT_TEST_RESULTS[key]
    assert returncode == 0, output


def test_every_alert_has_a_firing_and_a_silent_test_case(rendered: dict[str, Manifests]) -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for doc in load_rule_tests().values():
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for overlay in OVERLAYS for rule in alerts(rendered[overlay])}
    assert names - firing == set(), "alerts no promtool test expects to fire"
    assert names - silent == set(), "alerts no promtool test expects to stay silent"
    assert (firing | silent) - names == set(), "tests of alerts that do not exist"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alerts_carry_severity_summary_description_and_a_runbook_section(
    rendered: dict[str, Manifests], overlay: str
) -> None:
    anchors = {
        re.sub(r"[^\w\- ]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in alerts(rendered[overlay]):
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        url, _, anchor = annotations["runbook_url"].partition("#")
        assert url.endswith("deploy/k8s/RUNBOOK.md"), rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in {RUNBOOK}"


def check_names(exprs: dict[str, str], allowed: set[str], ours: dict[str, DefinedMetric]) -> list[str]:
    problems = []
    for where, expr in exprs.items():
        names = metric_names(expr)
        assert names, f"{where}: found no metric in {expr!r}"
        for name in sorted(names):
            if name in ours or name in allowed or name in EXTERNAL_METRICS:
                continue
            if any(name.startswith(prefix) for prefix in EXTERNAL_PREFIXES):
                continue
            problems.append(f"{where}: {name} is neither defined by our code nor an allowed exporter's metric")
        for name, labels in selectors(expr):
            metric = ours.get(name)
            if metric is None:
                continue
            known = TARGET_LABELS | set(metric.labels)
            known |= {"le"} if name.endswith("_bucket") else set()
            known |= {metric.name} if metric.type == "stateset" else set()
            problems += [f"{where}: {name} has no label {label}" for label in sorted(labels - known)]
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rule_metrics_exist(rendered: dict[str, Manifests], overlay: str, ours: dict[str, DefinedMetric]) -> None:
    recorded = {rule["record"] for rule in rules(rendered[overlay]) if "record" in rule}
    exprs = {rule.get("alert") or rule["record"]: rule["expr"] for rule in rules(rendered[overlay])}
    assert check_names(exprs, recorded, ours) == []


def test_dashboard_metrics_exist(rendered: dict[str, Manifests], ours: dict[str, DefinedMetric]) -> None:
    recorded = {rule["record"] for rule in rules(rendered["prod"]) if "record" in rule}
    exprs = {
        f"{name} #{i}": expr for name, board in dashboards().items() for i, expr in enumerate(dashboard_exprs(board))
    }
    assert check_names(exprs, recorded, ours) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scrape_relabelings_name_our_metrics(
    rendered: dict[str, Manifests], overlay: str, ours: dict[str, DefinedMetric]
) -> None:
    """A metricRelabeling on __name__ must match some series our code exposes (else it is dead configuration)."""
    for doc in rendered[overlay]:
        if doc["kind"] not in {"ServiceMonitor", "PodMonitor"}:
            continue
        endpoints = doc["spec"].get("endpoints") or doc["spec"].get("podMetricsEndpoints")
        for endpoint in endpoints:
            for relabel in endpoint.get("metricRelabelings", []) + endpoint.get("relabelings", []):
                if "__name__" not in relabel.get("sourceLabels", []):
                    continue
                pattern = re.compile(relabel["regex"])
                assert any(pattern.fullmatch(name) for name in ours), (doc["metadata"]["name"], relabel["regex"])


def test_dashboards_parse_and_cover_the_three_views() -> None:
    boards = dashboards()
    titles = {board["title"] for board in boards.values()}
    for required in REQUIRED_DASHBOARDS:
        assert any(title.endswith(required) for title in titles), f"no dashboard titled ...{required}: {titles}"
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, board in boards.items():
        variables = {var["name"]: var for var in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        graphs = [p for p in panels(board) if p["type"] != "row"]
        assert len(graphs) >= 6, f"{name}: only {len(graphs)} panels"
        for panel in graphs:
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["expr"].strip(), (name, panel["title"])
                assert target["datasource"]["uid"] == "${datasource}", (name, panel["title"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboards_render_as_grafana_configmaps(rendered: dict[str, Manifests], overlay: str) -> None:
    found = {}
    for doc in rendered[overlay]:
        if doc["kind"] == "ConfigMap" and doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            assert doc["metadata"]["annotations"]["grafana_folder"] == "ITS Camera AI"
            found.update({key: json.loads(value) for key, value in doc["data"].items()})
    assert set(found) == {path.name for path in DASHBOARDS}
    assert found == dashboards()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitoring_objects_carry_the_release_label(rendered: dict[str, Manifests], overlay: str) -> None:
    kinds = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    objects = [doc for doc in rendered[overlay] if doc["kind"] in kinds]
    assert {doc["kind"] for doc in objects} == kinds
    for doc in objects:
        assert RELEASE.items() <= doc["metadata"]["labels"].items(), doc["metadata"]["name"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are checked here"
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_select_services_with_the_port(find: Callable[..., Manifests], overlay: str) -> None:
    monitors = find(overlay, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} >= {
        "its-api",
        "its-inference",
        "its-ingest",
        "its-analytics",
        "its-projector",
    }
    services = find(overlay, "Service")
    for monitor in monitors:
        name = monitor["metadata"]["name"]
        spec = monitor["spec"]
        assert "namespaceSelector" not in spec, f"{name}: scrape the monitor's own namespace only"
        matched = [s for s in services if _selects(spec["selector"], s["metadata"].get("labels", {}))]
        assert matched, f"{overlay}: ServiceMonitor {name} selects no Service"
        for endpoint in spec["endpoints"]:
            assert endpoint["interval"] == "15s", name
            for service in matched:
                ports = {p.get("name") for p in service["spec"]["ports"]}
                assert endpoint["port"] in ports, f"{name}: Service {service['metadata']['name']} has no port"


def _pod_templates(objects: Manifests) -> Iterator[dict[str, Any]]:
    for doc in objects:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            yield doc["spec"]["template"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_pod_monitor_selects_the_exporter_port(
    rendered: dict[str, Manifests], find: Callable[..., Manifests], overlay: str
) -> None:
    (monitor,) = find(overlay, "PodMonitor", "its-redis")
    templates = [
        t for t in _pod_templates(rendered[overlay]) if _selects(monitor["spec"]["selector"], t["metadata"]["labels"])
    ]
    assert templates, f"{overlay}: PodMonitor its-redis selects no pod template"
    for template in templates:
        ports = {
            (p.get("name"), p["containerPort"]) for c in template["spec"]["containers"] for p in c.get("ports", [])
        }
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            assert (endpoint["port"], 9121) in ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_made_metrics_are_switched_on(find: Callable[..., Manifests], overlay: str) -> None:
    """Kafka Exporter (whose pods the its-kafka-exporter PodMonitor scrapes) runs, and CloudNativePG writes its own
    PodMonitor, which no PodMonitor of ours duplicates."""
    (kafka,) = find(overlay, "Kafka", "its-kafka")
    assert "kafkaExporter" in kafka["spec"], "the Kafka its-kafka runs no Kafka Exporter"
    (exporter,) = find(overlay, "PodMonitor", "its-kafka-exporter")
    assert exporter["spec"]["selector"]["matchLabels"] == {
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": "its-kafka-kafka-exporter",
    }
    (postgres,) = find(overlay, "Cluster", "its-postgres")
    assert postgres["spec"]["monitoring"]["enablePodMonitor"] is True
    for monitor in find(overlay, "PodMonitor"):
        assert "cnpg.io/cluster" not in monitor["spec"]["selector"].get("matchLabels", {})
