"""RegistryCatalog against a small in-process registry speaking the Distribution API subset.

The integration suite runs it against the real registry; here the registry is a fake so that
pagination, indexes, unusable images, a moved tag and a registry that goes away are cheap.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from aidock.agent.catalog import RegistryCatalog, _created
from aidock.agent.errors import (
    InvalidManifest,
    RegistryError,
    RegistryUnavailable,
    UnknownAi,
    UnknownVersion,
)
from aidock.schemas.manifest import AiManifest

MANIFEST = AiManifest(schema_version="categorization/v1", port=3000, memory="512m", pids=64)
V2 = "application/vnd.docker.distribution.manifest.v2+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeRegistry:
    """Repositories -> tags -> manifest bytes; blobs by digest. Counts requests."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    page: int = 2
    requests: int = 0
    user: tuple[str, str] = ("aidock", "secret")

    def push(self, repo: str, tag: str, labels: dict[str, str], *, index: bool = False) -> str:
        config = json.dumps(
            {"created": "2026-11-30T01:02:03.123456789Z", "config": {"Labels": labels}}
        ).encode()
        self.blobs[_digest(config)] = config
        image = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": V2,
                "config": {"digest": _digest(config), "size": len(config)},
                "layers": [{"digest": "sha256:" + "0" * 64, "size": 1000}],
            }
        ).encode()
        self.manifests[_digest(image)] = image
        top = image
        if index:
            top = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": INDEX,
                    "manifests": [
                        {
                            "digest": "sha256:" + "1" * 64,
                            "platform": {"os": "linux", "architecture": "arm64"},
                        },
                        {
                            "digest": _digest(image),
                            "platform": {"os": "linux", "architecture": "amd64"},
                        },
                    ],
                }
            ).encode()
            self.manifests[_digest(top)] = top
        self.tags.setdefault(repo, {})[tag] = _digest(top)
        return _digest(top)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.requests += 1
        req = Request(environ)
        resp = self.answer(req)
        return resp(environ, start_response)

    def answer(self, req: Request) -> Response:
        auth = req.authorization
        if auth is None or (auth.username, auth.password) != self.user:
            return Response(status=401)
        path = req.path
        if path == "/v2/_catalog":
            repos = sorted(self.tags)
            last = req.args.get("last", "")
            rest = [r for r in repos if r > last]
            chunk = rest[: self.page]
            resp = Response(json.dumps({"repositories": chunk}), content_type="application/json")
            if len(rest) > self.page:
                resp.headers["Link"] = f'</v2/_catalog?n={self.page}&last={chunk[-1]}>; rel="next"'
            return resp
        if path.endswith("/tags/list"):
            repo = path[len("/v2/") : -len("/tags/list")]
            if repo not in self.tags:
                return Response(json.dumps({"errors": [{"code": "NAME_UNKNOWN"}]}), status=404)
            return Response(json.dumps({"name": repo, "tags": sorted(self.tags[repo])}))
        repo, kind, ref = path[len("/v2/") :].rsplit("/", 2)
        if kind == "manifests":
            digest = self.tags.get(repo, {}).get(ref, ref)
            body = self.manifests.get(digest)
            if body is None:
                return Response(json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN"}]}), status=404)
            resp = Response(body, content_type=json.loads(body)["mediaType"])
            resp.headers["Docker-Content-Digest"] = digest
            return resp
        if kind == "blobs" and ref in self.blobs:
            return Response(self.blobs[ref], content_type="application/octet-stream")
        return Response(status=404)


@pytest.fixture
def registry() -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def catalog(url: str, **kwargs: Any) -> RegistryCatalog:
    return RegistryCatalog(url, "aidock", auth=lambda: ("aidock", "secret"), **kwargs)


def test_lists_ais_of_the_namespace_only(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    fake.push("aidock/mycat", "2", MANIFEST.to_labels(), index=True)
    fake.push("aidock/mycat", "sha256-abc.sig", {})
    fake.push("aidock/rag", "0.1.0", {**MANIFEST.to_labels(), "ai.aidock.port": "5001"})
    fake.push("aidock-platform/agent", "0.1.0", {})
    fake.push("aidock/nested/thing", "1", MANIFEST.to_labels())
    fake.push("other/mycat", "1", MANIFEST.to_labels())
    entries = catalog(url).list()
    assert [e.name for e in entries] == ["mycat", "rag"]  # catalog read over 4 pages
    mycat = entries[0]
    assert sorted(v.tag for v in mycat.versions) == ["1", "2"]
    for version in mycat.versions:
        assert version.usable
        assert version.manifest == MANIFEST
        assert version.digest.startswith("sha256:")
        assert version.size > 1000
        assert version.created is not None and version.created.year == 2026
    assert entries[1].versions[0].manifest is not None
    assert entries[1].versions[0].manifest.port == 5001


def test_unusable_version_is_listed_with_the_label(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    labels = MANIFEST.to_labels()
    del labels["ai.aidock.port"]
    fake.push("aidock/broken", "1", labels)
    fake.push("aidock/plain", "1", {"org.opencontainers.image.title": "x"})
    cat = catalog(url)
    by_name = {e.name: e for e in cat.list()}
    broken = by_name["broken"].versions[0]
    assert not broken.usable
    assert broken.problem is not None and broken.problem.label == "ai.aidock.port"
    with pytest.raises(InvalidManifest) as err:
        cat.resolve("broken", "1")
    assert err.value.status == 422
    assert err.value.label == "ai.aidock.port"
    assert "ai.aidock.port" in err.value.message
    with pytest.raises(InvalidManifest) as err:
        cat.resolve("plain", "1")
    assert err.value.label == "ai.aidock.manifest"


def test_unknown_version_lists_versions_and_unknown_ai_lists_ais(
    registry: tuple[FakeRegistry, str],
) -> None:
    fake, url = registry
    fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    fake.push("aidock/mycat", "2", MANIFEST.to_labels())
    cat = catalog(url)
    with pytest.raises(UnknownVersion) as err:
        cat.resolve("mycat", "9")
    assert err.value.status == 404
    assert "versions: 1, 2" in err.value.message
    assert err.value.field == "version"
    with pytest.raises(UnknownAi) as unknown:
        cat.resolve("nosuch", "1")
    assert unknown.value.status == 404
    assert "the catalog has: mycat" in unknown.value.message


def test_new_push_is_resolvable_at_once_and_listed_after_the_ttl(
    registry: tuple[FakeRegistry, str],
) -> None:
    fake, url = registry
    now = [0.0]
    fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    cat = catalog(url, ttl=5.0, clock=lambda: now[0])
    assert [v.tag for v in cat.list()[0].versions] == ["1"]
    fake.push("aidock/mycat", "2", MANIFEST.to_labels())
    assert cat.resolve("mycat", "2").tag == "2"  # start requests never wait for the TTL
    assert [v.tag for v in cat.list()[0].versions] == ["1"]  # cached listing
    now[0] = 5.1
    assert sorted(v.tag for v in cat.list()[0].versions) == ["1", "2"]


def test_moved_tag_resolves_to_the_new_digest(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    first = fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    cat = catalog(url)
    assert cat.resolve("mycat", "1").digest == first
    moved = fake.push("aidock/mycat", "1", {**MANIFEST.to_labels(), "ai.aidock.pids": "128"})
    again = cat.resolve("mycat", "1")
    assert again.digest == moved != first
    assert again.manifest is not None and again.manifest.pids == 128


def test_warm_listing_asks_the_registry_nothing(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    for n in range(5):
        fake.push(f"aidock/ai{n}", "1", MANIFEST.to_labels())
    cat = catalog(url, ttl=60)
    cat.list()
    before = fake.requests
    cat.list()
    assert fake.requests == before


def test_wrong_credentials_are_a_registry_error(registry: tuple[FakeRegistry, str]) -> None:
    fake, url = registry
    fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    cat = RegistryCatalog(url, "aidock", auth=lambda: ("aidock", "wrong"))
    with pytest.raises(RegistryError, match="refused the agent's credentials") as err:
        cat.list()
    assert err.value.status == 502


def test_registry_down_is_503_with_a_message() -> None:
    cat = RegistryCatalog("http://127.0.0.1:9", "aidock", timeout=1.0)
    with pytest.raises(RegistryUnavailable, match="not reachable") as err:
        cat.list()
    assert err.value.status == 503
    with pytest.raises(RegistryUnavailable):
        cat.resolve("mycat", "1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T01:19:32.111294875Z", "2026-11-30T01:19:32.111294+00:00"),
        ("2026-11-30T01:19:32Z", "2026-11-30T01:19:32+00:00"),
        ("2026-11-30T01:19:32.5+02:00", "2026-11-30T01:19:32.500000+02:00"),
        ("2026-11-30T01:19:32", "2026-11-30T01:19:32+00:00"),
    ],
)
def test_created_times_are_timezone_aware(text: str, expected: str) -> None:
    assert _created(text) is not None
    assert _created(text).isoformat() == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("text", [None, "", "yesterday", 5])
def test_unreadable_created_times_are_none(text: object) -> None:
    assert _created(text) is None


def test_listing_rereads_tags_each_ttl_and_digests_each_digest_ttl(
    registry: tuple[FakeRegistry, str],
) -> None:
    fake, url = registry
    now = [0.0]
    first = fake.push("aidock/mycat", "1", MANIFEST.to_labels())
    cat = catalog(url, ttl=5.0, clock=lambda: now[0])
    assert cat.list()[0].versions[0].digest == first
    moved = fake.push("aidock/mycat", "1", {**MANIFEST.to_labels(), "ai.aidock.pids": "99"})
    fake.push("aidock/mycat", "2", {**MANIFEST.to_labels(), "ai.aidock.pids": "98"})
    now[0] = 6.0  # listing expired: the new tag shows, the known tag keeps its digest
    before = fake.requests
    versions = {v.tag: v for v in cat.list()[0].versions}
    assert set(versions) == {"1", "2"} and versions["1"].digest == first
    assert fake.requests - before == 1 + 1 + 2  # catalog, tags, manifest + config of the new tag
    assert cat.entry("mycat").versions[-1].digest == moved  # a named AI is read now
    now[0] = 31.0  # past digest_ttl (6 x ttl)
    versions = {v.tag: v for v in cat.list()[0].versions}
    assert versions["1"].digest == moved
