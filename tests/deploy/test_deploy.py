"""The deployment files, checked without a container engine (none exists here).

docker-compose: services, health checks, dependency order and settings wiring (every
``DEEPWELL_*`` variable must be a real setting). Helm: every template renders
(``helm_render.py``) into manifests with apiVersion/kind/metadata/spec, secrets come
from Secret refs, and the Qdrant chart is a dependency. Dockerfile: stages, a non-root
user, a health check on /healthz.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_render import TemplateError, render, render_chart

from core import Settings, is_setting_variable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHART = DEPLOY / "helm" / "deepwell"


# --- docker-compose ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def test_compose_has_every_service_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {
        "qdrant",
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "nightly-eval",
    }
    for name in ("qdrant", "postgres", "redis", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["nightly-eval"]["command"] == ["eval", "nightly"]
    assert services["migrate"]["command"] == ["db", "upgrade"]


def test_compose_starts_the_api_after_its_backends_and_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert api_deps["qdrant"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_compose_wires_the_scaled_settings(compose: dict[str, Any]) -> None:
    for name in ("api", "worker", "nightly-eval", "migrate"):
        env = compose["services"][name]["environment"]
        assert env["DEEPWELL_DATABASE__URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["DEEPWELL_DATABASE__URL"]
        assert env["DEEPWELL_INDEX__BACKEND"] == "qdrant"
        assert env["DEEPWELL_INDEX__URL"] == "http://qdrant:6333"
        unknown = [k for k in env if k.startswith("DEEPWELL_") and not is_setting_variable(k)]
        assert not unknown, f"{name}: not settings (deepwell would refuse to start): {unknown}"
    # The API does not migrate on start: the migrate service did, once.
    assert (
        compose["services"]["api"]["environment"]["DEEPWELL_DATABASE__MIGRATE_ON_START"] == "false"
    )


def test_compose_environment_builds_valid_settings(compose: dict[str, Any]) -> None:
    env = dict(compose["services"]["api"]["environment"])
    env["DEEPWELL_DATABASE__URL"] = "postgresql+psycopg://deepwell:pw@postgres:5432/deepwell"
    groups: dict[str, Any] = {}
    for key, value in env.items():
        group, _, field = key.removeprefix("DEEPWELL_").lower().partition("__")
        if field:
            groups.setdefault(group, {})[field] = value
        else:
            groups[group] = value
    settings = Settings(**groups)
    assert settings.index.backend == "qdrant"
    assert settings.database_url.startswith("postgresql+psycopg://")


# --- Helm ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> dict[str, list[dict[str, Any]]]:
    return render_chart(CHART, {"worker": {"enabled": True}})


def test_chart_declares_the_qdrant_dependency() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert deps["qdrant"]["repository"] == "https://qdrant.github.io/qdrant-helm"
    assert deps["qdrant"]["condition"] == "qdrant.enabled"


def test_every_manifest_has_the_basic_schema(manifests: dict[str, list[dict[str, Any]]]) -> None:
    kinds = []
    for name, docs in manifests.items():
        for doc in docs:
            assert isinstance(doc.get("apiVersion"), str), name
            assert isinstance(doc.get("kind"), str), name
            assert re.fullmatch(r"[a-z0-9-]+", doc["metadata"]["name"]), name
            assert "spec" in doc or doc["kind"] == "ConfigMap", name
            kinds.append(doc["kind"])
    assert sorted(kinds) == sorted(
        [
            "Deployment",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "CronJob",
            "Job",
            "ConfigMap",
        ]
    )


def _pod_specs(manifests: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    specs = {}
    for docs in manifests.values():
        for doc in docs:
            spec = doc.get("spec", {})
            if doc["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            if "template" in spec:
                specs[doc["metadata"]["name"]] = spec["template"]["spec"]
    return specs


def test_pods_run_as_non_root_with_secrets_from_refs(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    specs = _pod_specs(manifests)
    assert set(specs) == {"dw-api", "dw-worker", "dw-nightly-eval", "dw-migrate"}
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            env = {e["name"]: e for e in container["env"]}
            db = env["DEEPWELL_DATABASE__URL"]
            assert db["valueFrom"]["secretKeyRef"]["name"] == "deepwell-secrets", name
            assert "value" not in db
            for var in env:
                assert is_setting_variable(var), f"{name}: {var} is not a setting"
    api = specs["dw-api"]["containers"][0]
    assert api["args"] == ["serve"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    api_env = {e["name"] for e in api["env"]}
    assert {"DEEPWELL_LLM__API_KEY", "DEEPWELL_INDEX__API_KEY"} <= api_env


def test_settings_configmap_names_only_real_settings(
    manifests: dict[str, list[dict[str, Any]]],
) -> None:
    data = manifests["configmap.yaml"][0]["data"]
    assert data["DEEPWELL_INDEX__BACKEND"] == "qdrant"
    assert all(isinstance(v, str) for v in data.values())  # ConfigMap values are strings
    assert [k for k in data if not is_setting_variable(k)] == []


def test_hpa_and_cronjob(manifests: dict[str, list[dict[str, Any]]]) -> None:
    hpa = manifests["api-hpa.yaml"][0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "dw-api"
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in manifests["api-deployment.yaml"][0]["spec"]  # the HPA owns it
    cron = manifests["nightly-eval-cronjob.yaml"][0]
    assert cron["spec"]["schedule"] == "0 2 * * *"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["eval", "nightly"]


def test_switches_turn_parts_off() -> None:
    off = render_chart(
        CHART,
        {
            "api": {"autoscaling": {"enabled": False}},
            "worker": {"enabled": False},
            "nightlyEval": {"enabled": False},
        },
    )
    assert off["api-hpa.yaml"] == []
    assert off["worker-deployment.yaml"] == []
    assert off["nightly-eval-cronjob.yaml"] == []
    assert off["api-deployment.yaml"][0]["spec"]["replicas"] == 2


def test_renderer_refuses_what_it_does_not_support() -> None:
    with pytest.raises(TemplateError, match="unsupported"):
        render('{{ include "x" . }}', {})
    with pytest.raises(TemplateError, match="no value"):
        render("{{ .Values.missing }}", {"Values": {}})
    assert (
        render("a:\n  {{- toYaml .Values.m | nindent 2 }}\n", {"Values": {"m": {"k": 1}}})
        == "a:\n  k: 1\n"
    )


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    instructions = [line.split()[0].upper() for line in lines]
    known = {
        "ARG",
        "FROM",
        "ENV",
        "RUN",
        "WORKDIR",
        "COPY",
        "USER",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    }
    assert set(instructions) <= known, set(instructions) - known
    stages = [line.split() for line in lines if line.upper().startswith("FROM ")]
    assert [s[-1] for s in stages] == ["builder", "runtime"]
    runtime = lines[lines.index(next(line for line in lines if line.endswith("AS runtime"))) :]
    assert any(line.startswith("COPY --from=builder /opt/venv") for line in runtime)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1] not in ("root", "0")
    health = next(line for line in runtime if line.startswith("HEALTHCHECK"))
    assert "/healthz" in health
    # Every DEEPWELL_* variable set in the image is a real setting.
    env_vars = re.findall(r"\b(DEEPWELL_[A-Z_]+)=", "\n".join(lines))
    assert env_vars
    assert [v for v in env_vars if not is_setting_variable(v)] == []
