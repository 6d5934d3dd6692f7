"""The agent API with Docker faked: auth, refusals, errors, lifecycle, metrics, OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from test_agent_fakes import SITE_AIS, TOKEN, FakeCatalog, FakeOps

from aidock.agent.app import create_app, get_manager
from aidock.agent.config import AgentConfig, ConfigError
from aidock.agent.errors import ImageNotFound, RegistryError, RegistryUnavailable
from aidock.cli import EXIT_USAGE, main
from aidock.schemas.agent import AiList, InstanceOut
from aidock.schemas.manifest import ManifestError

AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAG = {"ai": "rag", "version": "0.1.0"}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def config(token_file: Path) -> AgentConfig:
    return AgentConfig(owner_id="unit", token_file=token_file, max_instances=2, start_timeout=5)


@pytest.fixture
def ops(config: AgentConfig) -> FakeOps:
    return FakeOps(config)


class Probe:
    """Readiness answers: ready unless told otherwise."""

    def __init__(self) -> None:
        self.ready = True
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float) -> bool:
        self.urls.append(url)
        return self.ready


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog()


def make(
    config: AgentConfig, ops: FakeOps, probe: Probe, catalog: FakeCatalog | None = None
) -> Flask:
    catalog = catalog or FakeCatalog()
    app = create_app(config, ops=ops, catalog=catalog, probe=probe, reaper=False)
    get_manager(app).poll_interval = 0.01
    return app


@pytest.fixture
def client(config: AgentConfig, ops: FakeOps, probe: Probe, catalog: FakeCatalog) -> FlaskClient:
    return make(config, ops, probe, catalog).test_client()


def start(client: FlaskClient, **body: Any) -> Any:
    return client.post("/v1/instances", json=body or RAG, headers=AUTH)


def test_open_endpoints(client: FlaskClient, ops: FakeOps) -> None:
    assert ops.networks == 1  # the manager started: network ensured, adoption ran
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json == {"status": "ok", "docker": True, "instances": 0, "owner_id": "unit"}
    metrics = client.get("/metrics")
    assert metrics.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE aidock_agent_instances_running gauge" in metrics.text
    spec = client.get("/openapi.json").json
    assert spec["openapi"] == "3.1.0"
    assert {"/v1/instances", "/v1/instances/{instance_id}", "/metrics"} <= set(spec["paths"])
    assert "InstanceRequest" in spec["components"]["schemas"]
    assert spec["paths"]["/v1/instances"]["post"]["responses"]["429"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer nope"},
    ],
)
def test_v1_needs_the_bearer_token(
    client: FlaskClient, ops: FakeOps, headers: dict[str, str]
) -> None:
    for method, path in [("POST", "/v1/instances"), ("GET", "/v1/instances"), ("GET", "/v1/x")]:
        resp = client.open(path, method=method, json=RAG, headers=headers)
        assert resp.status_code == 401, (method, path)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in resp.json["error"]
    assert ops.runs == []


def test_full_lifecycle(client: FlaskClient, ops: FakeOps, probe: Probe) -> None:
    resp = start(client)
    assert resp.status_code == 201, resp.json
    body = InstanceOut.model_validate(resp.json)
    assert resp.headers["Location"] == f"/v1/instances/{body.id}"
    assert body.endpoint == "http://127.0.0.1:40001"
    assert body.schema_version == "rag/v1"
    assert body.image == "localhost:5000/aidock/rag:0.1.0"
    assert body.container == f"aidock-ai-rag-{body.id}"
    assert body.idle_ttl == 900
    assert re.fullmatch(r"[0-9a-f]{12}", body.id)
    assert probe.urls[-1] == "http://127.0.0.1:40001/readyz"

    listed = client.get("/v1/instances", headers=AUTH).json
    assert [i["id"] for i in listed["instances"]] == [body.id]
    assert listed["max_instances"] == 2
    assert client.get(f"/v1/instances/{body.id}", headers=AUTH).json["endpoint"] == body.endpoint

    assert client.delete(f"/v1/instances/{body.id}", headers=AUTH).status_code == 204
    assert ops.containers == {}
    assert ops.removed == [body.container]
    again = client.delete(f"/v1/instances/{body.id}", headers=AUTH)
    assert (again.status_code, again.json["field"]) == (404, "id")
    assert client.get(f"/v1/instances/{body.id}", headers=AUTH).status_code == 404


def test_scaling_a_container_that_vanished_is_404(client: FlaskClient, ops: FakeOps) -> None:
    # Issue 14: replicas 1 of a container removed behind the agent's back answered 422
    # ("needs the swarm backend"); the count is judged once, by the manager, before Docker.
    body = start(client).json
    path = f"/v1/instances/{body['id']}"
    assert client.patch(path, json={"replicas": 1}, headers=AUTH).status_code == 200
    more = client.patch(path, json={"replicas": 2}, headers=AUTH)
    assert (more.status_code, more.json["field"]) == (422, "replicas")
    assert "needs the swarm backend" in more.json["error"]
    ops.containers.clear()  # removed behind the agent's back
    gone = client.patch(path, json={"replicas": 1}, headers=AUTH)
    assert (gone.status_code, gone.json["field"]) == (404, "id"), gone.json
    assert "no longer exists" in gone.json["error"]


def test_containers_are_run_hardened(client: FlaskClient, ops: FakeOps) -> None:
    assert start(client).status_code == 201
    kwargs = ops.kwargs[0]
    assert kwargs["user"] == "10001:10001"
    assert kwargs["read_only"] is True
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["security_opt"] == ["no-new-privileges:true"]
    assert kwargs["privileged"] is False
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == "1g"
    assert kwargs["nano_cpus"] == 1_000_000_000
    assert kwargs["pids_limit"] == 256
    assert kwargs["tmpfs"]["/data"] == "uid=10001,gid=10001,mode=0700,size=256m"
    assert kwargs["network"] == "aidock-ai"
    assert kwargs["ports"] == {"5001/tcp": ("127.0.0.1", None)}
    labels = kwargs["labels"]
    assert labels["ai.aidock.owner"] == "unit"
    assert (labels["ai.aidock.ai"], labels["ai.aidock.version"]) == ("rag", "0.1.0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels["ai.aidock.started-at"])


def test_network_mode_hands_out_the_container_name(token_file: Path, probe: Probe) -> None:
    config = AgentConfig(owner_id="unit", token_file=token_file, endpoint_mode="network")
    ops = FakeOps(config)
    client = make(config, ops, probe).test_client()
    body = start(client, ai="extraction", version="1.0").json
    assert body["endpoint"] == f"http://aidock-ai-extraction-{body['id']}:3000"
    assert "ports" not in ops.kwargs[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ai": "evil.example.com/aidock/rag", "version": "0.1.0"}, "ai"),
        ({"ai": "localhost:5000/other/rag", "version": "0.1.0"}, "ai"),
        ({"ai": "../../rag", "version": "0.1.0"}, "ai"),
        ({"ai": "rag", "version": "0.1.0@sha256:0123"}, "version"),
        ({"ai": "rag", "version": "x/../../y"}, "version"),
    ],
)
def test_images_outside_the_namespace_are_forbidden(
    client: FlaskClient, ops: FakeOps, body: dict[str, str], field: str
) -> None:
    resp = start(client, **body)
    assert (resp.status_code, resp.json["field"]) == (403, field)
    assert "outside localhost:5000/aidock/" in resp.json["error"]
    assert ops.runs == []


def test_unknown_ai_is_404(client: FlaskClient) -> None:
    resp = start(client, ai="ocr", version="1.0")
    assert (resp.status_code, resp.json["field"]) == (404, "ai")
    assert "unknown AI 'ocr'" in resp.json["error"]


def test_unknown_version_is_404_listing_the_versions(
    client: FlaskClient, catalog: FakeCatalog, ops: FakeOps
) -> None:
    catalog.versions["rag"] = ["0.1.0", "0.2.0"]
    resp = start(client, ai="rag", version="9")
    assert (resp.status_code, resp.json["field"]) == (404, "version")
    assert "versions: 0.1.0, 0.2.0" in resp.json["error"]
    assert ops.runs == []


def test_image_without_a_valid_manifest_is_422_naming_the_label(
    client: FlaskClient, catalog: FakeCatalog, ops: FakeOps
) -> None:
    catalog.ais["plain"] = ManifestError("ai.aidock.port", "missing")
    resp = start(client, ai="plain", version="1")
    assert resp.status_code == 422
    assert "label ai.aidock.port: missing" in resp.json["error"]
    assert ops.runs == []
    listed = {a["name"]: a for a in client.get("/v1/ais", headers=AUTH).json["ais"]}
    version = listed["plain"]["versions"][0]
    assert version["usable"] is False and version["label"] == "ai.aidock.port"


def test_registry_down_is_503_and_the_agent_stays_healthy(
    client: FlaskClient, catalog: FakeCatalog, ops: FakeOps
) -> None:
    catalog.error = RegistryUnavailable("the registry https://r:5000 is not reachable: refused")
    for resp in (start(client), client.get("/v1/ais", headers=AUTH)):
        assert resp.status_code == 503
        assert "not reachable" in resp.json["error"]
        assert resp.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200
    catalog.error = None
    assert start(client).status_code == 201


def test_ais_lists_the_catalog(client: FlaskClient) -> None:
    assert client.get("/v1/ais").status_code == 401
    body = AiList.model_validate(client.get("/v1/ais", headers=AUTH).json)
    assert body.namespace == "aidock"
    assert [a.name for a in body.ais] == ["categorization", "extraction", "rag"]
    rag = body.ais[2].versions[0]
    assert (rag.version, rag.usable, rag.schema_version, rag.port) == (
        "0.1.0",
        True,
        "rag/v1",
        5001,
    )
    one = client.get("/v1/ais/rag", headers=AUTH)
    assert one.status_code == 200 and one.json["name"] == "rag"
    assert client.get("/v1/ais/ocr", headers=AUTH).status_code == 404
    assert client.get("/v1/ais/..", headers=AUTH).status_code == 403


def test_the_image_runs_by_the_digest_the_registry_named(client: FlaskClient, ops: FakeOps) -> None:
    body = start(client).json
    assert body["digest"].startswith("sha256:")
    assert ops.runs[0].image == f"localhost:5000/aidock/rag@{body['digest']}"
    assert body["image"] == "localhost:5000/aidock/rag:0.1.0"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": "0.1.0"}, 422, "ai"),
        ({"ai": "rag"}, 422, "version"),
        ({"ai": "rag", "version": 1}, 422, "version"),
        ({"ai": 5, "version": "1"}, 422, "ai"),
        ({"ai": "", "version": "1"}, 422, "ai"),
        ({"ai": "rag", "version": "1", "image": "x"}, 422, "image"),
        ({"ai": "rag", "version": "-bad"}, 422, "version"),
        ([1, 2], 422, None),
    ],
)
def test_malformed_bodies_name_the_field(
    client: FlaskClient, body: Any, status: int, field: str | None
) -> None:
    resp = client.post("/v1/instances", json=body, headers=AUTH)
    assert (resp.status_code, resp.json["field"]) == (status, field)
    if field:
        assert resp.json["error"].startswith(f"{field}:")


def test_non_json_bodies(client: FlaskClient) -> None:
    resp = client.post("/v1/instances", data="{", content_type="application/json", headers=AUTH)
    assert resp.status_code == 400 and "invalid JSON" in resp.json["error"]
    resp = client.post("/v1/instances", data="ai=rag", headers=AUTH)
    assert resp.status_code == 415
    resp = client.post("/v1/instances", data="", content_type="application/json", headers=AUTH)
    assert resp.status_code == 400
    big = client.post("/v1/instances", json={"ai": "x" * 20_000}, headers=AUTH)
    assert big.status_code == 413


def test_max_instances_answers_429_then_frees_dead_slots(client: FlaskClient, ops: FakeOps) -> None:
    first, second = start(client), start(client)
    assert (first.status_code, second.status_code) == (201, 201)
    third = start(client)
    assert third.status_code == 429
    assert "max_instances (2) reached" in third.json["error"]
    assert third.headers["Retry-After"] == "5"
    container = next(c for c in ops.containers.values() if c.name == first.json["container"])
    ops.kill(container.id)  # its slot frees once the agent sees it died
    assert start(client).status_code == 201
    assert first.json["container"] in ops.removed


def test_start_timeout_removes_the_container(
    client: FlaskClient, ops: FakeOps, probe: Probe, config: AgentConfig
) -> None:
    probe.ready = False
    manager = get_manager(client.application)
    manager.config = config.model_copy(update={"start_timeout": 0.2})
    resp = start(client)
    assert resp.status_code == 504
    assert "not ready within 0.2s" in resp.json["error"]
    assert ops.containers == {} and len(ops.removed) == 1
    assert manager.list() == []
    metrics = client.get("/metrics").text
    assert (
        'aidock_agent_instance_start_failures_total{ai="rag",reason="start_timeout"} 1' in metrics
    )


def test_ai_start_timeout_overrides_the_default(token_file: Path, probe: Probe) -> None:
    config = AgentConfig(token_file=token_file, start_timeout=600)
    slow = SITE_AIS["rag"].model_copy(update={"start_timeout": 0.1})
    catalog = FakeCatalog({"slow": slow})
    probe.ready = False
    resp = start(
        make(config, FakeOps(config), probe, catalog).test_client(), ai="slow", version="1"
    )
    assert resp.status_code == 504 and "within 0.1s" in resp.json["error"]


def test_container_exiting_during_start_is_502_with_its_logs(
    client: FlaskClient, ops: FakeOps
) -> None:
    ops.exit_on_start = True
    resp = start(client)
    assert resp.status_code == 502
    assert "exited (exit code 1) before it was ready" in resp.json["error"]
    assert "fake: cannot open /data" in resp.json["error"]
    assert ops.containers == {}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ImageNotFound("version: the registry has no image x", "version"), 404),
        (RegistryError("the registry localhost:5000 is not reachable: refused"), 502),
    ],
)
def test_registry_errors(client: FlaskClient, ops: FakeOps, error: Exception, status: int) -> None:
    ops.images["localhost:5000/aidock/rag:0.1.0"] = error
    resp = start(client)
    assert resp.status_code == status
    assert resp.json["error"] == str(error)
    assert ops.runs == []


def test_metrics_after_activity(client: FlaskClient) -> None:
    created = start(client).json
    start(client, ai="nope", version="1")
    text = client.get("/metrics").text
    assert 'aidock_agent_instances_running{ai="rag"} 1' in text
    assert 'aidock_agent_instance_starts_total{ai="rag"} 1' in text
    assert 'aidock_agent_instance_start_seconds_count{ai="rag"} 1' in text
    assert "aidock_agent_max_instances 2" in text
    client.delete(f"/v1/instances/{created['id']}", headers=AUTH)
    text = client.get("/metrics").text
    assert 'aidock_agent_instance_terminations_total{ai="rag",reason="request"} 1' in text
    for line in text.splitlines():
        assert line.startswith("# ") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? [0-9.e+-]+", line), line


def test_a_missing_token_file_fails_at_startup(tmp_path: Path, ops: FakeOps) -> None:
    with pytest.raises(ConfigError, match="token_file"):
        create_app(AgentConfig(token_file=tmp_path / "none"), ops=ops, catalog=FakeCatalog())


def test_healthz_degraded_when_docker_does_not_answer(client: FlaskClient, ops: FakeOps) -> None:
    ops.ping = lambda: False  # type: ignore[attr-defined]
    resp = client.get("/healthz")
    assert resp.status_code == 503 and resp.json["status"] == "degraded"


def test_a_dockerd_restart_seen_through_the_api(
    config: AgentConfig, ops: FakeOps, probe: Probe
) -> None:
    app = make(config, ops, probe)
    client = app.test_client()
    first, second = start(client).json, start(client).json
    ops.docker_up = False  # dockerd restarts; the AIs keep running (live-restore)
    health = client.get("/healthz")
    assert (health.status_code, health.json["docker"]) == (503, False)
    assert client.get(f"/v1/instances/{first['id']}", headers=AUTH).status_code == 200
    assert start(client).status_code == 503
    gone = client.delete(f"/v1/instances/{second['id']}", headers=AUTH)
    assert gone.status_code == 503 and gone.headers["Retry-After"] == "5"
    assert "removed as soon as Docker answers again" in gone.json["error"]
    listed = client.get("/v1/instances", headers=AUTH).json["instances"]
    assert [i["id"] for i in listed] == [first["id"]]

    ops.docker_up = True
    assert get_manager(app).check_docker() is True  # what the supervisor does every 2 s
    assert client.get("/healthz").status_code == 200
    assert client.delete(f"/v1/instances/{second['id']}", headers=AUTH).status_code == 404
    assert [c.name for c in ops.containers.values()] == [first["container"]]


def test_unknown_routes_and_methods(client: FlaskClient) -> None:
    assert client.get("/nope").status_code == 404
    resp = client.put("/v1/instances", headers=AUTH, json=RAG)
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]


def test_serve_command_reports_bad_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "agent.json"
    bad.write_text('{"max_instances": 0}')
    assert main(["agent", "serve", "--config", str(bad)]) == EXIT_USAGE
    assert "max_instances" in capsys.readouterr().err
    no_token = tmp_path / "ok.json"
    no_token.write_text("{}")
    assert main(["agent", "serve", "--config", str(no_token)]) == EXIT_USAGE
    assert "token_file: not set" in capsys.readouterr().err
    assert main(["agent"]) == EXIT_USAGE
