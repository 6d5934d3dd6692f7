"""docker_engine: containers that mount the directory of docker_engine_container_socket reach
dockerd again after the role's restart of it; a container holding the socket file does not."""

import json
import shlex
import subprocess
import time

import pytest
from testhost import hosts

testinfra_hosts = hosts()

SOCKET = "/run/aidock/docker/docker.sock"
IMAGE = "aidock/python-base:bookworm-1"  # loaded from the controller's dockerd
# GET /_ping over the socket with the standard library only; prints the status line.
PING = (
    "import socket\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.settimeout(5)\n"
    "try:\n"
    f"    s.connect({SOCKET!r})\n"
    "    s.sendall(b'GET /_ping HTTP/1.0\\r\\nHost: docker\\r\\n\\r\\n')\n"
    "    print(s.recv(64).split(b'\\r\\n')[0].decode())\n"
    "except OSError as exc:\n"
    "    print(f'error: {exc.strerror}')\n"
)
# What restart-background.yml does: SIGTERM, wait for the pid file to go, start it the same way.
RESTART = (
    "pkill -TERM -x dockerd; "
    "for i in $(seq 120); do [ -e /var/run/docker.pid ] || break; sleep 0.5; done; "
    "setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null & "
    "for i in $(seq 120); do docker version >/dev/null 2>&1 && break; sleep 0.5; done"
)


def ping_from(host, container: str) -> str:
    return host.check_output(f"docker exec {container} python3 -c {shlex.quote(PING)}")


@pytest.fixture(scope="module")
def probes(host):
    """Two containers as uid 10001 with the socket's group: one mounts the socket's directory
    (read-only), the other the socket file itself."""
    name = host.backend.get_hostname()
    if host.run(f"docker image inspect {IMAGE}").rc != 0:
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        subprocess.run(["docker", "exec", "-i", name, "docker", "load"], stdin=save.stdout,
                       check=True, capture_output=True, timeout=600)  # fmt: skip
        assert save.wait(600) == 0
    gid = host.check_output(f"stat -c %g {SOCKET}")
    mounts = {
        "probe-dir": f"{SOCKET.rsplit('/', 1)[0]}:{SOCKET.rsplit('/', 1)[0]}:ro",
        "probe-file": f"{SOCKET}:{SOCKET}",
    }
    for probe, volume in mounts.items():
        host.run(f"docker rm -f {probe}")
        host.check_output(
            f"docker run -d --name {probe} --user 10001:10001 --group-add {gid} "
            f"--read-only --cap-drop ALL -v {volume} {IMAGE} "
            "python3 -c 'import time; time.sleep(3600)'"
        )
    yield list(mounts)
    for probe in mounts:
        host.run(f"docker rm -f {probe}")


def test_the_socket_is_in_daemon_json_for_a_background_dockerd(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["hosts"] == ["unix:///var/run/docker.sock", f"unix://{SOCKET}"]


def test_the_socket_is_for_the_docker_group_only(host):
    socket = host.file(SOCKET)
    assert socket.is_socket and socket.group == "docker" and socket.mode == 0o660
    assert host.file(SOCKET.rsplit("/", 1)[0]).mode == 0o755


def test_a_mounted_directory_survives_a_dockerd_restart_and_a_mounted_file_does_not(host, probes):
    assert ping_from(host, "probe-dir") == "HTTP/1.0 200 OK"
    assert ping_from(host, "probe-file") == "HTTP/1.0 200 OK"
    before = host.check_output(f"stat -c %i {SOCKET}")
    host.run(RESTART)
    time.sleep(1)
    assert host.check_output(f"stat -c %i {SOCKET}") != before  # a new socket file
    running = "docker inspect -f '{{.State.Running}}' "
    assert [host.check_output(running + p) for p in probes] == ["true", "true"]  # live-restore
    assert ping_from(host, "probe-dir") == "HTTP/1.0 200 OK"
    assert ping_from(host, "probe-file") == "error: Connection refused"  # the deleted socket
