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


# (path in `docker inspect`, expected value) of every hardened aidock container.
HARDENED = [
    (("HostConfig", "ReadonlyRootfs"), True),
    (("HostConfig", "CapDrop"), ["ALL"]),
    (("HostConfig", "SecurityOpt"), ["no-new-privileges:true"]),
    (("Config", "User"), "10001:10001"),
    (("State", "Health", "Status"), "healthy"),
]


def inspected(host, ref: str, path: tuple[str, ...]):
    """One value of `docker inspect`, by its path of keys."""
    value = inspect(host, ref)
    for key in path:
        value = value[key]
    return value


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


# Longer than the agent's own start timeout (agent_start_timeout, 180 s by default): a POST of an
# instance answers once the AI is ready, and the agent's answer, not this client's patience, is what
# a test checks. Under make test's load, three replicas took 30-39 s in CI runs on this machine,
# too close to the 60 s this client gave before.
HTTP_TIMEOUT = 240


def http(
    host, method: str, url: str, body: dict | None = None, headers: dict | None = None
) -> tuple[int, dict]:
    """Status and JSON body of an HTTP request made from inside the test host."""
    script = (
        "import json,sys,urllib.request,urllib.error\n"
        f"data={json.dumps(body).encode()!r} if {body is not None!r} else None\n"
        f"req=urllib.request.Request({url!r},data=data,method={method!r},"
        f"headers={{'Content-Type':'application/json',**{headers or {}!r}}})\n"
        f"try:\n r=urllib.request.urlopen(req,timeout={HTTP_TIMEOUT})\n"
        " print(r.status); print(r.read().decode() or 'null')\n"
        "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode() or 'null')\n"
    )
    status, payload = host.check_output(f"python3 -c {shlex.quote(script)}").split("\n", 1)
    return int(status), json.loads(payload)
