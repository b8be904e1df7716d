"""The five deployables' manifests against the code they run: env var names are the settings classes', ports are the
ports those settings open, commands are real `itscam` subcommands, probes hit what the code serves, the GPU goes
where TensorRT runs, and every Secret comes from an ExternalSecret."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings
from starlette.routing import Route

from deploy.kube import OVERLAYS
from deploy.kube.podsecurity import pod_spec_of as pod_spec
from eventbus.config import KafkaSecurity
from inference.settings import InferenceSettings
from itscam.main import build_parser
from projections.api.settings import ApiSettings
from projections.settings import ProjectorSettings
from schemas.credentials import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV
from schemas.source_policy import SourcePolicy
from streams.analytics.settings import AnalyticsSettings
from streams.ingest.settings import IngestSettings
from tests.deploy.kube.conftest import Manifests

Find = Callable[..., Manifests]

DOCKER_DIR = Path(__file__).resolve().parents[3] / "deploy" / "docker"
CPU_IMAGE = "ghcr.io/its-camera-ai/its-camera-ai"
GPU_IMAGE = "ghcr.io/its-camera-ai/its-camera-ai-gpu"
KAFKA_BOOTSTRAP = "its-kafka-kafka-bootstrap:9092"
METRICS_PORT = 9090

# Deployable -> its settings class; the Deployment, ServiceAccount and Service are its-<deployable>.
SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "inference": InferenceSettings,
    "ingest": IngestSettings,
    "analytics": AnalyticsSettings,
    "projector": ProjectorSettings,
}
# Settings classes every deployable shares besides its own (the Kafka client's identity), and those of the two that
# take camera sources (the source policy) and the sealing key each one gets (ingest: private, API: public).
SHARED_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    x: (KafkaSecurity, SourcePolicy) if x in ("ingest", "api") else (KafkaSecurity,) for x in SETTINGS
}
SEAL_KEY = {"ingest": PRIVATE_KEY_ENV, "api": PUBLIC_KEY_ENV}
# The deployables that read PostgreSQL and Redis (their DSN/URL come from Secret its-app-secrets).
NEEDS_STORES = ("api", "projector")
CASES = [(overlay, x) for overlay in OVERLAYS for x in SETTINGS]


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads: a field's validation aliases, else env_prefix + NAME."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for field, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c.upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field}".upper())
    return names


def deployment(find: Find, overlay: str, x: str) -> dict[str, Any]:
    found = find(overlay, "Deployment", f"its-{x}")
    assert len(found) == 1, (
        f"overlay {overlay}: expected one Deployment its-{x}, found {len(found)}: list {x}/deployment.yaml in "
        "deploy/k8s/base/workloads/kustomization.yaml"
    )
    return found[0]


def container(find: Find, overlay: str, x: str) -> dict[str, Any]:
    containers = pod_spec(deployment(find, overlay, x))["containers"]
    named = [c for c in containers if c["name"] == x]
    assert len(named) == 1, f"overlay {overlay}: Deployment its-{x} needs one container named {x!r}"
    return dict(named[0])


def external_secret_keys(find: Find, overlay: str, secret: str) -> set[str]:
    """The keys of the Secret an ExternalSecret makes (its template's data keys, else its data's secretKeys)."""
    for es in find(overlay, "ExternalSecret"):
        target = es["spec"].get("target", {})
        if target.get("name", es["metadata"]["name"]) == secret:
            template = target.get("template", {}).get("data")
            return set(template) if template else {d["secretKey"] for d in es["spec"].get("data", [])}
    raise AssertionError(
        f"overlay {overlay}: no ExternalSecret makes Secret {secret!r}: add one to "
        "deploy/k8s/base/workloads/secrets/externalsecrets.yaml (secrets never live in git)"
    )


def provided_env(find: Find, overlay: str, x: str) -> dict[str, str]:
    """Every environment variable container `x` gets -> its value (fieldRef/secret values as placeholders)."""
    c = container(find, overlay, x)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            maps = find(overlay, "ConfigMap", name)
            assert maps, f"overlay {overlay}: Deployment its-{x} reads ConfigMap {name!r}, which is not rendered"
            env |= {k: str(v) for k, v in maps[0].get("data", {}).items()}
        elif "secretRef" in source:
            env |= {k: f"<secret {k}>" for k in external_secret_keys(find, overlay, source["secretRef"]["name"])}
    for var in c.get("env", []):
        env[var["name"]] = str(var.get("value", f"its-{x}-7d9f8c6b5-x2x4z"))
    return env


def read_names(x: str) -> set[str]:
    """Every environment variable deployable `x` reads: its settings class's, the shared classes' and its seal key."""
    names = env_names(SETTINGS[x]).union(*(env_names(c) for c in SHARED_SETTINGS[x]))
    return names | ({SEAL_KEY[x]} if x in SEAL_KEY else set())


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_env_names_are_settings(find: Find, overlay: str, x: str) -> None:
    cls = SETTINGS[x]
    unknown = sorted(set(provided_env(find, overlay, x)) - read_names(x))
    assert not unknown, (
        f"overlay {overlay}: its-{x} sets {unknown}, which {cls.__name__} (nor KafkaSecurity, SourcePolicy, the seal "
        f"key) does not read: rename them to the class's variables ({sorted(env_names(cls))}) in "
        f"deploy/k8s/base/workloads/{x}/config.env or the overlay"
    )


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_every_setting_is_provided(find: Find, overlay: str, x: str) -> None:
    cls = SETTINGS[x]
    env = provided_env(find, overlay, x)
    missing = sorted(env_names(cls) - set(env))
    assert not missing, (
        f"overlay {overlay}: its-{x} does not set {missing} of {cls.__name__}: add them to "
        f"deploy/k8s/base/workloads/{x}/config.env (ConfigMap its-{x}-config), or to its-app-secrets if secret"
    )
    assert env["ITS_KAFKA_BOOTSTRAP"] == KAFKA_BOOTSTRAP, (
        f"overlay {overlay}: its-{x} has ITS_KAFKA_BOOTSTRAP={env['ITS_KAFKA_BOOTSTRAP']!r}: set it to the Strimzi "
        f"bootstrap Service {KAFKA_BOOTSTRAP}"
    )
    if x in NEEDS_STORES:
        c = container(find, overlay, x)
        refs = {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
        assert "its-app-secrets" in refs, (
            f"overlay {overlay}: its-{x} needs ITS_PG_DSN and ITS_REDIS_URL from Secret its-app-secrets: add "
            "`envFrom: [{secretRef: {name: its-app-secrets}}]` to its container"
        )
        for var in ("ITS_PG_DSN", "ITS_REDIS_URL"):
            assert env[var].startswith("<secret"), (
                f"overlay {overlay}: its-{x} must take {var} from Secret its-app-secrets, not from a ConfigMap"
            )


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_settings_load_and_ports_match(find: Find, monkeypatch: pytest.MonkeyPatch, overlay: str, x: str) -> None:
    """The settings class accepts the manifest's values, and the container ports are the ports they open."""
    import os

    for name in [n for n in os.environ if n.startswith("ITS_")]:
        monkeypatch.delenv(name)
    env = provided_env(find, overlay, x)
    env |= {"ITS_PG_DSN": "postgresql://its:pw@its-postgres-rw:5432/its", "ITS_REDIS_URL": "redis://:pw@r:6379/0"}
    for name, value in env.items():
        if name in env_names(SETTINGS[x]):
            monkeypatch.setenv(name, value)
    s: Any = SETTINGS[x]()
    ports = {p["name"]: p["containerPort"] for p in container(find, overlay, x).get("ports", [])}
    assert s.metrics_port == METRICS_PORT == ports.get("metrics"), (
        f"overlay {overlay}: its-{x} opens metrics on {s.metrics_port}, its container port `metrics` is "
        f"{ports.get('metrics')}: set {SETTINGS[x].model_config['env_prefix']}METRICS_PORT={METRICS_PORT} and "
        f"containerPort {METRICS_PORT} named metrics"
    )
    expected = {"metrics"}
    if x == "api":
        expected.add("http")
        assert s.host == "0.0.0.0" and s.port == 8000 == ports.get("http"), (
            f"overlay {overlay}: its-api listens on {s.host}:{s.port}, its container port `http` is "
            f"{ports.get('http')}: set ITS_API_HOST=0.0.0.0, ITS_API_PORT=8000 and containerPort 8000 named http"
        )
    assert set(ports) == expected, f"overlay {overlay}: its-{x} has ports {sorted(ports)}, expected {sorted(expected)}"
    service = find(overlay, "Service", f"its-{x}")
    assert service, f"overlay {overlay}: no Service its-{x}: add {x}/service.yaml"
    svc_ports = {p["name"]: (p["port"], p["targetPort"]) for p in service[0]["spec"]["ports"]}
    want = {name: (port, name) for name, port in ports.items()}
    assert svc_ports == want, f"overlay {overlay}: Service its-{x} ports {svc_ports}, expected {want}"


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_command_is_an_itscam_subcommand(find: Find, overlay: str, x: str) -> None:
    c = container(find, overlay, x)
    assert c.get("command") == ["itscam"], f"overlay {overlay}: its-{x} must run `itscam` (command: [itscam])"
    try:
        ns = build_parser().parse_args(c.get("args", []))
    except SystemExit as e:
        raise AssertionError(f"overlay {overlay}: its-{x} args {c.get('args')} are not an itscam command line") from e
    assert ns.command == x, f"overlay {overlay}: its-{x} runs `itscam {ns.command}`, expected `itscam {x}`"


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_probes_hit_what_the_code_serves(find: Find, overlay: str, x: str) -> None:
    from projections.api.app import create_app

    api_paths = {r.path for r in create_app(ApiSettings()).routes if isinstance(r, Route)}
    c = container(find, overlay, x)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(kind)
        if kind != "startupProbe":
            assert probe, f"overlay {overlay}: its-{x} has no {kind}: add one"
        if not probe:
            continue
        assert "httpGet" in probe, f"overlay {overlay}: its-{x} {kind} should be an httpGet"
        path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
        if x == "api" and port == "http":
            assert path in api_paths, f"overlay {overlay}: its-api {kind} path {path} is not a route (/health, /ready)"
            assert ports["http"] == 8000, f"overlay {overlay}: its-api {kind} must probe port http (8000)"
        else:
            # The workers serve only Prometheus metrics (on ITS_<X>_METRICS_HOST=0.0.0.0): /metrics answering means
            # the worker started (the server starts once its consumer is built) and its process is alive.
            assert (path, ports.get(port, port)) == ("/metrics", METRICS_PORT), (
                f"overlay {overlay}: its-{x} {kind} probes {path} on {port}: use /metrics on port metrics"
            )
            env = provided_env(find, overlay, x)
            host = next(k for k in env if k.endswith("_METRICS_HOST"))
            assert env[host] == "0.0.0.0", f"overlay {overlay}: set {host}=0.0.0.0 so the kubelet can reach /metrics"
    if x == "api":
        assert c["livenessProbe"]["httpGet"]["path"] == "/health", "its-api liveness must be /health (no deps)"
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready", "its-api readiness must be /ready (checks deps)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_runs_where_its_backend_can(find: Find, overlay: str) -> None:
    c = container(find, overlay, "inference")
    spec = pod_spec(deployment(find, overlay, "inference"))
    env = provided_env(find, overlay, "inference")
    gpu = c["resources"].get("limits", {}).get("nvidia.com/gpu")
    if overlay == "dev":
        # dev runs on clusters without GPUs: ONNX Runtime on the CPU image.
        assert env["ITS_INFERENCE_BACKEND"] == "onnxruntime" and gpu is None, (
            "overlay dev: its-inference must run onnxruntime without nvidia.com/gpu (deploy/k8s/overlays/dev/workloads)"
        )
        assert c["image"].startswith(f"{CPU_IMAGE}:") and "nodeSelector" not in spec and "tolerations" not in spec
        dockerfile = DOCKER_DIR / "Dockerfile"
    else:
        assert env["ITS_INFERENCE_BACKEND"] == "tensorrt" and c["image"].startswith(f"{GPU_IMAGE}:"), (
            f"overlay {overlay}: its-inference must run the TensorRT backend of the GPU image {GPU_IMAGE}"
        )
        assert gpu in (1, "1"), f"overlay {overlay}: its-inference must limit nvidia.com/gpu: 1 (found {gpu!r})"
        assert spec.get("nodeSelector", {}).get("its-camera-ai/node-pool") == "gpu-t4", (
            f"overlay {overlay}: its-inference needs nodeSelector its-camera-ai/node-pool: gpu-t4"
        )
        tolerated = [
            t
            for t in spec.get("tolerations", [])
            if t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NoSchedule"
        ]
        assert tolerated, (
            f"overlay {overlay}: its-inference must tolerate the T4 pool's taint nvidia.com/gpu:NoSchedule"
        )
        dockerfile = DOCKER_DIR / "Dockerfile.gpu"
    model = Path(env["ITS_INFERENCE_MODEL_PATH"])
    text = dockerfile.read_text()
    assert model.name in text and str(model.parent) in text, (
        f"overlay {overlay}: ITS_INFERENCE_MODEL_PATH={model} is not put into the image by {dockerfile.name}: "
        "make the path and the Dockerfile's COPY agree"
    )


def _strings(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        return set().union(*(_strings(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(_strings(v) for v in obj)) if obj else set()
    return {obj} if isinstance(obj, str) else set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_external_secrets(rendered: dict[str, Manifests], find: Find, overlay: str) -> None:
    literal = [d["metadata"]["name"] for d in find(overlay, "Secret") if d.get("data") or d.get("stringData")]
    assert not literal, f"overlay {overlay}: Secrets {literal} carry values in git: make them ExternalSecrets"
    stores = find(overlay, "SecretStore", "aws-secrets-manager")
    assert stores, f"overlay {overlay}: no SecretStore aws-secrets-manager"
    sa_name = stores[0]["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
    sa = find(overlay, "ServiceAccount", sa_name)
    assert sa and "eks.amazonaws.com/role-arn" in sa[0]["metadata"].get("annotations", {}), (
        f"overlay {overlay}: the SecretStore's ServiceAccount {sa_name} needs an IRSA role (eks.amazonaws.com/role-arn)"
    )
    targets = {es["spec"]["target"]["name"] for es in find(overlay, "ExternalSecret")}
    assert {"its-app-secrets", "its-postgres-app-credentials", "its-redis-credentials"} <= targets
    for es in find(overlay, "ExternalSecret"):
        assert es["spec"]["secretStoreRef"]["name"] == "aws-secrets-manager"
    others = [d for d in rendered[overlay] if d.get("kind") != "ExternalSecret"]
    referenced = set().union(*(_strings(d.get("spec", {})) for d in others))
    unused = sorted(targets - referenced)
    assert not unused, f"overlay {overlay}: ExternalSecrets make {unused}, which no object uses: drop them"
    for x in SETTINGS:
        c = container(find, overlay, x)
        for ref in [s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s]:
            assert ref in targets, f"overlay {overlay}: its-{x} reads Secret {ref}, which no ExternalSecret makes"


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_least_privilege_and_availability(find: Find, overlay: str, x: str) -> None:
    d = deployment(find, overlay, x)
    spec = pod_spec(d)
    assert "replicas" not in d["spec"], (
        f"overlay {overlay}: Deployment its-{x} sets replicas, which its autoscaler owns: remove the field"
    )
    assert spec.get("serviceAccountName") == f"its-{x}" and spec.get("automountServiceAccountToken") is False
    sa = find(overlay, "ServiceAccount", f"its-{x}")
    assert sa and sa[0].get("automountServiceAccountToken") is False, (
        f"overlay {overlay}: ServiceAccount its-{x} must exist with automountServiceAccountToken: false"
    )
    assert "eks.amazonaws.com/role-arn" not in sa[0]["metadata"].get("annotations", {}), (
        f"overlay {overlay}: its-{x} does not talk to AWS: remove its IRSA annotation"
    )
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in find(overlay, kind):
            subjects = {s.get("name") for s in b.get("subjects", [])}
            assert f"its-{x}" not in subjects, (
                f"overlay {overlay}: {kind} {b['metadata']['name']} grants its-{x} API access"
            )
    labels = d["spec"]["template"]["metadata"]["labels"]
    pdbs = [
        p
        for p in find(overlay, "PodDisruptionBudget")
        if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert pdbs, f"overlay {overlay}: no PodDisruptionBudget selects its-{x}'s pods: add {x}/poddisruptionbudget.yaml"
    keys = {t["topologyKey"] for t in spec.get("topologySpreadConstraints", [])}
    assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys, (
        f"overlay {overlay}: its-{x} must spread over zones and hosts (topologySpreadConstraints)"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_ingest_gets_the_private_seal_key(find: Find, overlay: str) -> None:
    """Ingest opens sealed camera credentials with the private key, mounted from its own Secret; the API gets the
    public key only; no other deployable gets either (schemas/credentials.py)."""
    for x in SETTINGS:
        env = provided_env(find, overlay, x)
        assert (PRIVATE_KEY_ENV in env) == (x == "ingest"), f"overlay {overlay}: its-{x} and {PRIVATE_KEY_ENV}"
        assert (PUBLIC_KEY_ENV in env) == (x == "api"), f"overlay {overlay}: its-{x} and {PUBLIC_KEY_ENV}"
        volumes = pod_spec(deployment(find, overlay, x)).get("volumes", [])
        mounted = {v["secret"]["secretName"] for v in volumes if "secret" in v}
        assert ("its-camera-seal-private" in mounted) == (x == "ingest"), f"overlay {overlay}: its-{x} mounts {mounted}"
    key_path = provided_env(find, overlay, "ingest")[PRIVATE_KEY_ENV]
    c = container(find, overlay, "ingest")
    (mount,) = [m for m in c["volumeMounts"] if key_path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert mount.get("readOnly") is True
    volumes = {v["name"]: v for v in pod_spec(deployment(find, overlay, "ingest"))["volumes"]}
    assert volumes[mount["name"]]["secret"]["secretName"] == "its-camera-seal-private"
    api_env = {e["name"]: e for e in container(find, overlay, "api").get("env", [])}
    assert api_env[PUBLIC_KEY_ENV]["valueFrom"]["secretKeyRef"]["name"] == "its-camera-seal-public"
