"""Cosign signature checks with real ECDSA P-256 keys and cosign-format signatures.

The signatures are built as ``cosign sign --key`` stores them (SIGNATURE_SPEC): the payload
``cosign generate`` prints, signed over its SHA-256 with ECDSA P-256 (DER, base64) and kept
as an OCI manifest under ``sha256-<hex>.sig`` whose layer annotation carries the signature.
The registry is a fake of the catalog's client (``fetch``). When the ``cosign`` binary is on
the host, one test cross-checks: a key pair of ``cosign generate-key-pair`` and a signature
of ``cosign sign-blob`` over the payload of ``cosign generate`` verify here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient
from test_agent_fakes import TOKEN, FakeCatalog, FakeOps, fake_digest

from aidock.agent.app import create_app
from aidock.agent.config import AgentConfig, ConfigError
from aidock.agent.instances import InstanceManager
from aidock.agent.signatures import (
    MALFORMED,
    OTHER_DIGEST,
    OTHER_IMAGE,
    OTHER_KEY,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    TAMPERED,
    UNSIGNED,
    PublicKeyError,
    SignatureRefused,
    SignatureVerifier,
    load_public_key,
    signature_tag,
)

NS = "aidock"
REGISTRY = "registry.example.org:5000"
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def payload_of(ai: str, digest: str) -> bytes:
    """What ``cosign generate <registry>/<ns>/<ai>@<digest>`` prints (Go's compact JSON)."""
    doc = {
        "critical": {
            "identity": {"docker-reference": f"{REGISTRY}/{NS}/{ai}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    return base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


@dataclass
class Answer:
    status_code: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeRegistry:
    """The catalog's registry client in memory: manifests by repo and tag, blobs by digest."""

    namespace: str = NS
    manifests: dict[tuple[str, str], bytes] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def fetch(self, path: str, *, accept: str | None = None) -> Answer:
        self.paths.append(path)
        repo, kind, ref = path.removeprefix("/v2/").rsplit("/", 2)
        if kind == "manifests" and (repo, ref) in self.manifests:
            return Answer(200, self.manifests[(repo, ref)])
        if kind == "blobs" and ref in self.blobs:
            return Answer(200, self.blobs[ref])
        return Answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')

    def attach(self, ai: str, digest: str, layers: list[tuple[bytes, str]]) -> None:
        """Store signatures of ``digest`` as cosign does: (payload, base64 signature) each."""
        config = b'{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","os":""}'
        self.blobs[_digest(config)] = config
        descriptors = []
        for payload, signature in layers:
            self.blobs[_digest(payload)] = payload
            descriptors.append(
                {
                    "mediaType": SIMPLE_SIGNING,
                    "size": len(payload),
                    "digest": _digest(payload),
                    "annotations": {SIGNATURE_ANNOTATION: signature},
                }
            )
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": descriptors,
        }
        self.manifests[(f"{NS}/{ai}", signature_tag(digest))] = json.dumps(manifest).encode()

    def sign(self, key: ec.EllipticCurvePrivateKey, ai: str, digest: str) -> None:
        payload = payload_of(ai, digest)
        self.attach(ai, digest, [(payload, sign(key, payload))])


@pytest.fixture
def site_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def verifier(registry: FakeRegistry, site_key: ec.EllipticCurvePrivateKey) -> SignatureVerifier:
    return SignatureVerifier(registry, site_key.public_key())


def refusal(verifier: SignatureVerifier, ai: str = "rag", digest: str = DIGEST) -> SignatureRefused:
    with pytest.raises(SignatureRefused) as caught:
        verifier.require(ai, "0.1.0", digest)
    assert caught.value.status == 403
    assert f"{NS}/{ai}:0.1.0" in caught.value.message and digest in caught.value.message
    return caught.value


def test_signature_tag_follows_cosign() -> None:
    assert signature_tag(DIGEST) == "sha256-" + "a" * 64 + ".sig"


def test_a_valid_signature_verifies(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    registry.sign(site_key, "rag", DIGEST)
    found = verifier.require("rag", "0.1.0", DIGEST)
    assert found.digest == DIGEST
    assert found.payload["critical"]["image"]["docker-manifest-digest"] == DIGEST
    assert verifier.signed("rag", DIGEST)


def test_unsigned_is_refused(registry: FakeRegistry, verifier: SignatureVerifier) -> None:
    exc = refusal(verifier)
    assert exc.reason == UNSIGNED
    assert "unsigned" in exc.message and signature_tag(DIGEST) in exc.message
    assert not verifier.signed("rag", DIGEST)


def test_a_signature_of_another_key_is_refused(
    registry: FakeRegistry, verifier: SignatureVerifier
) -> None:
    registry.sign(ec.generate_private_key(ec.SECP256R1()), "rag", DIGEST)
    exc = refusal(verifier)
    assert exc.reason == OTHER_KEY
    assert "signed by another key" in exc.message


def test_a_signature_copied_from_another_digest_names_both(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    # Someone with registry credentials copies a valid .sig of OTHER to the tag of DIGEST.
    payload = payload_of("rag", OTHER)
    registry.attach("rag", DIGEST, [(payload, sign(site_key, payload))])
    exc = refusal(verifier)
    assert exc.reason == OTHER_DIGEST
    assert exc.signed_digest == OTHER
    assert OTHER in exc.message and DIGEST in exc.message


def test_a_signature_of_the_same_bytes_under_another_name_is_refused(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    # The site signed these bytes as "extraction"; copied with their .sig under "rag" they are
    # not an AI the site signed as rag.
    payload = payload_of("extraction", DIGEST)
    registry.attach("rag", DIGEST, [(payload, sign(site_key, payload))])
    exc = refusal(verifier)
    assert exc.reason == OTHER_IMAGE
    assert f"{NS}/extraction" in exc.message


def test_a_payload_without_an_identity_is_malformed(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    doc = json.loads(payload_of("rag", DIGEST))
    del doc["critical"]["identity"]
    payload = json.dumps(doc).encode()
    registry.attach("rag", DIGEST, [(payload, sign(site_key, payload))])
    assert refusal(verifier).reason == MALFORMED


def test_a_tampered_payload_blob_is_refused(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    registry.sign(site_key, "rag", DIGEST)
    blob = _digest(payload_of("rag", DIGEST))
    registry.blobs[blob] = payload_of("rag", OTHER)  # the registry serves other bytes
    exc = refusal(verifier)
    assert exc.reason == TAMPERED
    assert blob in exc.message


def test_a_signature_that_is_not_base64_is_refused(
    registry: FakeRegistry, verifier: SignatureVerifier
) -> None:
    registry.attach("rag", DIGEST, [(payload_of("rag", DIGEST), "not base64 at all!")])
    exc = refusal(verifier)
    assert exc.reason == MALFORMED
    assert "not base64" in exc.message


def test_one_valid_signature_among_several_suffices(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    payload = payload_of("rag", DIGEST)
    stranger = ec.generate_private_key(ec.SECP256R1())
    registry.attach(
        "rag",
        DIGEST,
        [(payload, sign(stranger, payload)), (payload, "%%%"), (payload, sign(site_key, payload))],
    )
    assert verifier.require("rag", "0.1.0", DIGEST).digest == DIGEST


def test_a_refusal_lists_every_signature_and_reports_the_most_telling(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    mine, stranger = payload_of("rag", OTHER), payload_of("rag", DIGEST)
    registry.attach(
        "rag",
        DIGEST,
        [
            (stranger, sign(ec.generate_private_key(ec.SECP256R1()), stranger)),
            (mine, sign(site_key, mine)),
        ],
    )
    exc = refusal(verifier)
    assert exc.reason == OTHER_DIGEST
    assert "signature 1: does not verify" in exc.message and "signature 2: it signs" in exc.message


def test_a_payload_of_another_type_is_refused(
    registry: FakeRegistry, verifier: SignatureVerifier, site_key: ec.EllipticCurvePrivateKey
) -> None:
    payload = payload_of("rag", DIGEST).replace(b"cosign container image signature", b"other")
    registry.attach("rag", DIGEST, [(payload, sign(site_key, payload))])
    assert refusal(verifier).reason == MALFORMED


def test_a_moved_tag_is_logged_with_both_digests(
    registry: FakeRegistry,
    verifier: SignatureVerifier,
    site_key: ec.EllipticCurvePrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.sign(site_key, "rag", DIGEST)
    verifier.require("rag", "0.1.0", DIGEST)
    caplog.set_level(logging.WARNING, "aidock.agent.signatures")
    exc = refusal(verifier, digest=OTHER)  # the tag now names an unsigned image
    assert exc.reason == UNSIGNED
    assert f"the tag pointed to {DIGEST}" in exc.message
    assert DIGEST in caplog.text and OTHER in caplog.text


def test_the_public_key_must_be_a_p256_pem(
    tmp_path: Path, site_key: ec.EllipticCurvePrivateKey
) -> None:
    good = tmp_path / "cosign.pub"
    good.write_bytes(
        site_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert load_public_key(good).public_numbers() == site_key.public_key().public_numbers()
    rsa_pem = tmp_path / "rsa.pub"
    rsa_pem.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key")
    for path, words in (
        (rsa_pem, "P-256"),
        (garbage, "not a PEM"),
        (tmp_path / "no", "cannot read"),
    ):
        with pytest.raises(PublicKeyError, match=words):
            load_public_key(path)
    assert issubclass(PublicKeyError, ConfigError)


# -- the start path and the API ------------------------------------------------------------


class SignedCatalog(FakeCatalog):
    """FakeCatalog whose registry also serves signatures (the catalog's ``fetch``)."""

    def __init__(self, registry: FakeRegistry) -> None:
        super().__init__()
        self.registry = registry
        self.namespace = NS

    def fetch(self, path: str, *, accept: str | None = None) -> Answer:
        return self.registry.fetch(path, accept=accept)


def test_an_unsigned_image_is_refused_before_any_pull(
    registry: FakeRegistry, site_key: ec.EllipticCurvePrivateKey
) -> None:
    config = AgentConfig(owner_id="unit", max_instances=2, start_timeout=1)
    ops = FakeOps(config)
    catalog = SignedCatalog(registry)
    manager = InstanceManager(
        config,
        ops,
        catalog,
        probe=lambda url, timeout: True,
        poll_interval=0.01,
        signatures=SignatureVerifier(catalog, site_key.public_key()),
    )
    with pytest.raises(SignatureRefused, match="unsigned"):
        manager.create("rag", "0.1.0")
    assert ops.runs == [] and ops.running() == []
    registry.sign(site_key, "rag", fake_digest("rag", "0.1.0"))
    instance = manager.create("rag", "0.1.0")
    assert instance.digest == fake_digest("rag", "0.1.0")
    ops.stop_all()


@pytest.fixture
def signed_client(
    tmp_path: Path, registry: FakeRegistry, site_key: ec.EllipticCurvePrivateKey
) -> FlaskClient:
    token, key = tmp_path / "token", tmp_path / "cosign.pub"
    token.write_text(TOKEN)
    key.write_bytes(
        site_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = AgentConfig(owner_id="unit", token_file=token, signature_public_key=key)
    catalog = SignedCatalog(registry)
    catalog.versions["rag"] = ["0.1.0", "0.2.0"]
    app = create_app(config, ops=FakeOps(config), catalog=catalog, init="manual")
    return app.test_client()


def test_the_api_refuses_an_unsigned_start_with_403_and_shows_signed(
    signed_client: FlaskClient, registry: FakeRegistry, site_key: ec.EllipticCurvePrivateKey
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    registry.sign(site_key, "rag", fake_digest("rag", "0.1.0"))
    resp = signed_client.post("/v1/instances", json={"ai": "rag", "version": "0.2.0"}, headers=auth)
    assert resp.status_code == 403
    body = resp.get_json()
    assert body["field"] == "version"
    assert "aidock/rag:0.2.0" in body["error"] and "unsigned" in body["error"]
    versions = signed_client.get("/v1/ais/rag", headers=auth).get_json()["versions"]
    assert {v["version"]: v["signed"] for v in versions} == {"0.1.0": True, "0.2.0": False}


def test_without_a_key_nothing_is_checked_and_signed_is_null(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    config = AgentConfig(owner_id="unit", token_file=token)
    app = create_app(config, ops=FakeOps(config), catalog=FakeCatalog(), init="manual")
    versions = (
        app.test_client()
        .get("/v1/ais/rag", headers={"Authorization": f"Bearer {TOKEN}"})
        .get_json()["versions"]
    )
    assert all(v["signed"] is None for v in versions)


# -- cross-check with the cosign binary ----------------------------------------------------


def _cosign(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "COSIGN_PASSWORD": "unit-test-password"}
    done = subprocess.run(
        ["cosign", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("cosign") is None, reason="the cosign binary is not installed")
def test_cosign_keys_and_signatures_verify_here(tmp_path: Path, registry: FakeRegistry) -> None:
    _cosign(tmp_path, "generate-key-pair")
    reference = f"{REGISTRY}/{NS}/rag@{DIGEST}"
    payload = _cosign(tmp_path, "generate", reference).strip().encode()  # offline for a digest
    assert json.loads(payload) == json.loads(payload_of("rag", DIGEST))
    (tmp_path / "payload.json").write_bytes(payload)
    _cosign(
        tmp_path, "sign-blob", "--key", "cosign.key", "--tlog-upload=false", "--yes",
        "--output-signature", "payload.sig", "payload.json",
    )  # fmt: skip
    signature = (tmp_path / "payload.sig").read_text().strip()
    registry.attach("rag", DIGEST, [(payload, signature)])
    verifier = SignatureVerifier(registry, load_public_key(tmp_path / "cosign.pub"))
    assert verifier.require("rag", "0.1.0", DIGEST).digest == DIGEST
    assert not verifier.signed("rag", OTHER)
