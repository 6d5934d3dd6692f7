"""save_bento: a real, offline BentoML build of the document AIs and its .bento archive."""

from __future__ import annotations

import json
import platform
import socket
from pathlib import Path

import pytest

pytest.importorskip("bentoml")
import bentoml

from aidock.ais.base import NotTrainedError, file_sha256
from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import generate
from aidock.ais.document import Document
from aidock.ais.extraction import ExtractionAI
from aidock.bento.archive import LABELS, MODEL_FILE, validate_archive
from aidock.bento.build import BentoBuild, BentoBuildError, save_bento
from aidock.cli import EXIT_OK, main

IMAGE_DIR = Path(__file__).resolve().parents[2] / "images" / "bento"
# One BentoML store per test session (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("bentoml_home")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HTTP(S) client that honours proxies now fails: a build must not need one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("UV_OFFLINE", "1")


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return generate(200, 1)


@pytest.fixture(scope="module")
def extraction(docs: list[Document]) -> ExtractionAI:
    return ExtractionAI(n_estimators=10).train(docs)


def test_save_bento_exports_a_valid_archive(
    extraction: ExtractionAI, tmp_path: Path, bentoml_home: Path, offline: None
) -> None:
    built = extraction.save_bento(tmp_path)
    assert isinstance(built, BentoBuild)
    assert built.archive is not None
    assert built.archive.parent == tmp_path
    assert built.archive.name == f"{built.tag.replace(':', '-')}.bento"
    report = validate_archive(built.archive)
    assert report.tag == built.tag
    assert report.model_sha256 == built.model_sha256

    bento = bentoml.bentos.get(built.tag)
    assert Path(bento.path).is_relative_to(bentoml_home)  # never the shared ~/bentoml
    labels = bento.info.labels
    assert labels[LABELS["schema_version"]] == "extraction/v1"
    assert labels[LABELS["model_sha256"]] == built.model_sha256
    assert labels[LABELS["ai_name"]] == "extraction"
    assert labels[LABELS["python_version"]] == platform.python_version()


def test_bento_carries_lock_python_dockerfile_and_model(extraction: ExtractionAI) -> None:
    built = extraction.save_bento()
    assert built.archive is None
    path = Path(bentoml.bentos.get(built.tag).path)
    lock = (IMAGE_DIR / "requirements.lock").read_bytes()
    assert (path / "src" / "requirements.lock").read_bytes() == lock
    assert b"--hash=sha256:" in lock
    dockerfile = (IMAGE_DIR / "Dockerfile").read_bytes()
    assert (path / "env" / "docker" / "Dockerfile.template").read_bytes() == dockerfile
    rendered = (path / "env" / "docker" / "Dockerfile").read_text()
    assert rendered.strip() == dockerfile.decode().strip()  # no Jinja in it: rendered verbatim
    assert (path / "env" / "python" / "version.txt").read_text() == platform.python_version()
    info = bentoml.bentos.get(built.tag).info
    assert info.python.lock_packages is False  # our lock is used as is: nothing re-resolved
    entry = (path / "src" / "aidock_service.py").read_text()
    assert built.model_sha256 in entry
    assert built.model_tag in entry

    model = bentoml.models.get(built.model_tag)
    artifact = model.path_of(MODEL_FILE)
    assert file_sha256(artifact) == built.model_sha256
    assert model.info.labels[LABELS["model_sha256"]] == built.model_sha256
    loaded = ExtractionAI.load(artifact, sha256=built.model_sha256)
    text = generate(1, 7)[0].text
    assert loaded.predict(text) == extraction.predict(text)


def test_relative_output_dir(
    extraction: ExtractionAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    built = save_bento(extraction, "bentos")
    assert built.archive is not None
    assert built.archive.parent == tmp_path / "bentos"
    assert built.archive.is_file()


def test_output_ending_in_bento_is_the_archive_file(
    extraction: ExtractionAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    built = extraction.save_bento(output_dir="path/to/archive.bento")
    assert built.archive == tmp_path / "path" / "to" / "archive.bento"
    assert built.archive.is_file()
    assert list((tmp_path / "path" / "to").iterdir()) == [built.archive]
    assert validate_archive(built.archive).tag == built.tag
    again = extraction.save_bento(output_dir=built.archive)  # the same file, rewritten
    assert again.archive == built.archive
    assert validate_archive(built.archive).tag == again.tag


def test_output_folder_gets_name_and_version(extraction: ExtractionAI, tmp_path: Path) -> None:
    built = extraction.save_bento(output_dir=tmp_path / "new" / "folder")
    assert built.archive == tmp_path / "new" / "folder" / f"{built.tag.replace(':', '-')}.bento"
    assert built.archive.is_file()


def test_output_ending_in_bento_that_is_a_folder_is_refused(
    extraction: ExtractionAI, tmp_path: Path
) -> None:
    (tmp_path / "x.bento").mkdir()
    with pytest.raises(BentoBuildError, match=r"x\.bento is a directory"):
        save_bento(extraction, tmp_path / "x.bento")
    assert list((tmp_path / "x.bento").iterdir()) == []


def test_same_model_is_stored_once(extraction: ExtractionAI) -> None:
    first, second = extraction.save_bento(), extraction.save_bento()
    assert first.model_tag == second.model_tag
    assert first.tag != second.tag


def test_untrained_ai_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotTrainedError):
        CategorizationAI().save_bento(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_lock_must_pin_the_pickling_scikit_learn(extraction: ExtractionAI, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("bentoml==1.4.40 \\\n    --hash=sha256:00\nscikit-learn==0.24.2\n")
    with pytest.raises(BentoBuildError, match=r"scikit-learn .* pins 0\.24\.2"):
        save_bento(extraction, tmp_path / "out", lockfile=lock)
    lock.write_text("bentoml==1.4.40\n")
    with pytest.raises(BentoBuildError, match="does not pin scikit-learn"):
        save_bento(extraction, lockfile=lock)
    with pytest.raises(BentoBuildError, match="not found"):
        save_bento(extraction, lockfile=tmp_path / "absent.lock")
    assert not (tmp_path / "out").exists()


def test_cli_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bento", "build", "--ai", "categorization", "--train-docs", "150"]
    code = main([*args, "--output", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    result = json.loads(out)
    assert result["schema_version"] == "categorization/v1"
    assert result["held_out_accuracy"] > 0.5
    report = validate_archive(result["archive"], existing=["extraction", "rag"])
    assert report.name == "categorization"
    assert report.model_sha256 == result["model_sha256"]
