"""Static checks of the deployment files: they agree with each other and with services/.

The service list comes from services/*/pyproject.toml, so a new service fails here until it has
its compose entry, Dockerfile target, scrape target and Kubernetes manifests.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

KNOWN_PORTS = {
    "catalog-sync": 8101,
    "repricer": 8102,
    "order-import": 8103,
    "reporting": 8104,
    "amazon-gateway": 8105,
    "commerce-gateway": 8106,
}
COUNTERS_AND_GAUGES = {
    "saleschannel_messages_handled_total",
    "saleschannel_messages_failed_total",
    "saleschannel_messages_dead_lettered_total",
    "saleschannel_consumer_lag",
    "saleschannel_outbox_backlog",
    "saleschannel_outbox_published_total",
}
HISTOGRAMS = {"saleschannel_handler_duration_seconds", "saleschannel_event_age_seconds"}
ALLOWED_METRICS = (
    COUNTERS_AND_GAUGES
    | {h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"up"}
)


def discover_services() -> dict[str, str]:
    """Package name -> python module, for every package under services/."""
    services = {}
    for pyproject in sorted((ROOT / "services").glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        services[name] = name.replace("-", "_")
    return services


SERVICES = discover_services()
SERVICE_NAMES = sorted(SERVICES)


# --------------------------------------------------------------------------------------------
# Loading and small parsers
# --------------------------------------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_service(name: str) -> dict:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on_of(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {dep: "service_started" for dep in deps}
    return {dep: (spec or {}).get("condition", "service_started") for dep, spec in deps.items()}


def command_text(value: str | list | None) -> str:
    return " ".join(value) if isinstance(value, list) else (value or "")


def service_port(name: str) -> int:
    return int(env_of(compose_service(name))["HTTP_PORT"])


@cache
def dockerfile_stages() -> dict[str, dict]:
    """Stage name -> {"base": FROM image or stage, "instructions": [(KEYWORD, args), ...]}."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: dict[str, dict] = {}
    current = None
    for raw in logical.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and current is None and "=" in rest:
            key, _, default = rest.strip().partition("=")
            args[key] = default
        elif keyword == "FROM":
            match = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.IGNORECASE)
            assert match, f"unparsable FROM line: {line}"
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), match[1])
            current = match[2] or f"stage-{len(stages)}"
            stages[current] = {"base": base, "instructions": []}
        elif current is not None:
            stages[current]["instructions"].append((keyword, rest.strip()))
    return stages


def stage_chain(stage: str) -> list[str]:
    """The stage and its ancestors, nearest first; the last item is the external base image."""
    stages = dockerfile_stages()
    chain = [stage]
    while chain[-1] in stages:
        chain.append(stages[chain[-1]]["base"])
    return chain


def effective_user(stage: str) -> str | None:
    stages = dockerfile_stages()
    for name in stage_chain(stage):
        users = [
            args
            for keyword, args in stages.get(name, {}).get("instructions", [])
            if keyword == "USER"
        ]
        if users:
            return users[-1]
    return None


def instructions(stage: str, keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_stages()[stage]["instructions"] if kw == keyword]


PROMQL_GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
PROMQL_WORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "by", "without"}


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (Grafana variables allowed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(PROMQL_GROUPING, "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+|ms|[smhdwy])?\b", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        if match[0].lower() not in PROMQL_WORDS:
            names.add(match[0])
    return names


@cache
def prometheus_config() -> dict:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())


@cache
def alert_rules() -> list[dict]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@cache
def dashboard() -> dict:
    return json.loads(
        (DEPLOY / "grafana" / "dashboards" / "saleschannel-overview.json").read_text()
    )


def dashboard_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


@cache
def k8s_objects() -> list[dict]:
    objects = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def k8s_object(kind: str, name: str) -> dict:
    found = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/k8s, found {len(found)}"
    return found[0]


def only_container(workload: dict) -> dict:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


# --------------------------------------------------------------------------------------------
# The service list itself
# --------------------------------------------------------------------------------------------


def test_service_discovery_finds_the_known_services():
    assert set(KNOWN_PORTS) <= set(SERVICES)
    assert SERVICES["catalog-sync"] == "catalog_sync"


def test_metric_name_extraction():
    expr = (
        'histogram_quantile(0.99, sum by (le, topic) (rate(a_bucket{x="y(z)"}[$__rate_interval])))'
    )
    assert metric_names(expr) == {"a_bucket"}
    assert metric_names("b > 1e3 and deriv(c[15m]) > 0 or up == 0") == {"b", "c", "up"}
    assert metric_names("sum(rate(foo_total[5m])) by (service)") == {"foo_total"}


# --------------------------------------------------------------------------------------------
# docker-compose.yml
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_builds_its_dockerfile_target(name):
    build = compose_service(name)["build"]
    assert build["context"] in (".", "./")
    assert build["target"] == name
    assert name in dockerfile_stages()


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_environment(name):
    env = env_of(compose_service(name))
    assert env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092"
    assert re.fullmatch(r"postgresql://[^@]+@postgres:5432/\w+", env.get("DATABASE_URL", ""))
    assert "HTTP_PORT" in env
    if name in KNOWN_PORTS:
        assert int(env["HTTP_PORT"]) == KNOWN_PORTS[name]
    if name == "catalog-sync":
        assert "CATALOG_SYNC_TARGETS" in env


def test_compose_service_ports_are_distinct():
    ports = [service_port(name) for name in SERVICE_NAMES]
    assert len(set(ports)) == len(ports)


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_publishes_its_port(name):
    port = service_port(name)
    published = [str(p) for p in compose_service(name).get("ports", [])]
    assert f"{port}:{port}" in published


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_waits_for_kafka_postgres_and_topics(name):
    assert depends_on_of(compose_service(name)) == {
        "kafka": "service_healthy",
        "postgres": "service_healthy",
        "topics-init": "service_completed_successfully",
    }


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_compose_service_healthcheck_probes_readyz_with_python(name):
    healthcheck = compose_service(name).get("healthcheck")
    assert healthcheck and not healthcheck.get("disable")
    test = healthcheck["test"]
    assert isinstance(test, list) and test[0] == "CMD"
    text = command_text(test[1:])
    assert test[1] == "python" and "urllib" in text and "/readyz" in text
    assert "curl" not in text and "wget" not in text
    assert "HTTP_PORT" in text or str(service_port(name)) in text


def test_kafka_runs_in_kraft_mode():
    services = compose()["services"]
    assert not any("zookeeper" in name.lower() for name in services)
    assert not any("zookeeper" in str(s.get("image", "")).lower() for s in services.values())
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:[34]\.\d+\.\d+", kafka["image"])
    env = env_of(kafka)
    assert not any("ZOOKEEPER" in key for key in env)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert "://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    assert kafka["healthcheck"]["test"]


def test_postgres_is_16_with_pg_isready_healthcheck():
    postgres = compose()["services"]["postgres"]
    assert re.fullmatch(r"postgres:16(\.\d+)*(-\S+)?", postgres["image"])
    assert "pg_isready" in command_text(postgres["healthcheck"]["test"])


def test_topics_init_creates_topics_once_kafka_is_healthy():
    topics = compose()["services"]["topics-init"]
    assert topics["build"]["target"] == "tools"
    assert "tools" in dockerfile_stages()
    command = command_text(topics["command"])
    assert "servicekit.topics create" in command and "--partitions" in command
    assert env_of(topics)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert depends_on_of(topics) == {"kafka": "service_healthy"}
    assert topics.get("restart", "no") == "no"


def test_compose_bind_mounts_exist():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_grafana_and_prometheus_mount_the_deploy_configs():
    def mounts(name):
        return {
            v.split(":")[0]: v.split(":")[1]
            for v in compose()["services"][name]["volumes"]
            if isinstance(v, str)
        }

    assert mounts("prometheus")["./deploy/prometheus"] == "/etc/prometheus"
    grafana = mounts("grafana")
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider_doc = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "saleschannel.yml").read_text()
    )
    provider_paths = {p["options"]["path"] for p in provider_doc["providers"]}
    assert grafana["./deploy/grafana/dashboards"] in provider_paths


# --------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_dockerfile_target_installs_and_runs_the_service(name):
    stages = dockerfile_stages()
    assert name in stages, f"Dockerfile has no target {name!r}"
    cmd = json.loads(instructions(name, "CMD")[-1])
    assert cmd == ["python", "-m", SERVICES[name]]
    sources = [
        re.search(r"--from=(\S+)", c)[1] for c in instructions(name, "COPY") if "--from=" in c
    ]
    syncs = [run for source in sources for run in instructions(source, "RUN") if "uv sync" in run]
    assert any(
        f"--package {name}" in run and "--frozen" in run and "--no-dev" in run for run in syncs
    ), f"target {name!r} copies no venv built with uv sync --frozen --no-dev --package {name}"


@pytest.mark.parametrize("target", [*SERVICE_NAMES, "tools"])
def test_dockerfile_targets_run_as_non_root_on_python_slim(target):
    user = effective_user(target)
    assert user is not None, f"target {target!r} sets no USER"
    assert user.split(":")[0] not in ("root", "0")
    assert stage_chain(target)[-1] == "python:3.11-slim"


def test_dockerfile_tools_target_has_servicekit():
    syncs = [
        run
        for source in (re.search(r"--from=(\S+)", c)[1] for c in instructions("tools", "COPY"))
        for run in instructions(source, "RUN")
    ]
    assert any("--package servicekit" in run for run in syncs)


# --------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service():
    targets = set()
    for job in prometheus_config()["scrape_configs"]:
        if job.get("metrics_path", "/metrics") != "/metrics":
            continue
        for static in job.get("static_configs", []):
            targets.update(static["targets"])
    for name in SERVICE_NAMES:
        assert f"{name}:{service_port(name)}" in targets


def test_prometheus_loads_the_rules_file():
    rule_files = prometheus_config()["rule_files"]
    assert all((DEPLOY / "prometheus" / f).is_file() for f in rule_files)
    assert "rules.yml" in rule_files


def test_alert_rules_cover_lag_outbox_dead_letters_and_down():
    rules = alert_rules()
    assert all(rule.get("alert") and rule.get("expr") for rule in rules)
    assert all(rule.get("annotations", {}).get("summary") for rule in rules)
    assert all(re.fullmatch(r"\d+[smh]", str(rule.get("for", "0s"))) for rule in rules)
    used = set().union(*(metric_names(rule["expr"]) for rule in rules))
    for metric in (
        "up",
        "saleschannel_consumer_lag",
        "saleschannel_outbox_backlog",
        "saleschannel_messages_dead_lettered_total",
    ):
        assert metric in used
    assert used <= ALLOWED_METRICS, used - ALLOWED_METRICS


# --------------------------------------------------------------------------------------------
# Grafana
# --------------------------------------------------------------------------------------------


def test_grafana_datasource_points_at_compose_prometheus():
    doc = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    (datasource,) = [d for d in doc["datasources"] if d["type"] == "prometheus"]
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    uids = {
        panel["datasource"]["uid"]
        for panel in dashboard()["panels"]
        if isinstance(panel.get("datasource"), dict)
    }
    assert uids == {datasource["uid"]}


def test_dashboard_uses_only_known_metrics():
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        unknown = metric_names(expr) - ALLOWED_METRICS
        assert not unknown, f"{expr}: unknown metrics {unknown}"
    for variable in dashboard().get("templating", {}).get("list", []):
        query = variable.get("definition") or ""
        for metric in re.findall(r"label_values\((\w+)\s*,", query):
            assert metric in ALLOWED_METRICS


def test_dashboard_covers_the_platform_metrics():
    exprs = dashboard_exprs()
    used = set().union(*(metric_names(e) for e in exprs))
    for metric in (
        "saleschannel_messages_handled_total",
        "saleschannel_messages_failed_total",
        "saleschannel_messages_dead_lettered_total",
        "saleschannel_handler_duration_seconds_bucket",
        "saleschannel_consumer_lag",
        "saleschannel_outbox_backlog",
    ):
        assert metric in used
    latency = [e for e in exprs if "saleschannel_handler_duration_seconds_bucket" in e]
    assert any("histogram_quantile(0.5," in e for e in latency)
    assert any("histogram_quantile(0.99," in e for e in latency)
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest():
    k8s = DEPLOY / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {
        str(p.relative_to(k8s)) for p in k8s.rglob("*.yaml") if p.name != "kustomization.yaml"
    }
    assert listed == on_disk


def test_every_deployment_has_liveness_and_readiness_probes():
    deployments = [o for o in k8s_objects() if o["kind"] == "Deployment"]
    assert len(deployments) >= len(SERVICE_NAMES)
    for deployment in deployments:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_k8s_deployment_and_service(name):
    deployment = k8s_object("Deployment", name)
    pod = deployment["spec"]["template"]
    container = only_container(deployment)
    port = service_port(name)
    assert container["image"].split(":")[0].endswith(f"/{name}")
    (container_port,) = container["ports"]
    assert container_port["containerPort"] == port
    named = {container_port.get("name"), port}
    assert container["livenessProbe"]["httpGet"]["port"] in named
    assert container["readinessProbe"]["httpGet"]["port"] in named
    assert container["resources"]["requests"].keys() >= {"cpu", "memory"}

    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    env = {e["name"]: e for e in container.get("env", [])}
    assert env["HTTP_PORT"]["value"] == str(port)
    secret_ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    secret = k8s_object("Secret", secret_ref["name"])
    assert secret_ref["key"] in {**secret.get("stringData", {}), **secret.get("data", {})}
    (config_ref,) = [s["configMapRef"]["name"] for s in container["envFrom"]]
    config = k8s_object("ConfigMap", config_ref)["data"]
    assert "KAFKA_BOOTSTRAP_SERVERS" in config
    if name == "catalog-sync":
        assert "CATALOG_SYNC_TARGETS" in config

    service = k8s_object("Service", name)
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    (service_port_spec,) = service["spec"]["ports"]
    assert service_port_spec["port"] == port
    assert service_port_spec["targetPort"] in named


def test_k8s_topics_job():
    jobs = [o for o in k8s_objects() if o["kind"] == "Job"]
    commands = [command_text(only_container(job).get("command")) for job in jobs]
    assert any("servicekit.topics create" in c and "--partitions" in c for c in commands)
    for job in jobs:
        container = only_container(job)
        assert container["image"].split(":")[0].endswith("/tools")
        assert container["envFrom"][0]["configMapRef"]["name"] == "saleschannel-config"
