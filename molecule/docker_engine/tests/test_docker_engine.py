"""docker_engine: only the engine packages come from trixie, dockerd runs hardened."""

import json
import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

ENGINE_PACKAGES = ["docker.io", "docker-cli", "docker-compose", "docker-buildx", "containerd"]


@pytest.mark.parametrize("name", ENGINE_PACKAGES)
def test_engine_package_comes_from_trixie(host, name):
    pkg = host.package(name)
    assert pkg.is_installed
    policy = host.check_output(f"apt-cache policy {name}")
    lines = policy.split(f"*** {pkg.version}", 1)[1].splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if not line.startswith("        ")), len(lines))
    assert any("trixie" in line for line in lines[:end]), policy
    assert not any("bookworm" in line for line in lines[:end]), policy


@pytest.mark.parametrize(("name", "prefix"), [("libc6", "2.36-"), ("python3", "3.11.")])
def test_base_system_stays_bookworm(host, name, prefix):
    pkg = host.package(name)
    assert pkg.is_installed
    assert pkg.version.startswith(prefix)


def test_exactly_the_engine_packages_come_from_trixie(host):
    # dpkg-query + apt-cache policy: a package whose installed version only trixie offers.
    from_trixie = []
    for line in host.check_output("dpkg-query -W -f '${Package} ${Version}\\n'").splitlines():
        name, version = line.split(" ", 1)
        policy = host.check_output(f"apt-cache policy {name}")
        if f"*** {version}" in policy:
            block = policy.split(f"*** {version}", 1)[1].split("\n     ")[0]
            sources = policy.split(f"*** {version}", 1)[1].split("\n")[1:3]
            if any("trixie" in s for s in sources) and "bookworm" not in block:
                from_trixie.append(name)
    assert sorted(from_trixie) == sorted(ENGINE_PACKAGES)


def test_pin_keeps_trixie_low(host):
    pref = host.file("/etc/apt/preferences.d/aidock-docker-engine")
    assert pref.exists
    assert "Pin-Priority: 100" in pref.content_string
    assert "Pin-Priority: 500" in pref.content_string


def test_daemon_json_is_hardened(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["live-restore"] is True
    assert config["no-new-privileges"] is True
    assert config["log-driver"] == "json-file"
    assert config["log-opts"]["max-size"] == "10m"


def test_dockerd_answers_on_its_socket(host):
    assert host.file("/var/run/docker.sock").is_socket
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True


@pytest.mark.parametrize("plugin", ["compose", "buildx"])
def test_cli_plugins_work(host, plugin):
    assert host.run(f"docker {plugin} version").rc == 0
