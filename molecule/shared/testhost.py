"""Helpers shared by the scenarios' testinfra tests."""

import json
import os
import shlex

import testinfra.utils.ansible_runner


def hosts() -> list[str]:
    """The scenario's test hosts, from molecule's inventory."""
    return testinfra.utils.ansible_runner.AnsibleRunner(
        os.environ["MOLECULE_INVENTORY_FILE"]
    ).get_hosts("all")


def inspect(host, ref: str) -> dict:
    """`docker inspect` of a container or image inside the test host."""
    return json.loads(host.check_output(f"docker inspect {ref}"))[0]


def https_status(host, url: str, ca: str, user: str = "", password: str = "") -> int:
    """HTTP status of a GET from inside the test host, verifying TLS against `ca`."""
    script = (
        "import base64,ssl,sys,urllib.request,urllib.error\n"
        f"req=urllib.request.Request({url!r})\n"
        f"if {user!r}: req.add_header('Authorization','Basic '+"
        f"base64.b64encode(({user!r}+':'+{password!r}).encode()).decode())\n"
        f"ctx=ssl.create_default_context(cafile={ca!r})\n"
        "try:\n print(urllib.request.urlopen(req,context=ctx,timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n print(e.code)\n"
    )
    return int(host.check_output(f"python3 -c {shlex.quote(script)}"))
