"""registry: TLS with the site CA, bcrypt htpasswd, hardened container, trusted by dockerd."""

import os
from pathlib import Path

import pytest
from testhost import HARDENED, hosts, https_status, inspect, inspected

testinfra_hosts = hosts()

CA = "/etc/aidock/pki/ca.crt"
URL = "https://localhost:5000/v2/"
USER = "molecule"


@pytest.fixture(scope="module")
def password() -> str:
    return (
        (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "registry.password").read_text().strip()
    )


def test_anonymous_request_is_refused(host):
    assert https_status(host, URL, CA) == 401


def test_wrong_password_is_refused(host):
    assert https_status(host, URL, CA, USER, "not-the-password") == 401


def test_credentials_are_accepted_over_tls(host, password):
    assert https_status(host, URL, CA, USER, password) == 200


def test_htpasswd_holds_bcrypt_only(host):
    content = host.file("/opt/aidock/registry/htpasswd").content_string
    assert content.startswith(f"{USER}:$2")


def test_server_key_is_private(host):
    key = host.file("/etc/aidock/pki/registry.key")
    assert key.mode == 0o400
    assert host.file("/etc/aidock/pki/ca.key").mode == 0o600


def test_dockerd_trusts_the_site_ca(host):
    assert host.file("/etc/docker/certs.d/localhost:5000/ca.crt").exists


@pytest.mark.parametrize(("path", "expected"), HARDENED)
def test_container_is_hardened(host, path, expected):
    assert inspected(host, "aidock-registry-registry-1", path) == expected


def test_port_is_on_loopback_only(host):
    ports = inspect(host, "aidock-registry-registry-1")["HostConfig"]["PortBindings"]
    assert ports == {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5000"}]}


def test_delete_is_enabled_and_storage_on_a_volume(host):
    config = host.file("/opt/aidock/registry/config.yml").content_string
    assert "delete:\n    enabled: true" in config
    mounts = inspect(host, "aidock-registry-registry-1")["Mounts"]
    assert any(m["Type"] == "volume" and m["Name"] == "aidock_registry_data" for m in mounts)


def test_push_and_pull_with_login(host):
    ref = "localhost:5000/aidock/molecule-probe:1"
    assert host.run(f"docker tag aidock/python-base:bookworm-1 {ref}").rc == 0
    pushed = host.run(f"docker push {ref}")
    assert pushed.rc == 0, pushed.stderr
    host.run(f"docker rmi {ref}")
    pulled = host.run(f"docker pull {ref}")
    assert pulled.rc == 0, pulled.stderr
