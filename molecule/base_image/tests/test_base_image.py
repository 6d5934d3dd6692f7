"""base_image: python-base is small, non-root and has no package manager; -build has venv."""

import pytest
from testhost import hosts, inspect

testinfra_hosts = hosts()

BASE = "aidock/python-base:bookworm-1"
BUILD = "aidock/python-base-build:bookworm-1"


def run_in(host, image: str, command: str, *flags: str):
    return host.run(f"docker run --rm {' '.join(flags)} {image} {command}")


@pytest.mark.parametrize("image", [BASE, BUILD, "aidock/debian-rootfs:bookworm"])
def test_image_exists(host, image):
    assert host.run(f"docker image inspect {image}").rc == 0


def test_base_runs_as_uid_10001(host):
    assert inspect(host, BASE)["Config"]["User"] == "10001"
    assert run_in(host, BASE, "id -u").stdout.strip() == "10001"


@pytest.mark.parametrize("tool", ["apt", "apt-get", "dpkg", "pip", "pip3", "gcc", "cc", "curl"])
def test_base_has_no_package_manager_or_compiler(host, tool):
    result = run_in(host, BASE, f"sh -c 'command -v {tool}'")
    assert result.rc != 0, f"{tool} found at {result.stdout}"


def test_base_python_works_with_read_only_root(host):
    result = run_in(host, BASE, "python3 -c 'import ssl, sqlite3, json; print(42)'", "--read-only")
    assert result.stdout.strip() == "42"


def test_base_is_labelled(host):
    labels = inspect(host, BASE)["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "bookworm-1"
    assert labels["ai.aidock.schema-version"] == "base/v1"
    assert "ai.aidock.build-hash" in labels


def test_build_variant_makes_a_venv(host):
    result = run_in(host, BUILD, "python3 -m venv /tmp/v")
    assert result.rc == 0, result.stderr


def test_base_is_much_smaller_than_the_root_filesystem(host):
    base = inspect(host, BASE)["Size"]
    rootfs = inspect(host, "aidock/debian-rootfs:bookworm")["Size"]
    assert base < rootfs * 0.6
