"""What the site scenario's tests share: its hosts by group, the registry, the site's secrets."""

import base64
import json
import os
import shlex
from pathlib import Path

import testinfra.utils.ansible_runner

# Molecule's inventory directory: its generated file (addresses, user, key), inventory/hosts.yml
# of this scenario (groups, as inventories/example/hosts.yml) and the example's group_vars.
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
# Where inventories/example/group_vars/all/paths.yml keeps the generated secrets.
SECRETS = INVENTORY / ".secrets"
NAMESPACE = "aidock"
# The agent image's namespace (agent_image_namespace), outside the AI catalog.
PLATFORM_NAMESPACE = "aidock-platform"
PORT = 5000
RAG = "rag"
RAG_VERSION = "0.1.0"


def group(pattern: str) -> list[str]:
    """The hosts of an inventory group (or pattern)."""
    return testinfra.utils.ansible_runner.AnsibleRunner(str(INVENTORY)).get_hosts(pattern)


REGISTRY_HOST = group("aidock_registry")[0]
AGENT_HOST = group("aidock_agent")[0]
# The AI hosts that run the rag stack: all but the agent's (hosts.yml gives it aidock_host_ais: []).
STACK_HOSTS = [name for name in group("aidock_ai_hosts") if name != AGENT_HOST]
REGISTRY = f"{REGISTRY_HOST}:{PORT}"
CERTS_D_CA = f"/etc/docker/certs.d/{REGISTRY}/ca.crt"
USER = "aidock"


def secret(name: str) -> str:
    return (SECRETS / name).read_text().strip()


def python(host, script: str) -> str:
    """Run a Python script on a test host and return what it prints."""
    return host.check_output(f"python3 -c {shlex.quote(script)}")


def https_get(
    host, url: str, cafile: str | None, headers: dict | None = None, method: str = "GET"
) -> list:
    """Status (or the TLS error) and headers of an HTTPS request made from a test host, verifying
    the server's certificate and name against `cafile` (None: the host's default trust store)."""
    script = (
        "import json,ssl,urllib.request,urllib.error\n"
        f"ctx=ssl.create_default_context(cafile={cafile!r})\n"
        f"req=urllib.request.Request({url!r},headers={headers or {}!r},method={method!r})\n"
        "try:\n r=urllib.request.urlopen(req,context=ctx,timeout=10)\n"
        " print(json.dumps([r.status,dict(r.headers)]))\n"
        "except urllib.error.HTTPError as e:\n print(json.dumps([e.code,dict(e.headers)]))\n"
        "except urllib.error.URLError as e:\n print(json.dumps([str(e.reason),{}]))\n"
    )
    return json.loads(python(host, script))


def registry_digest(host, repository: str, tag: str) -> str:
    """The manifest digest the registry holds for repository:tag, asked by name over TLS."""
    auth = base64.b64encode(f"{USER}:{secret('registry-aidock.password')}".encode()).decode()
    accept = ", ".join(
        [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    )
    status, headers = https_get(
        host,
        f"https://{REGISTRY}/v2/{repository}/manifests/{tag}",
        CERTS_D_CA,
        {"Authorization": f"Basic {auth}", "Accept": accept},
        method="HEAD",
    )
    assert status == 200, (status, headers)
    return {k.lower(): v for k, v in headers.items()}["docker-content-digest"]


def image(host, ref: str) -> dict:
    return json.loads(host.check_output(f"docker image inspect {shlex.quote(ref)}"))[0]
