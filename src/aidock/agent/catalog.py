"""The AI catalog is the site registry: what the agent may run, read over the registry API.

Every repository ``<namespace>/<ai>`` of the registry is an AI, every tag a version (cosign's
``*.sig``/``*.att``/``*.sbom`` tags excepted). A version is usable when its image config
carries a valid AI manifest (``aidock.schemas.manifest``); one without is listed as unusable
with the label at fault, never hidden. Nothing is pulled: the agent reads
``/v2/_catalog``, ``/v2/<repo>/tags/list``, the manifest (an index resolved to its
linux/amd64 entry) and the config blob, with the registry's credentials and CA.

Caching: config blobs are content-addressed and kept (LRU, ``CONFIG_CACHE``); the listing
of ``GET /v1/ais`` is kept ``ttl`` seconds, after which the repositories and tags are read
again (a new AI or version shows within ``ttl``) while a known tag's digest is re-read only
after ``digest_ttl`` (6 x ``ttl``: a moved tag shows within it). ``GET /v1/ais/<name>``
(``entry``) and a start request (``resolve``) always read the registry now, so a freshly
pushed image is requestable at once and a moved tag is never run under its old digest.
Every registry request costs a password check there (bcrypt): fewer requests, not more
threads, is what keeps the listing cheap on a small host. A registry that does not answer is
``RegistryUnavailable`` (503), one that refuses the credentials ``RegistryError`` (502).

Considered instead of the ~100 lines of HTTP below: ``oras`` (OCI artifacts client: pushes
and pulls artifacts, no catalog/config reading helpers worth its dependencies),
``python-dxf`` (Distribution client, unmaintained since 2023) and dockerd's
``/distribution/<name>/json`` (digest and platforms only: no labels, no listing).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from aidock.agent.errors import (
    InvalidManifest,
    RegistryError,
    RegistryUnavailable,
    UnknownAi,
    UnknownVersion,
)
from aidock.schemas.manifest import AiManifest, ManifestError

log = logging.getLogger(__name__)

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
SIGNATURE_SUFFIXES = (".sig", ".att", ".sbom")
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|z|[+-]\d\d:\d\d)?$")
CONFIG_CACHE = 2048
PAGE = 1000
WORKERS = 8


@dataclass(frozen=True)
class AiVersion:
    """One tag of an AI: its digest, size and run contract (or why it is unusable)."""

    ai: str
    tag: str
    digest: str
    size: int
    created: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    manifest: AiManifest | None = None
    problem: ManifestError | None = None

    @property
    def usable(self) -> bool:
        """True when the image declares a valid manifest."""
        return self.manifest is not None

    def require_manifest(self) -> AiManifest:
        """The manifest, else ``InvalidManifest`` (422) naming the label at fault."""
        if self.manifest is None:
            problem = self.problem or ManifestError("ai.aidock.manifest", "missing")
            raise InvalidManifest(
                f"{self.ai}:{self.tag} cannot run: {problem}", "version", label=problem.label
            )
        return self.manifest


@dataclass(frozen=True)
class AiEntry:
    """An AI of the catalog with its versions, newest first."""

    name: str
    versions: list[AiVersion]


class RegistryCatalog:
    """Reads the AIs of ``<registry>/<namespace>/`` from the registry's HTTP API."""

    def __init__(
        self,
        url: str,
        namespace: str,
        *,
        auth: Callable[[], tuple[str, str] | None] = lambda: None,
        ca_file: Path | None = None,
        ttl: float = 10.0,
        digest_ttl: float | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self.namespace = namespace
        self.ttl = ttl
        self.digest_ttl = 6 * ttl if digest_ttl is None else digest_ttl
        self.timeout = timeout
        self.clock = clock
        self._auth = auth
        self._session = session or self._new_session(ca_file)
        self._configs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._listing: tuple[float, list[AiEntry]] | None = None
        self._read: dict[tuple[str, str], tuple[float, AiVersion | None]] = {}
        self._lock = threading.Lock()
        self._list_lock = threading.Lock()

    @staticmethod
    def _new_session(ca_file: Path | None) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # the registry is the site's: no proxy
        if ca_file is not None:
            session.verify = str(ca_file)
        retry = Retry(total=2, connect=2, read=1, status=0, backoff_factor=0.1)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=WORKERS, max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    # -- HTTP -------------------------------------------------------------------------

    def _get(self, path: str, *, accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        target = urljoin(self.url, path.lstrip("/"))
        try:
            resp = self._session.get(
                target, headers=headers, auth=self._auth(), timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RegistryUnavailable(
                f"the registry {self.url.rstrip('/')} is not reachable: {_reason(exc)}; "
                "retry once it is back"
            ) from exc
        if resp.status_code in (401, 403):
            raise RegistryError(
                f"the registry {self.url.rstrip('/')} refused the agent's credentials "
                f"(HTTP {resp.status_code} on {path})"
            )
        if resp.status_code >= 500:
            raise RegistryUnavailable(
                f"the registry {self.url.rstrip('/')} answered HTTP {resp.status_code} on {path}"
            )
        return resp

    def fetch(self, path: str, *, accept: str | None = None) -> requests.Response:
        """GET ``path`` of the registry API with the catalog's credentials, CA and retries
        (``aidock.agent.signatures`` reads the images' signatures with it)."""
        return self._get(path, accept=accept)

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            raise RegistryError(f"the registry's {what} is not JSON") from exc

    # -- reading ----------------------------------------------------------------------

    def repositories(self) -> list[str]:
        """Names of the AIs: repositories ``<namespace>/<name>`` (one level), sorted."""
        names: list[str] = []
        path: str | None = f"/v2/_catalog?n={PAGE}"
        while path:
            resp = self._get(path)
            if resp.status_code != 200:
                raise RegistryError(f"the registry's catalog answered HTTP {resp.status_code}")
            for repo in self._json(resp, "catalog").get("repositories") or []:
                head, _, name = str(repo).rpartition("/")
                if head == self.namespace and name:
                    names.append(name)
            path = _next_link(resp)
        return sorted(set(names))

    def tags(self, ai: str) -> list[str]:
        """Tags of ``ai`` (signature tags left out); empty when the repository is unknown."""
        resp = self._get(f"/v2/{self._repo(ai)}/tags/list")
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise RegistryError(f"tags of {ai} answered HTTP {resp.status_code}")
        tags = self._json(resp, "tag list").get("tags") or []
        return sorted(str(t) for t in tags if not str(t).endswith(SIGNATURE_SUFFIXES))

    def version(self, ai: str, tag: str) -> AiVersion | None:
        """The image ``ai:tag`` as the registry has it now (None when there is no such tag)."""
        found = self._read_version(ai, tag)
        with self._lock:
            self._read[(ai, tag)] = (self.clock(), found)
        return found

    def _recent(self, ai: str, tag: str) -> AiVersion | None:
        """``ai:tag`` as read within ``digest_ttl``, else read now."""
        with self._lock:
            read = self._read.get((ai, tag))
        if read is not None and self.clock() - read[0] < self.digest_ttl:
            return read[1]
        return self.version(ai, tag)

    def _read_version(self, ai: str, tag: str) -> AiVersion | None:
        repo = self._repo(ai)
        resp = self._get(f"/v2/{repo}/manifests/{quote(tag, safe='')}", accept=MANIFEST_ACCEPT)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RegistryError(f"manifest of {ai}:{tag} answered HTTP {resp.status_code}")
        digest = resp.headers.get("Docker-Content-Digest", "")
        manifest = self._json(resp, "manifest")
        if manifest.get("mediaType") in _INDEX_TYPES or "manifests" in manifest:
            chosen = _platform(manifest.get("manifests") or [])
            if chosen is None:
                raise RegistryError(f"{ai}:{tag} is an index without a linux/amd64 image")
            inner = self._get(f"/v2/{repo}/manifests/{chosen}", accept=MANIFEST_ACCEPT)
            if inner.status_code != 200:
                raise RegistryError(f"manifest {chosen} of {ai} answered {inner.status_code}")
            manifest = self._json(inner, "manifest")
        config_ref = (manifest.get("config") or {}).get("digest", "")
        config = self._config(repo, config_ref)
        size = int((manifest.get("config") or {}).get("size") or 0) + sum(
            int(layer.get("size") or 0) for layer in manifest.get("layers") or []
        )
        labels = dict((config.get("config") or {}).get("Labels") or {})
        try:
            parsed: AiManifest | None = AiManifest.from_labels(labels)
            problem = None
        except ManifestError as exc:
            parsed, problem = None, exc
        return AiVersion(
            ai=ai,
            tag=tag,
            digest=digest,
            size=size,
            created=_created(config.get("created")),
            labels=labels,
            manifest=parsed,
            problem=problem,
        )

    def _config(self, repo: str, digest: str) -> dict[str, Any]:
        with self._lock:
            cached = self._configs.get(digest)
            if cached is not None:
                self._configs.move_to_end(digest)
                return cached
        resp = self._get(f"/v2/{repo}/blobs/{digest}")
        if resp.status_code != 200:
            raise RegistryError(f"config blob {digest} of {repo} answered {resp.status_code}")
        config = self._json(resp, "image config")
        with self._lock:
            self._configs[digest] = config
            while len(self._configs) > CONFIG_CACHE:
                self._configs.popitem(last=False)
        return config

    def _repo(self, ai: str) -> str:
        return f"{self.namespace}/{ai}"

    # -- what the API serves ----------------------------------------------------------

    def entry(self, ai: str) -> AiEntry:
        """``ai`` with every version, read now; ``UnknownAi`` when it has none."""
        tags = self.tags(ai)
        if not tags:
            raise self._unknown(ai)
        return AiEntry(ai, self._versions([(ai, tag) for tag in tags], self.version))

    def list(self) -> list[AiEntry]:
        """Every AI with its versions (kept ``ttl`` seconds)."""
        with self._list_lock:
            now = self.clock()
            if self._listing is not None and now - self._listing[0] < self.ttl:
                return self._listing[1]
            names = self.repositories()
            with ThreadPoolExecutor(WORKERS) as pool:
                tags = dict(zip(names, pool.map(self.tags, names), strict=True))
            pairs = [(ai, tag) for ai in names for tag in tags[ai]]
            versions = self._versions(pairs, self._recent)
            with self._lock:  # forget tags that are gone
                self._read = {pair: self._read[pair] for pair in pairs if pair in self._read}
            by_ai: dict[str, list[AiVersion]] = {ai: [] for ai in names if tags[ai]}
            for version in versions:
                by_ai[version.ai].append(version)
            entries = [AiEntry(ai, by_ai[ai]) for ai in sorted(by_ai)]
            self._listing = (self.clock(), entries)
            return entries

    def _versions(
        self,
        pairs: Iterable[tuple[str, str]],
        read: Callable[[str, str], AiVersion | None],
    ) -> list[AiVersion]:
        with ThreadPoolExecutor(WORKERS) as pool:
            found = pool.map(lambda pair: read(*pair), list(pairs))
            return sorted(
                (v for v in found if v is not None),
                key=lambda v: (v.ai, v.created or datetime.min.replace(tzinfo=UTC), v.tag),
                reverse=True,
            )

    def resolve(self, ai: str, tag: str) -> AiVersion:
        """The usable image ``ai:tag`` now: 404 listing the versions, 422 naming the label."""
        version = self.version(ai, tag)
        if version is None:
            tags = self.tags(ai)
            if not tags:
                raise self._unknown(ai)
            raise UnknownVersion(
                f"version: {ai} has no version {tag!r}; versions: {', '.join(tags)}", "version"
            )
        version.require_manifest()
        return version

    def _unknown(self, ai: str) -> UnknownAi:
        try:
            known = ", ".join(self.repositories()) or "none"
        except (RegistryError, RegistryUnavailable):
            known = "unknown (the catalog could not be read)"
        return UnknownAi(
            f"ai: unknown AI {ai!r}: the registry has no {self._repo(ai)}; the catalog has: "
            f"{known}",
            "ai",
        )

    def invalidate(self) -> None:
        """Forget the cached listing (config blobs stay: they never change)."""
        with self._list_lock:
            self._listing = None


def _next_link(resp: requests.Response) -> str | None:
    nxt = resp.links.get("next", {}).get("url")
    return str(nxt) if nxt else None


def _platform(manifests: list[dict[str, Any]]) -> str | None:
    for item in manifests:
        platform = item.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(item.get("digest"))
    return None


def _created(text: Any) -> datetime | None:
    """An image config's ``created`` (Go's RFC 3339 with nanoseconds) as an aware datetime."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{base}{(fraction or '')[:7]}{zone}")
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "timed out", "CERTIFICATE"):
        if hint.lower() in text.lower():
            return hint.lower()
    return type(exc).__name__
