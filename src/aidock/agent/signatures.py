"""Cosign signatures of the site's images, verified by the agent before it runs one.

The build host signs every image it pushes with the site key (``cosign sign --key
--tlog-upload=false <image>@<digest>``, roles/signing). Cosign stores the signature in the
registry under the tag scheme of its SIGNATURE_SPEC (Distribution 2.8 has no referrers API):
``<repo>:sha256-<hex>.sig`` is an OCI image manifest whose layers are simple-signing payloads
(``application/vnd.dev.cosign.simplesigning.v1+json``), each with its base64 signature in the
layer annotation ``dev.cosignproject.cosign/signature``. A signature is ECDSA P-256 over the
SHA-256 of the payload bytes (ASN.1 DER), and the payload names the digest it vouches for in
``critical.image.docker-manifest-digest``, with ``critical.type`` ``cosign container image
signature``.

``SignatureVerifier.require`` reads that manifest through the catalog's registry client (its
credentials, CA and retries), fetches each payload blob and checks its digest, verifies the
signature with the site's public key (cosign's ``cosign.pub``: a PEM SubjectPublicKeyInfo) and
then the payload's digest and type. One valid signature suffices (cosign's rule); otherwise
``SignatureRefused`` (403) names the image, the digest and the reason. Nothing is cached: a
signature removed from the registry stops the next start, and the cost is two small registry
requests and one ECDSA verification.

Not sigstore-python: it is built around keyless signing (Fulcio certificates, Rekor inclusion
proofs, TUF trust roots fetched online) and bundles, not cosign's key-based ``.sig`` tags read
from a private registry offline. Not the ``cosign`` binary: the agent image has none (a 100 MB
Go binary and a subprocess per start), and the ~150 lines below use ``cryptography``, which
the agent already ships.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aidock.agent.config import ConfigError
from aidock.agent.errors import AgentError, RegistryError

log = logging.getLogger(__name__)

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_TYPE = "cosign container image signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MAX_SIGNATURES = 16  # layers looked at in one .sig manifest
MAX_PAYLOAD = 64 * 1024  # a simple-signing payload is a few hundred bytes
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Why a digest is refused, most telling first: the message reports the best one found.
UNSIGNED = "unsigned"
OTHER_DIGEST = "signature for another digest"
OTHER_IMAGE = "signature for another image"
TAMPERED = "payload does not match its digest"
MALFORMED = "malformed signature"
OTHER_KEY = "signed by another key"
_RANK = [OTHER_DIGEST, OTHER_IMAGE, TAMPERED, OTHER_KEY, MALFORMED, UNSIGNED]


class SignatureRefused(AgentError):
    """The image's digest has no signature of the site key: the agent does not run it.

    403: the request is well formed and the image exists, but the site's policy forbids
    running it (as the Docker API proxy answers its refusals); nothing a retry changes.
    """

    status = 403

    def __init__(self, message: str, *, reason: str, digest: str, signed_digest: str = "") -> None:
        super().__init__(message, "version")
        self.reason = reason
        self.digest = digest
        self.signed_digest = signed_digest


class PublicKeyError(ConfigError):
    """``signature_public_key`` cannot be used (the message names the file): the agent
    does not start rather than run unchecked images."""


class Answer(Protocol):
    """What the verifier reads of a registry response (``requests.Response``)."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]


@runtime_checkable
class RegistryReader(Protocol):
    """The catalog's registry client (``RegistryCatalog``) or a fake."""

    namespace: str

    def fetch(self, path: str, *, accept: str | None = None) -> Answer: ...


@dataclass(frozen=True)
class Verified:
    """A digest whose signature verified, and the payload that vouches for it."""

    digest: str
    payload: dict[str, Any]


def load_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """cosign's public key (``cosign.pub``, PEM): ECDSA on P-256, else ``PublicKeyError``."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise PublicKeyError(f"signature_public_key: cannot read {path}: {exc}") from exc
    except ValueError as exc:
        raise PublicKeyError(f"signature_public_key: {path} is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PublicKeyError(
            f"signature_public_key: {path} is not an ECDSA P-256 key "
            "(what cosign generate-key-pair makes)"
        )
    return key


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of ``digest``: ``sha256-<hex>.sig``."""
    return digest.replace(":", "-", 1) + ".sig"


class SignatureVerifier:
    """Checks that a digest of ``<namespace>/<ai>`` carries a valid signature of ``key``."""

    def __init__(self, registry: RegistryReader, key: ec.EllipticCurvePublicKey) -> None:
        self.registry = registry
        self.key = key
        self._verified: dict[tuple[str, str], str] = {}  # (ai, tag) -> last verified digest
        self._lock = threading.Lock()

    def require(self, ai: str, tag: str, digest: str) -> Verified:
        """The verified signature of ``ai:tag`` at ``digest``, else ``SignatureRefused``.

        When the tag pointed to another digest at its last verified start, the refusal (and
        the log) names both: the tag was moved.
        """
        image = f"{self.registry.namespace}/{ai}:{tag}"
        try:
            found = self.check(ai, digest)
        except SignatureRefused as exc:
            with self._lock:
                before = self._verified.get((ai, tag), "")
            moved = f"; the tag pointed to {before} when it last verified" if before else ""
            message = f"refused to run {image} ({digest}): {exc.message}{moved}"
            log.warning("%s", message)
            raise SignatureRefused(
                message, reason=exc.reason, digest=digest, signed_digest=exc.signed_digest
            ) from None
        with self._lock:
            self._verified[(ai, tag)] = digest
        return found

    def signed(self, ai: str, digest: str) -> bool:
        """True when ``digest`` carries a valid signature (``GET /v1/ais/<name>``)."""
        try:
            self.check(ai, digest)
        except SignatureRefused:
            return False
        return True

    def check(self, ai: str, digest: str) -> Verified:
        """Verify the signatures stored for ``digest``; ``SignatureRefused`` with the reason."""
        if not _DIGEST.match(digest):
            raise SignatureRefused(
                f"{digest!r} is not a sha256 digest", reason=MALFORMED, digest=digest
            )
        repo = f"{self.registry.namespace}/{ai}"
        tag = signature_tag(digest)
        resp = self.registry.fetch(
            f"/v2/{repo}/manifests/{tag}", accept=f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
        )
        if resp.status_code == 404:
            raise SignatureRefused(
                f"unsigned: the registry has no signature {repo}:{tag}",
                reason=UNSIGNED,
                digest=digest,
            )
        if resp.status_code != 200:
            raise RegistryError(f"signature {repo}:{tag} answered HTTP {resp.status_code}")
        layers = _layers(resp.content)
        if not layers:
            raise SignatureRefused(
                f"unsigned: {repo}:{tag} holds no signature", reason=UNSIGNED, digest=digest
            )
        findings: list[tuple[str, str, str]] = []  # (reason, detail, signed digest)
        for layer in layers[:MAX_SIGNATURES]:
            result = self._one(repo, layer, digest)
            if isinstance(result, Verified):
                return result
            findings.append(result)
        details = "; ".join(f"signature {i + 1}: {d}" for i, (_, d, _) in enumerate(findings))
        reason, _, signed_digest = min(findings, key=lambda f: _RANK.index(f[0]))
        raise SignatureRefused(
            f"{reason} ({details})", reason=reason, digest=digest, signed_digest=signed_digest
        )

    def _one(
        self, repo: str, layer: dict[str, Any], digest: str
    ) -> Verified | tuple[str, str, str]:
        """One layer of the .sig manifest: ``Verified`` or (reason, detail, signed digest)."""
        blob = str(layer.get("digest", ""))
        annotation = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if layer.get("mediaType") != SIMPLE_SIGNING or not isinstance(annotation, str):
            return MALFORMED, "not a simple-signing layer with a signature annotation", ""
        if not _DIGEST.match(blob) or int(layer.get("size") or 0) > MAX_PAYLOAD:
            return MALFORMED, f"payload descriptor {blob or '?'} is not usable", ""
        try:
            raw = base64.b64decode(annotation, validate=True)
        except (binascii.Error, ValueError):
            return MALFORMED, "the signature annotation is not base64", ""
        resp = self.registry.fetch(f"/v2/{repo}/blobs/{blob}")
        if resp.status_code != 200:
            return MALFORMED, f"payload {blob} answered HTTP {resp.status_code}", ""
        payload = resp.content
        if len(payload) > MAX_PAYLOAD or "sha256:" + hashlib.sha256(payload).hexdigest() != blob:
            return TAMPERED, f"the payload blob's content is not {blob}", ""
        try:
            self.key.verify(raw, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return OTHER_KEY, "does not verify with the site's public key", ""
        try:
            claims = json.loads(payload)
            critical = claims["critical"]
            signed = str(critical["image"]["docker-manifest-digest"])
            kind = str(critical["type"])
            reference = str(critical["identity"]["docker-reference"])
        except (ValueError, KeyError, TypeError):
            return MALFORMED, "the signed payload is not a simple-signing document", ""
        if kind != COSIGN_TYPE:
            return MALFORMED, f"the signed payload's type is {kind!r}, not {COSIGN_TYPE!r}", ""
        if signed != digest:
            return OTHER_DIGEST, f"it signs {signed}, not {digest}", signed
        # The registry's name differs by where it is seen from (localhost:5000 on the build
        # host, its site name elsewhere): the repository is what binds the bytes to this AI.
        if reference.partition("/")[2] != repo:
            return OTHER_IMAGE, f"it signs {reference}, not {repo}", ""
        return Verified(digest, claims)


def _layers(content: bytes) -> list[dict[str, Any]]:
    try:
        manifest = json.loads(content)
    except ValueError as exc:
        raise RegistryError("a signature manifest of the registry is not JSON") from exc
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    return [layer for layer in layers or [] if isinstance(layer, dict)]
