"""The AI manifest label set: parsing, defaults, errors naming the label, round trip."""

from __future__ import annotations

import pytest

from aidock.schemas.manifest import (
    LABEL_MANIFEST,
    AiManifest,
    ManifestError,
    format_tmpfs,
    parse_tmpfs,
)

GOOD = {
    "ai.aidock.manifest": "v1",
    "ai.aidock.schema-version": "extraction/v1",
    "ai.aidock.port": "3000",
    "ai.aidock.ready-path": "/readyz",
    "ai.aidock.memory": "1g",
    "ai.aidock.cpus": "1.5",
    "ai.aidock.pids": "256",
    "ai.aidock.tmpfs": "/data:uid=10001,mode=0700,size=256m /tmp:size=64m,mode=1777",
    "ai.aidock.start-timeout": "90",
    "org.opencontainers.image.title": "not ours, ignored",
}


def test_full_label_set() -> None:
    manifest = AiManifest.from_labels(GOOD)
    assert manifest.schema_version == "extraction/v1"
    assert manifest.port == 3000
    assert manifest.ready_path == "/readyz"
    assert manifest.memory == "1g"
    assert manifest.nano_cpus == 1_500_000_000
    assert manifest.pids == 256
    assert manifest.tmpfs == {
        "/data": "uid=10001,mode=0700,size=256m",
        "/tmp": "size=64m,mode=1777",
    }
    assert manifest.start_timeout == 90


def test_optional_labels_default() -> None:
    labels = {
        k: v for k, v in GOOD.items() if k not in {"ai.aidock.tmpfs", "ai.aidock.start-timeout"}
    }
    manifest = AiManifest.from_labels(labels)
    assert manifest.tmpfs == {"/tmp": "size=64m,mode=1777"}
    assert manifest.start_timeout is None


def test_round_trip() -> None:
    manifest = AiManifest.from_labels(GOOD)
    assert AiManifest.from_labels(manifest.to_labels()) == manifest
    assert manifest.to_labels()[LABEL_MANIFEST] == "v1"


@pytest.mark.parametrize("labels", [None, {}, {"org.opencontainers.image.title": "x"}])
def test_no_manifest_names_the_version_label(labels: dict[str, str] | None) -> None:
    with pytest.raises(ManifestError) as err:
        AiManifest.from_labels(labels)
    assert err.value.label == LABEL_MANIFEST
    assert "missing" in str(err.value)


def test_unknown_version() -> None:
    with pytest.raises(ManifestError, match="v2") as err:
        AiManifest.from_labels({**GOOD, LABEL_MANIFEST: "v2"})
    assert err.value.label == LABEL_MANIFEST


@pytest.mark.parametrize(
    "label",
    [
        "ai.aidock.schema-version",
        "ai.aidock.port",
        "ai.aidock.ready-path",
        "ai.aidock.memory",
        "ai.aidock.cpus",
        "ai.aidock.pids",
    ],
)
def test_missing_required_label_is_named(label: str) -> None:
    labels = {k: v for k, v in GOOD.items() if k != label}
    with pytest.raises(ManifestError) as err:
        AiManifest.from_labels(labels)
    assert err.value.label == label
    assert str(err.value) == f"label {label}: missing"


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("ai.aidock.schema-version", "extraction"),
        ("ai.aidock.port", "0"),
        ("ai.aidock.port", "http"),
        ("ai.aidock.ready-path", "readyz"),
        ("ai.aidock.memory", "lots"),
        ("ai.aidock.cpus", "-1"),
        ("ai.aidock.pids", "4"),
        ("ai.aidock.tmpfs", "/tmp:size=1m /tmp:size=2m"),
        ("ai.aidock.tmpfs", "/:size=1m"),
        ("ai.aidock.tmpfs", "/x:size=1m;rm -rf"),
        ("ai.aidock.start-timeout", "0"),
    ],
)
def test_bad_label_is_named(label: str, value: str) -> None:
    with pytest.raises(ManifestError) as err:
        AiManifest.from_labels({**GOOD, label: value})
    assert err.value.label == label, err.value


def test_tmpfs_syntax() -> None:
    text = "/a:size=1m /b"
    assert parse_tmpfs(text) == {"/a": "size=1m", "/b": ""}
    assert format_tmpfs(parse_tmpfs(text)) == text
    with pytest.raises(ValueError, match="path:options"):
        parse_tmpfs(":size=1m")
