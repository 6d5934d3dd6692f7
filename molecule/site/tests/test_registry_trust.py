"""Every host that pulls reaches the registry by its name over TLS with the site CA, and only so."""

import json

from sitehosts import CERTS_D_CA, PORT, REGISTRY, REGISTRY_HOST, group, https_get, python

testinfra_hosts = group("aidock_ai_hosts")

URL = f"https://{REGISTRY}/v2/"


def test_registry_answers_by_name_with_the_site_ca(host):
    assert https_get(host, URL, CERTS_D_CA)[0] == 401  # TLS verified, name matched, auth asked


def test_registry_is_untrusted_without_the_site_ca(host):
    status, _ = https_get(host, URL, None)  # the host's default trust store
    assert "CERTIFICATE_VERIFY_FAILED" in str(status), status


def test_registry_certificate_names_the_host_not_its_address(host):
    address = python(host, f"import socket;print(socket.gethostbyname({REGISTRY_HOST!r}))")
    status, _ = https_get(host, f"https://{address}:{PORT}/v2/", CERTS_D_CA)
    assert "CERTIFICATE_VERIFY_FAILED" in str(status), status


def test_docker_trusts_the_registry_by_name_only(host):
    assert host.file("/etc/docker/certs.d").listdir() == [REGISTRY]
    assert host.file(CERTS_D_CA).content_string.startswith("-----BEGIN CERTIFICATE-----")


def test_docker_is_logged_in_by_name_only(host):
    config = json.loads(host.file("/root/.docker/config.json").content_string)
    assert list(config["auths"]) == [REGISTRY]
