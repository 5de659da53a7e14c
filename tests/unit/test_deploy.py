"""The deployment files (issue 13, item 5) are valid and say what the README promises.

- deploy/k8s/*.yaml: every document validated by `kubernetes-validate` (schemas bundled in the
  wheel, strict: an unknown field fails) for Kubernetes 1.28; probes on the real health routes,
  resource requests on every container, secrets only from the Secret object.
- deploy/compose.yml: validated against the Compose Specification JSON schema vendored in
  deploy/schema/compose-spec.json (from the docker-compose 1.29.2 wheel), with jsonschema; the
  production-like set of services, only the router published.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.28.0"
SECRET_NAMES = re.compile(r"(SECRET|TOKEN|KEY|PASSWORD|_URL$)")
# The health routes each process really serves (checked below against the code).
HEALTH = {"rasa": "/", "actions": "/health", "web": "/healthz"}


def k8s_documents() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def deployments() -> dict[str, dict]:
    return {d["metadata"]["name"].removeprefix("xiaoan-"): d for d in k8s_documents() if d["kind"] == "Deployment"}


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))


def compose_validator() -> jsonschema.Draft201909Validator:
    schema = json.loads((DEPLOY / "schema" / "compose-spec.json").read_text(encoding="utf-8"))
    return jsonschema.Draft201909Validator(schema)


# --- Kubernetes ----------------------------------------------------------------------------------


def test_every_kubernetes_document_passes_strict_schema_validation():
    docs = k8s_documents()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Secret", "ConfigMap", "Job", "Ingress"}
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("breakage", ["unknown field", "wrong type", "missing selector"])
def test_the_validator_rejects_a_broken_deployment(breakage):
    broken = copy.deepcopy(deployments()["rasa"])
    if breakage == "unknown field":
        broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/"}
    elif breakage == "wrong type":
        broken["spec"]["replicas"] = "two"
    else:
        del broken["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_rasa_actions_and_web_run_two_replicas_with_probes_on_their_health_routes():
    deps = deployments()
    assert set(deps) == {"rasa", "actions", "web", "outbox"}
    for name, path in HEALTH.items():
        dep = deps[name]
        assert dep["spec"]["replicas"] >= 2, name
        container = dep["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == path, (name, probe)


def test_the_probed_routes_are_real():
    from xiaoan.action_server import OPEN_PATHS
    from xiaoan.web import app as web_app

    assert HEALTH["actions"] in OPEN_PATHS  # served without the action secret
    assert '@app.get("/healthz")' in Path(web_app.__file__).read_text(encoding="utf-8")
    # Rasa's server answers GET / ("Hello from Rasa") once the model is loaded
    import rasa.server

    assert 'app.get("/")' in Path(rasa.server.__file__).read_text(encoding="utf-8")


def test_every_container_requests_cpu_and_memory_and_limits_memory():
    for name, dep in deployments().items():
        for container in dep["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
    rasa = deployments()["rasa"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert rasa["requests"]["memory"].endswith(("Mi", "Gi"))


def test_secrets_come_only_from_the_secret_object():
    docs = k8s_documents()
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert [k for k in config["data"] if SECRET_NAMES.search(k) and k not in ("XIAOAN_RASA_URL", "XIAOAN_ACTION_URL")] == []
    for key in ("XIAOAN_RASA_TOKEN", "XIAOAN_REST_SECRET", "XIAOAN_ACTION_SECRET", "XIAOAN_DATA_KEY",
                "DATABASE_URL", "XIAOAN_TRACKER_STORE_URL", "XIAOAN_LOCK_STORE_URL"):
        assert key in secret["stringData"], key
    for dep in deployments().values():
        for container in dep["spec"]["template"]["spec"]["containers"]:
            assert {"secretRef": {"name": secret["metadata"]["name"]}} in container["envFrom"]
            assert not [e for e in container.get("env", []) if SECRET_NAMES.search(e["name"]) and "value" in e]


# --- Compose -------------------------------------------------------------------------------------


def test_the_compose_file_is_valid_against_the_compose_specification():
    errors = sorted(compose_validator().iter_errors(compose()), key=str)
    assert [e.message for e in errors] == []


@pytest.mark.parametrize("breakage", ["unknown service key", "ports not a list", "bad service name"])
def test_the_compose_schema_rejects_a_broken_file(breakage):
    broken = copy.deepcopy(compose())
    if breakage == "unknown service key":
        broken["services"]["redis"]["replicaz"] = 2
    elif breakage == "ports not a list":
        broken["services"]["router"]["ports"] = {"8000": "8000"}
    else:
        broken["services"]["web 3"] = {"image": "xiaoan:latest"}
    assert list(compose_validator().iter_errors(broken))


def test_compose_runs_the_production_like_stack_behind_one_published_router():
    services = compose()["services"]
    expected = {"rasa-1", "rasa-2", "actions-1", "actions-2", "web-1", "web-2", "outbox", "router",
                "postgres", "redis", "rabbitmq", "migrate"}
    assert set(services) == expected
    assert [name for name, s in services.items() if s.get("ports")] == ["router"]
    for name in ("rasa-1", "actions-2", "web-1"):
        env = services[name]["environment"]
        assert env["XIAOAN_ENV"] == "production"
        assert env["XIAOAN_LOCK_STORE_URL"].startswith("redis://")
        assert "healthcheck" in services[name]
    router_conf = (DEPLOY / "router.conf").read_text(encoding="utf-8")
    for upstream in ("web-1:8000", "web-2:8000", "rasa-1:5005", "rasa-2:5005", "actions-1:5055", "actions-2:5055"):
        assert upstream in router_conf
    # no secret is written into the compose file itself: they come from deploy/xiaoan.env
    text = (DEPLOY / "compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"(PASSWORD|SECRET|TOKEN|DATA_KEY)\w*:\s*\S", text)


def test_web_actions_and_outbox_share_one_attachments_volume():
    """An attachment is uploaded by a web app, linked to its ticket by an action server and sent by the
    outbox worker: on several replicas they must all see the same files."""
    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")
    mount_path = config["data"]["XIAOAN_ATTACHMENTS_DIR"]
    claims = [d["metadata"]["name"] for d in k8s_documents() if d["kind"] == "PersistentVolumeClaim"]
    assert claims == ["xiaoan-attachments"]
    for name in ("actions", "web", "outbox"):
        pod = deployments()[name]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        claim_volume = next(v for v in volumes.values() if v.get("persistentVolumeClaim", {}).get("claimName") == claims[0])
        mounts = pod["containers"][0]["volumeMounts"]
        assert {"name": claim_volume["name"], "mountPath": mount_path} in mounts, name
    services = compose()["services"]
    for name in ("web-1", "actions-2", "outbox"):
        assert services[name]["environment"]["XIAOAN_ATTACHMENTS_DIR"] == "/srv/attachments"
        assert "attachments:/srv/attachments" in services[name]["volumes"]
    assert "attachments" in compose()["volumes"]
