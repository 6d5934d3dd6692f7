"""``aidock sbom`` over a fixture SBOM shaped like the signing role's (cyclonedx-py + debsbom),
and the merge of the role's in-image runner (roles/signing/files/image_sbom.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scriptfile import load_file

from aidock.cli import main
from aidock.sbom import NO_LICENCE, SbomError, read_sbom, summarize

FIXTURE = Path(__file__).parent / "data" / "sbom-rag.cdx.json"
RUNNER = Path(__file__).parents[2] / "roles" / "signing" / "files" / "image_sbom.py"
DIGEST_FILE = "sha256-" + "a" * 64 + ".cdx.json"


@pytest.fixture
def sbom_dir(tmp_path: Path) -> Path:
    """The build output as the role leaves it: the file by digest, sbom.cdx.json a link."""
    version = tmp_path / "rag" / "0.1.0"
    version.mkdir(parents=True)
    shutil.copy(FIXTURE, version / DIGEST_FILE)
    (version / "sbom.cdx.json").symlink_to(DIGEST_FILE)
    return tmp_path


def test_summary_counts_components_by_kind_and_licences() -> None:
    summary = summarize(json.loads(FIXTURE.read_text()))
    assert summary.total == 7
    assert dict(summary.kinds) == {"python": 4, "debian": 2, "debian-source": 1}
    # Trove classifiers are shortened, source packages do not count twice.
    assert dict(summary.licences) == {
        "BSD-3-Clause": 1,
        "Apache Software License": 1,
        "Apache-2.0": 1,
        "PSF-2.0": 1,
        NO_LICENCE: 2,
    }


def test_cli_prints_the_summary_and_writes_the_full_json(
    sbom_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rag.cdx.json"
    assert main(["sbom", "rag", "0.1.0", "--dir", str(sbom_dir), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "components: 7" in text and "python: 4" in text and "debian: 2" in text
    assert DIGEST_FILE in text  # the link resolved: the digest the SBOM describes
    assert "    2  (none declared)" in text
    assert json.loads(out.read_text()) == json.loads(FIXTURE.read_text())


def test_cli_json_summary(sbom_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", "rag", "0.1.0", "--dir", str(sbom_dir), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["components"] == 7 and body["kinds"]["debian-source"] == 1


def test_cli_names_a_missing_sbom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sbom", "rag", "9.9.9", "--dir", str(tmp_path)]) == 5
    err = capsys.readouterr().err
    assert "no SBOM of rag:9.9.9" in err and "playbooks/images.yml" in err


def test_a_document_that_is_not_cyclonedx_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rag" / "1").mkdir(parents=True)
    (tmp_path / "rag" / "1" / "sbom.cdx.json").write_text('{"spdxVersion": "SPDX-2.3"}')
    _, doc = read_sbom(tmp_path, "rag", "1")
    with pytest.raises(SbomError, match="not a CycloneDX"):
        summarize(doc)


def test_the_runner_merges_both_tools_into_one_document() -> None:
    runner = load_file(RUNNER)
    fixture = json.loads(FIXTURE.read_text())
    python = {"specVersion": "1.6", "components": fixture["components"][:4]}
    debian = {"specVersion": "1.7", "components": fixture["components"][4:]}
    merged = runner.merge(python, debian, "registry.example.org:5000/aidock/rag@sha256:x")
    summary = summarize(merged)
    assert dict(summary.kinds) == {"python": 4, "debian": 2, "debian-source": 1}
    assert summary.image.endswith("@sha256:x") and merged["specVersion"] == "1.7"
