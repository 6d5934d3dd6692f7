"""A host that is down does not stop the site: with host 2's sshd stopped, playbooks/site.yml
converges the registry/build host and the agent host and reports host 2 unreachable (per-host
failure, no any_errors_fatal); once sshd is back, the same run converges all three, changing
nothing on any host. That last run is also the scenario's idempotence check (molecule.yml leaves
molecule's own idempotence step out). Runs ansible-playbook as a user does, with the project's
ansible.cfg and this scenario's inventory."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import docker
import pytest
from sitehosts import AGENT_HOST, INVENTORY, PROJECT, REGISTRY_HOST, STACK_HOSTS

DOWN = STACK_HOSTS[0]
FINE = [REGISTRY_HOST, AGENT_HOST]
# ansible-playbook exits 4 when a host was unreachable (and no other host failed).
UNREACHABLE_RC = 4


def converge() -> tuple[int, dict[str, dict[str, int]], str]:
    """Run playbooks/site.yml; its exit code, the recap per host and the output."""
    with tempfile.TemporaryDirectory(prefix="aidock-site-cp-") as control:
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            # Fresh SSH connections: a persisted one would outlive the stopped sshd.
            "ANSIBLE_SSH_CONTROL_PATH_DIR": control,
        }
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "-i",
                str(INVENTORY),
                "playbooks/site.yml",
            ],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    output = json.loads(result.stdout[result.stdout.index("{") :])
    return result.returncode, output["stats"], result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture
def sshd_stopped():
    """Host 2 without its sshd for the test; started again afterwards, whatever happens."""
    host = docker.from_env().containers.get(DOWN)
    stopped = host.exec_run(["/bin/sh", "-c", "kill $(cat /run/sshd.pid)"])
    assert stopped.exit_code == 0, stopped.output
    try:
        yield
    finally:
        started = host.exec_run(["/usr/sbin/sshd"])
        assert started.exit_code == 0, started.output


def test_a_host_down_fails_alone_and_a_rerun_converges(sshd_stopped):
    rc, stats, output = converge()
    assert rc == UNREACHABLE_RC, output
    assert stats[DOWN]["unreachable"] >= 1, stats
    for name in FINE:
        assert (stats[name]["failures"], stats[name]["unreachable"]) == (0, 0), stats
        assert stats[name]["changed"] == 0, stats


def test_the_host_back_converges_with_the_others():
    rc, stats, output = converge()
    assert rc == 0, output
    for name in [*FINE, DOWN]:
        assert (stats[name]["failures"], stats[name]["unreachable"]) == (0, 0), stats
        assert stats[name]["changed"] == 0, stats
