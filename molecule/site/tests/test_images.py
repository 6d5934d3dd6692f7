"""Images are built once, on the build host, and pulled from the registry everywhere else: the AI
hosts hold only images from the registry, no wheelhouse, no base images, no compilers."""

import pytest
from sitehosts import REGISTRY, group, image

testinfra_hosts = group("aidock_ai_hosts")

COMPILERS = ["gcc", "cc", "c++", "g++", "clang", "make"]


def test_every_image_came_from_the_registry(host):
    refs = host.check_output("docker image ls -q --no-trunc").split()
    assert refs, "no image on the host"
    for ref in refs:
        info = image(host, ref)
        assert info["RepoDigests"], info["RepoTags"]  # the agent pulls by digest: no tag then
        assert all(tag.startswith(f"{REGISTRY}/") for tag in info["RepoTags"]), info["RepoTags"]
        assert all(d.startswith(f"{REGISTRY}/") for d in info["RepoDigests"]), info["RepoDigests"]


def test_no_base_or_build_image(host):
    tags = host.check_output("docker image ls --format '{{.Repository}}'").split()
    assert not [tag for tag in tags if tag.startswith("aidock/")], tags


def test_no_wheelhouse(host):
    assert not host.file("/var/cache/aidock").exists  # build contexts live there on the build host
    found = host.check_output(
        "find / -xdev \\( -name '*.whl' -o -name 'wheelhouse*' \\) -print -quit"
    )
    assert found == ""


@pytest.mark.parametrize("compiler", COMPILERS)
def test_no_compiler(host, compiler):
    assert not host.exists(compiler)
