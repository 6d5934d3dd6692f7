"""Each site image's SBOM lists what the image holds (issue 12).

The SBOM the signing role kept on the build host for the digest the registry serves is compared
with the image itself: its Python components with the distributions its venv's interpreter sees
(the hardened images have no pip to run ``pip list``; ``importlib.metadata`` is what pip reads),
its Debian binary packages with the installed entries of the image's dpkg status (the image has
no dpkg binary either). Both run in a container without network, as uid 10001, read-only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import docker
import pytest
from conftest import REGISTRY, aidock, served_digest

SBOM_DIR = Path("/var/lib/aidock/sbom")
IMAGES = {"rag": "aidock", "extraction": "aidock", "categorization": "aidock"}
IMAGES["agent"] = "aidock-platform"
VENV_PYTHON = "/opt/venv/bin/python"

LIST_PYTHON = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted({(d.metadata['Name'], d.version) for d in m.distributions()})))"
)
LIST_DPKG = r"""
import json, re
found = set()
for entry in open('/var/lib/dpkg/status', encoding='utf-8').read().split('\n\n'):
    fields = dict(re.findall(r'^([A-Za-z-]+): (.*)$', entry, re.M))
    if fields.get('Status') == 'install ok installed':
        found.add((fields['Package'], fields['Version']))
print(json.dumps(sorted(found)))
"""

pytestmark = pytest.mark.skipif(
    not SBOM_DIR.is_dir(), reason="the site keeps no SBOMs (signing role not applied)"
)


def normal(name: str) -> str:
    """PEP 503 normalised project name (SBOM tools and metadata spell names differently)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def in_image(client: docker.DockerClient, image: str, script: str) -> list[tuple[str, str]]:
    out = client.containers.run(
        image,
        [VENV_PYTHON, "-I", "-c", script],
        entrypoint=[],
        user="10001:10001",
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        remove=True,
    )
    return [tuple(pair) for pair in json.loads(out)]


@pytest.mark.parametrize("ai", sorted(IMAGES))
def test_the_sbom_lists_the_image_s_python_and_debian_packages(
    ai: str, docker_client: docker.DockerClient, registry_password: str
) -> None:
    namespace = IMAGES[ai]
    digest = served_digest(f"{namespace}/{ai}", "0.1.0", registry_password)
    path = SBOM_DIR / ai / "0.1.0" / f"sha256-{digest.split(':')[1]}.cdx.json"
    assert path.is_file(), f"no SBOM kept for {namespace}/{ai}@{digest}"
    components = json.loads(path.read_text())["components"]
    image = f"{REGISTRY}/{namespace}/{ai}@{digest}"
    docker_client.images.pull(f"{REGISTRY}/{namespace}/{ai}", tag="0.1.0")

    python = {
        (normal(c["name"]), c["version"])
        for c in components
        if c.get("purl", "").startswith("pkg:pypi/") or not c.get("purl")
    }
    installed = {(normal(n), v) for n, v in in_image(docker_client, image, LIST_PYTHON)}
    assert python == installed, (sorted(python - installed), sorted(installed - python))

    debian = {
        (c["name"], c["version"])
        for c in components
        if c.get("purl", "").startswith("pkg:deb/") and "arch=source" not in c["purl"]
    }
    dpkg = set(in_image(docker_client, image, LIST_DPKG))
    assert debian == dpkg, (sorted(debian - dpkg), sorted(dpkg - debian))
    assert len(python) > 10 and len(debian) > 50


def test_aidock_sbom_summarises_and_writes_the_full_json(tmp_path: Path) -> None:
    out = tmp_path / "extraction.cdx.json"
    done = aidock("sbom", "extraction", "0.1.0", "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"python: \d+", done.stdout) and re.search(r"debian: \d+", done.stdout)
    assert json.loads(out.read_text())["bomFormat"] == "CycloneDX"


def test_aidock_sbom_of_an_unknown_ai_fails_clearly() -> None:
    done = aidock("sbom", "no-such-ai", "0.1.0")
    assert done.returncode != 0
    assert "no-such-ai" in done.stdout + done.stderr
