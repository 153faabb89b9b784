"""The deployment files: every YAML parses, and the essentials agree with the code (probe paths
and port, non-root, two replicas, grace period, topics, settings that exist). No container
engine runs here, so this is what can be checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.ops.asgi import build_app
from gateway.settings import PROJECT_ROOT, Settings
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

DEPLOY = PROJECT_ROOT / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
SETTINGS = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
ROUTES = {getattr(route, "path", None) for route in build_app(Readiness(), Metrics()).routes}
DEFAULTS = Settings.model_construct()


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _k8s() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in _docs(path):
            assert doc["kind"] not in found, f"two {doc['kind']} manifests"
            found[doc["kind"]] = doc
    return found


def test_there_is_something_to_check():
    names = {p.relative_to(DEPLOY).as_posix() for p in YAML_FILES}
    assert {"docker-compose.yml", "k8s/deployment.yaml", "k8s/configmap.yaml"} <= names
    assert {"k8s/secret.yaml", "k8s/pdb.yaml", "k8s/service.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses_and_uses_only_real_settings(path: Path):
    docs = _docs(path)
    assert docs
    used = set(re.findall(r"\bGATEWAY_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert used <= SETTINGS, f"not in Settings: {sorted(used - SETTINGS)}"


def test_the_deployment_probes_the_real_endpoints_as_non_root_with_two_replicas():
    k8s = _k8s()
    deployment, config = k8s["Deployment"], k8s["ConfigMap"]["data"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == int(config["GATEWAY_HTTP_PORT"])
    assert config["GATEWAY_HTTP_HOST"] == "0.0.0.0"  # probes come from the kubelet, not loopback
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] in ROUTES
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["terminationGracePeriodSeconds"] > float(config["GATEWAY_SHUTDOWN_TIMEOUT_S"])
    refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
    assert refs == {k8s["ConfigMap"]["metadata"]["name"], k8s["Secret"]["metadata"]["name"]}
    # Secrets are not in the ConfigMap.
    secrets = {"GATEWAY_DATABASE_URL", "GATEWAY_IDENTIFIER_HASH_KEY"}
    assert not (secrets | {"GATEWAY_CONSOLE_SESSION_SECRET"}) & set(config)
    Settings(
        **{k.removeprefix("GATEWAY_").lower(): v for k, v in config.items()}
        | {"identifier_hash_key": "k" * 40, "console_session_secret": "s" * 40}
    )  # the ConfigMap's values validate


def test_pdb_and_service_select_the_deployments_pods():
    k8s = _k8s()
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert k8s["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert k8s["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    service = k8s["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    assert "/metrics" in ROUTES


def test_compose_runs_kraft_kafka_postgres_a_topics_job_and_two_gateways():
    (compose,) = _docs(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres:")
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] == 2
    assert gateway["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "/health/live" in " ".join(gateway["healthcheck"]["test"])
    env = gateway["environment"]
    assert env["GATEWAY_CREATE_TOPICS"] == "false"
    assert env["GATEWAY_HTTP_HOST"] == "0.0.0.0"
    stop_grace = int(gateway["stop_grace_period"].removesuffix("s"))
    assert stop_grace > float(env["GATEWAY_SHUTDOWN_TIMEOUT_S"])
    script = "\n".join(services["topics"]["command"])
    created = dict(re.findall(r"^\s*create (\S+) (\d+)", script, re.MULTILINE))
    assert set(created) == set(DEFAULTS.all_topics)
    assert created.pop(DEFAULTS.topic_audit_witness) == "1"  # one order of block heads
    assert set(created.values()) == {str(DEFAULTS.topic_partitions)}
    (witness,) = re.findall(rf"^\s*create {DEFAULTS.topic_audit_witness} .*$", script, re.M)
    assert "cleanup.policy=delete" in witness and "retention.ms=-1" in witness


def test_the_image_runs_the_gateway_as_non_root_with_a_liveness_healthcheck():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*$", dockerfile, re.MULTILINE)
    assert "/health/live" in dockerfile.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert 'CMD ["python", "-m", "gateway", "run"]' in dockerfile
    assert set(re.findall(r"\bGATEWAY_[A-Z0-9_]+", dockerfile)) <= SETTINGS
    copied = set(re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE))
    assert {"gateway", "consumers", "producers", "schemas", "pyproject.toml"} <= copied
    for source in copied:
        assert (PROJECT_ROOT / source).exists(), f"COPY {source}: no such path"


def test_each_replica_is_scraped_by_annotations_or_the_service_monitor():
    k8s = _k8s()
    template = k8s["Deployment"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics" and "/metrics" in ROUTES
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    (monitor,) = _docs(DEPLOY / "monitoring" / "servicemonitor.yaml")
    service = k8s["Service"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
