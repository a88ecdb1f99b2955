"""The deployment examples under deploy/: valid by their own specifications (compose, Kubernetes), and consistent
with the app they deploy — probe paths and ports exist, every RAILGUARD_* variable is a real setting with a valid
value, the policies validate with the real loader, every path the image writes to is writable, and the grace periods
leave room for a graceful stop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.loader import load_policy_set
from proxy.app import create_app
from proxy.settings import Settings
from tests.dockerfile import stages

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes" / "railguard-sidecar.yaml"

# Settings the examples already configure that other work in progress adds (shared rate-limit state in Redis, the
# review queue in PostgreSQL). Listed here so a typo in any other name still fails.
PENDING_SETTINGS: set[str] = set()


def image_env() -> dict[str, str]:
    return {k: v for k, v in stages()["runtime"].env.items() if k.startswith("RAILGUARD_")}


def writable_paths() -> list[str]:
    label = stages()["runtime"].one("LABEL").value
    match = re.search(r'io\.railguard\.writable-paths="([^"]+)"', label)
    assert match is not None
    return match.group(1).split()


def container_settings(env: dict[str, str]) -> Settings:
    """The settings the container runs with: its environment over the image's, as `railguard serve` would load them
    (environment > defaults). Unknown names and invalid values fail here."""
    merged = {**image_env(), **env}
    names = {name.removeprefix("RAILGUARD_").lower() for name in merged if name.startswith("RAILGUARD_")}
    unknown = names - set(Settings.model_fields) - PENDING_SETTINGS
    assert not unknown, f"not settings: {sorted(unknown)}"
    given = {name: merged["RAILGUARD_" + name.upper()] for name in names - PENDING_SETTINGS}
    given.setdefault("upstream", "https://upstream.invalid/v1")
    return Settings(**given)


def route_paths(settings: Settings) -> set[str]:
    return {route.path for route in create_app(settings.model_copy(update={"policies": None})).routes}


def assert_policies_valid(directory: Path) -> None:
    policy_set = load_policy_set(directory)  # raises PolicyError with file:line:column on any problem
    assert set(policy_set.policies) > {"default"}, "the example should ship a policy of its own"


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match is not None, duration
    return float(match.group(1))


# ---------------------------------------------------------------------------------------------- docker compose


def compose() -> dict[str, Any]:
    text = COMPOSE.read_text()
    spec = pytest.importorskip("compose_spec", reason="compose-spec validates compose files (it is in the dev extra)")
    spec.PyCompose.from_yaml(text)  # the compose specification, strictly: unknown keys and bad values fail
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def test_compose_file_follows_the_compose_specification() -> None:
    services = compose()["services"]
    assert set(services) == {"railguard", "app", "redis", "postgres"}
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_compose_runs_railguard_as_the_apps_sidecar() -> None:
    services = compose()["services"]
    railguard, app = services["railguard"], services["app"]
    settings = container_settings(_interpolated(railguard["environment"]))
    # The app shares the sidecar's network namespace, waits for it to be healthy (the image's HEALTHCHECK, which
    # tests/test_dockerfile.py checks is /readyz), and calls it on loopback at the port it listens on.
    assert "healthcheck" not in railguard, "the image's own HEALTHCHECK applies"
    assert app["network_mode"] == "service:railguard"
    assert app["depends_on"]["railguard"]["condition"] == "service_healthy"
    assert app["environment"]["OPENAI_BASE_URL"] == f"http://127.0.0.1:{settings.port}/v1"
    assert railguard["ports"] == [f"{settings.port}:{settings.port}"]
    # Read-only root; every path the image writes to is a tmpfs or a volume.
    assert railguard["read_only"] is True
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in railguard["volumes"]}
    assert set(writable_paths()) <= set(railguard["tmpfs"]) | set(mounts)
    assert settings.events_jsonl is not None and str(settings.events_jsonl).startswith("/var/lib/railguard/")
    # The policies it mounts are where the image looks, and they validate.
    assert settings.policies is not None
    assert_policies_valid((COMPOSE.parent / mounts[str(settings.policies)]).resolve())
    # The stores it is pointed at are the ones in this file.
    env = _interpolated(railguard["environment"])
    assert env["RAILGUARD_REDIS_URL"].startswith("redis://redis:6379")
    assert "@postgres:5432/" + services["postgres"]["environment"]["POSTGRES_DB"] in env["RAILGUARD_REVIEW_DB"]
    # Docker's SIGKILL comes after the graceful stop can finish.
    assert seconds(railguard["stop_grace_period"]) > settings.shutdown_grace + settings.events_flush_timeout


def _interpolated(env: dict[str, str]) -> dict[str, str]:
    """Compose's ${NAME:-default} with the defaults (what runs when nothing is exported)."""
    return {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}


# ---------------------------------------------------------------------------------------------- Kubernetes


def manifests() -> list[dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d]
    validate = pytest.importorskip("kubernetes_validate", reason="Kubernetes schemas (in the dev extra)")
    for document in documents:
        validate.validate(document, "1.30.0", strict=True)  # unknown fields (typos) fail too
    return documents


def of_kind(kind: str) -> dict[str, Any]:
    found = [d for d in manifests() if d["kind"] == kind]
    assert len(found) == 1
    return found[0]


def sidecar() -> tuple[dict[str, Any], dict[str, Any]]:
    pod = of_kind("Deployment")["spec"]["template"]["spec"]
    containers = [c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "railguard"]
    assert len(containers) == 1
    return pod, containers[0]


def test_kubernetes_manifests_follow_the_kubernetes_schemas() -> None:
    assert {d["kind"] for d in manifests()} == {"ConfigMap", "Deployment"}


def test_the_probes_reach_paths_and_ports_the_app_serves() -> None:
    pod, container = sidecar()
    # A native sidecar: started before the app, stopped after it.
    assert container in pod["initContainers"] and container["restartPolicy"] == "Always"
    settings = container_settings({e["name"]: e["value"] for e in container["env"]})
    paths = route_paths(settings)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    for kind, probe in probes.items():
        assert probe["path"] in paths, (kind, probe["path"])
        port = ports[probe["port"]] if isinstance(probe["port"], str) else probe["port"]
        assert port == settings.port, (kind, port)
    assert probes["livenessProbe"]["path"] == "/healthz", "liveness must not depend on models or stores"
    assert probes["readinessProbe"]["path"] == probes["startupProbe"]["path"] == "/readyz"
    # The kubelet probes the pod IP, so the proxy must not listen on loopback only.
    assert settings.host not in ("127.0.0.1", "localhost", "::1")
    app = next(c for c in pod["containers"] if c["name"] == "app")
    assert {"name": "OPENAI_BASE_URL", "value": f"http://127.0.0.1:{settings.port}/v1"} in app["env"]
    annotations = of_kind("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in paths and int(annotations["prometheus.io/port"]) == settings.port


def test_the_pod_gives_the_sidecar_its_policies_writable_paths_and_time_to_stop(tmp_path: Path) -> None:
    pod, container = sidecar()
    settings = container_settings({e["name"]: e["value"] for e in container["env"]})
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(stages()["runtime"].one("USER").value.split(":")[0])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in writable_paths():
        assert path in mounts and "emptyDir" in volumes[mounts[path]], path
    # The ConfigMap is mounted where the proxy reads policies, and its policies validate with the real loader.
    assert settings.policies is not None
    config_map = of_kind("ConfigMap")
    assert volumes[mounts[str(settings.policies)]]["configMap"]["name"] == config_map["metadata"]["name"]
    directory = tmp_path / "policies"
    directory.mkdir()
    for name, text in config_map["data"].items():
        (directory / name).write_text(text)
    assert_policies_valid(directory)
    # SIGKILL comes after the graceful stop can finish.
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace + settings.events_flush_timeout
