"""Validation and import of .bento archives: one real Bento, and damaged copies of it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("bentoml")
import yaml  # BentoML brings PyYAML

import aidock.bento.playbooks as bento_playbooks
from aidock.ais.corpus import generate
from aidock.ais.extraction import ExtractionAI
from aidock.bento.archive import (
    DOCKERFILE_MEMBER,
    LABELS,
    LOCK_MEMBER,
    ArchiveError,
    lock_pins,
    missing_wheels,
    unpack_archive,
    validate_archive,
)
from aidock.bento.build import BentoBuild, save_bento
from aidock.bento.playbooks import import_argv, remove_argv
from aidock.cli import EXIT_OK, EXIT_USAGE, main

# One BentoML store per test session (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("bentoml_home")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, corpus_200: list) -> BentoBuild:
    ai = ExtractionAI(n_estimators=10).train(corpus_200)
    return save_bento(ai, tmp_path_factory.mktemp("archives"))


@pytest.fixture(scope="module")
def corpus_200() -> list:
    return generate(200, 1)


@pytest.fixture(scope="module")
def archive(built: BentoBuild) -> Path:
    assert built.archive is not None
    return built.archive


@pytest.fixture(scope="module")
def members(archive: Path) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive) as tar:
        return {
            m.name.removeprefix("./"): (m, tar.extractfile(m).read() if m.isfile() else None)  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


Rewrite = Callable[..., Path]


@pytest.fixture
def rewrite(members: dict[str, tuple[tarfile.TarInfo, bytes | None]], tmp_path: Path) -> Rewrite:
    """Write a copy of the archive without ``drop``, with ``replace``d and ``extra`` members."""

    def make(
        drop: tuple[str, ...] = (),
        replace: dict[str, bytes] | None = None,
        extra: tuple[tarfile.TarInfo, ...] = (),
        labels: dict[str, str | None] | None = None,
    ) -> Path:
        replace = dict(replace or {})
        if labels is not None:
            info = yaml.safe_load(members["bento.yaml"][1] or b"")
            for key, value in labels.items():
                if value is None:
                    info["labels"].pop(key, None)
                else:
                    info["labels"][key] = value
            replace["bento.yaml"] = yaml.safe_dump(info).encode()
        out = tmp_path / "copy.bento"
        with tarfile.open(out, "w") as tar:
            for name, (member, data) in members.items():
                if name in drop:
                    continue
                if name in replace:
                    data = replace[name]
                    member = tarfile.TarInfo(member.name)
                    member.size = len(data)
                tar.addfile(member, io.BytesIO(data) if data is not None else None)
            for member in extra:
                tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
        return out

    return make


@pytest.fixture
def wheelhouse(archive: Path, tmp_path: Path) -> Path:
    """A directory with a (dummy) wheel file for every pin of the archive's lock."""
    with tarfile.open(archive) as tar:
        lock = tar.extractfile(f"./{LOCK_MEMBER}").read().decode()  # type: ignore[union-attr]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name, version in lock_pins(lock).items():
        (wheels / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").touch()
    return wheels


def test_valid_archive_reports_what_it_holds(archive: Path, built: BentoBuild) -> None:
    report = validate_archive(archive)
    assert report.tag == built.tag
    assert report.name == "extraction"
    assert report.schema_version == "extraction/v1"
    assert report.model_sha256 == built.model_sha256
    assert report.model_member.startswith("models/extraction/")
    assert report.pins["bentoml"] == "1.4.40"
    assert report.pins["scikit-learn"]
    assert report.summary()["locked_packages"] == len(report.pins)


def test_wheelhouse_with_every_locked_wheel(archive: Path, wheelhouse: Path) -> None:
    assert validate_archive(archive, wheelhouse=wheelhouse, existing=["rag"]).name == "extraction"


def test_wheelhouse_missing_a_wheel(archive: Path, wheelhouse: Path) -> None:
    next(wheelhouse.glob("numpy-*.whl")).unlink()
    with pytest.raises(ArchiveError, match=r"lacks 1 locked wheel\(s\): numpy==") as err:
        validate_archive(archive, wheelhouse=wheelhouse)
    assert str(wheelhouse) in str(err.value)


def test_wheelhouse_must_exist(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        validate_archive(archive, wheelhouse=tmp_path / "nowhere")


def pack(wheels: Path) -> Path:
    """The wheelhouse as the ai_image role packs it: one tar, members ./<wheel>."""
    tarball = wheels.parent / "wheels.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(wheels, arcname=".")
    return tarball


def test_wheelhouse_tarball(archive: Path, wheelhouse: Path) -> None:
    assert validate_archive(archive, wheelhouse=pack(wheelhouse)).name == "extraction"
    next(wheelhouse.glob("numpy-*.whl")).unlink()
    with pytest.raises(ArchiveError, match=r"lacks 1 locked wheel\(s\): numpy=="):
        validate_archive(archive, wheelhouse=pack(wheelhouse))


def test_wheelhouse_file_that_is_no_tar(archive: Path, tmp_path: Path) -> None:
    bad = tmp_path / "wheels.tar"
    bad.write_bytes(b"no tar" * 200)
    with pytest.raises(ArchiveError, match="is not a readable tar"):
        validate_archive(archive, wheelhouse=bad)


@pytest.mark.parametrize("content", [b"", b"not a tar at all" * 100])
def test_unreadable_tar(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.bento"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        validate_archive(path)


def test_truncated_archive(archive: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.bento"
    path.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ArchiveError, match=r"(not a readable|damaged) tar archive"):
        validate_archive(path)


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        validate_archive(tmp_path / "absent.bento")


def test_missing_model(rewrite: Rewrite, archive: Path) -> None:
    member = validate_archive(archive).model_member
    with pytest.raises(ArchiveError, match=f"missing model file \\({member}\\)"):
        validate_archive(rewrite(drop=(member,)))


def test_tampered_model(rewrite: Rewrite, archive: Path) -> None:
    member = validate_archive(archive).model_member
    with pytest.raises(ArchiveError, match=r"sha256 \w+ does not match the declared"):
        validate_archive(rewrite(replace={member: b"not the model"}))


def test_unknown_schema_version(rewrite: Rewrite) -> None:
    bad = rewrite(labels={LABELS["schema_version"]: "extraction/v9"})
    with pytest.raises(ArchiveError, match="unknown schema version 'extraction/v9'"):
        validate_archive(bad)


def test_missing_schema_version(rewrite: Rewrite) -> None:
    with pytest.raises(ArchiveError, match=r"no label ai\.aidock\.schema-version"):
        validate_archive(rewrite(labels={LABELS["schema_version"]: None}))


def test_missing_bento_yaml(rewrite: Rewrite) -> None:
    with pytest.raises(ArchiveError, match=r"missing bento.yaml"):
        validate_archive(rewrite(drop=("bento.yaml",)))


@pytest.mark.parametrize("existing", [["extraction"], ["rag", "EXTRACTION"]])
def test_name_clash(archive: Path, existing: list[str]) -> None:
    with pytest.raises(ArchiveError, match="'extraction' clashes with an existing AI"):
        validate_archive(archive, existing=existing)


def test_renamed_ai_is_checked_under_its_new_name(archive: Path) -> None:
    report = validate_archive(archive, existing=["extraction", "rag"], deploy_as="invoice-fields")
    assert (report.name, report.ai_name, report.deploy_as) == (
        "extraction",
        "invoice-fields",
        "invoice-fields",
    )
    assert report.summary()["ai_name"] == "invoice-fields"
    assert report.image_tag == f"{report.ai_version or '0'}-{report.version}"
    assert report.summary()["image_tag"] == report.image_tag
    with pytest.raises(ArchiveError, match=r"'rag' \(Bento 'extraction'\) clashes") as err:
        validate_archive(archive, existing=["Rag"], deploy_as="rag")
    assert "another name" in str(err.value)


@pytest.mark.parametrize("name", ["Invoice", "-x", "a_b", "x" * 64, ""])
def test_invalid_ai_name(archive: Path, name: str) -> None:
    with pytest.raises(ArchiveError, match="is not valid"):
        validate_archive(archive, deploy_as=name)


def test_bento_name_that_is_no_ai_name(
    rewrite: Rewrite, members: dict[str, tuple[tarfile.TarInfo, bytes | None]]
) -> None:
    info = yaml.safe_load(members["bento.yaml"][1] or b"")
    info["name"] = "my_bento"
    bad = rewrite(replace={"bento.yaml": yaml.safe_dump(info).encode()})
    with pytest.raises(ArchiveError, match="'my_bento' is not a valid AI name"):
        validate_archive(bad)
    assert validate_archive(bad, deploy_as="my-bento").ai_name == "my-bento"


def test_tampered_lock_and_dockerfile(rewrite: Rewrite) -> None:
    with pytest.raises(ArchiveError, match=f"lock file {LOCK_MEMBER}: sha256"):
        validate_archive(rewrite(replace={LOCK_MEMBER: b"bentoml==1.4.40\n"}))
    with pytest.raises(ArchiveError, match=f"Dockerfile {DOCKERFILE_MEMBER}: sha256"):
        validate_archive(rewrite(replace={DOCKERFILE_MEMBER: b"FROM debian\n"}))


def test_lock_without_hashes(rewrite: Rewrite) -> None:
    lock = b"bentoml==1.4.40\nscikit-learn==1.9.1\n"
    bad = rewrite(
        replace={LOCK_MEMBER: lock},
        labels={LABELS["lock_sha256"]: hashlib.sha256(lock).hexdigest()},
    )
    with pytest.raises(ArchiveError, match="has no hashes"):
        validate_archive(bad)


def test_members_outside_the_archive_or_links(rewrite: Rewrite) -> None:
    escape = tarfile.TarInfo("../evil.sh")
    escape.size = 3
    with pytest.raises(ArchiveError, match="points outside the archive"):
        validate_archive(rewrite(extra=(escape,)))
    link = tarfile.TarInfo("src/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ArchiveError, match="is a link or device"):
        validate_archive(rewrite(extra=(link,)))


def test_lock_pins_and_wheel_names(tmp_path: Path) -> None:
    lock = (
        "# comment\nbentoml==1.4.40 \\\n    --hash=sha256:ab\n"
        "scikit_learn==1.9.1 ; python_version >= '3.11'\nuvicorn[standard]==0.30.0\n"
        "    # via bentoml\n"
    )
    pins = lock_pins(lock)
    assert pins == {"bentoml": "1.4.40", "scikit-learn": "1.9.1", "uvicorn": "0.30.0"}
    (tmp_path / "scikit_learn-1.9.1-cp311-cp311-manylinux_2_17_x86_64.whl").touch()
    (tmp_path / "bentoml-1.4.39-py3-none-any.whl").touch()
    assert missing_wheels(pins, tmp_path) == ["bentoml==1.4.40", "uvicorn==0.30.0"]


def test_unpack_is_all_or_nothing(archive: Path, tmp_path: Path) -> None:
    dest = unpack_archive(archive, tmp_path / "ctx" / "bento")
    assert (dest / "bento.yaml").is_file()
    assert (dest / validate_archive(archive).model_member).is_file()
    with pytest.raises(ArchiveError, match="already exists"):
        unpack_archive(archive, dest)
    bad = tmp_path / "bad.bento"
    bad.write_bytes(b"garbage")
    with pytest.raises(ArchiveError):
        unpack_archive(bad, tmp_path / "other" / "bento")
    assert not (tmp_path / "other" / "bento").exists()
    assert list((tmp_path / "other").iterdir()) == []  # no staging directory left


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_validate(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["bento", "validate", str(archive), "--json"], capsys)
    assert code == EXIT_OK
    assert json.loads(out)["schema_version"] == "extraction/v1"
    code, out, err = run(["bento", "validate", str(archive), "--existing", "extraction"], capsys)
    assert code == 1
    assert not out
    assert "clashes with an existing AI" in err


def test_cli_import_context_only_unpacks_a_build_context(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "builds"
    args = ["bento", "import", str(archive), "--context-only", str(dest), "--json"]
    code, out, err = run(args, capsys)
    assert code == EXIT_OK, err
    plan = json.loads(out)
    context = Path(plan["context"])
    assert context.parent == dest
    assert (context / "bento" / "bento.yaml").is_file()
    assert (context / "bento.tar").read_bytes() == archive.read_bytes()  # the site's Dockerfile
    assert (context / "app").is_dir()
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile == (context / "bento" / DOCKERFILE_MEMBER).read_text()
    assert "--require-hashes" in dockerfile
    assert plan["build_args"]["SCHEMA_VERSION"] == "extraction/v1"
    assert plan["image"].startswith("aidock/extraction:")
    assert plan["command"].startswith("docker build -t aidock/extraction:")
    code, _, err = run(args, capsys)
    assert code == 1
    assert "already exists" in err
    code, out, err = run([*args[:4], str(tmp_path / "other"), "--version", "7", "--json"], capsys)
    assert code == EXIT_OK, err
    assert json.loads(out)["image"] == "aidock/extraction:7"


def test_cli_import_writes_nothing_when_invalid(
    rewrite: Rewrite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = rewrite(labels={LABELS["schema_version"]: "rag/v7"})
    dest = tmp_path / "builds"
    code, out, err = run(["bento", "import", str(bad), "--context-only", str(dest)], capsys)
    assert code == 1
    assert "unknown schema version 'rag/v7'" in err
    assert not out
    assert not dest.exists()
    code, _, err = run(
        ["bento", "import", str(bad), "--context-only", str(dest), "--dockerfile",
         str(tmp_path / "none")],
        capsys,
    )  # fmt: skip
    assert code == EXIT_USAGE
    assert "not found" in err


def test_cli_import_under_another_name(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "builds"
    args = ["bento", "import", str(archive), "--context-only", str(dest), "--json"]
    code, out, err = run([*args, "--name", "invoice-fields", "--existing", "extraction"], capsys)
    assert code == EXIT_OK, err
    plan = json.loads(out)
    assert Path(plan["context"]).name.startswith("invoice-fields-")
    assert plan["image"] == f"aidock/invoice-fields:{plan['image_tag']}"
    assert plan["build_args"]["AI_NAME"] == "invoice-fields"
    code, _, err = run([*args, "--name", "Bad_Name"], capsys)
    assert code == 1
    assert "'Bad_Name' is not valid" in err


def test_import_argv(tmp_path: Path) -> None:
    argv = import_argv(
        tmp_path, "x.bento", name="sorter", port=3013, deploy=True,
        result_file="/tmp/r.json", ansible_playbook="/venv/ansible-playbook",
    )  # fmt: skip
    assert argv[:4] == [
        "/venv/ansible-playbook",
        "-i",
        str(tmp_path / "inventories/local"),
        str(tmp_path / "playbooks/import_bento.yml"),
    ]
    assert argv[4] == "--extra-vars"
    assert json.loads(argv[5]) == {
        "bento_archive": str(Path("x.bento").resolve()),
        "bento_deploy": True,
        "bento_ai_name": "sorter",
        "bento_port": 3013,
        "bento_result_file": "/tmp/r.json",
    }
    argv = import_argv(tmp_path, "/a/x.bento", inventory="/inv/site", version="2")
    assert argv[2] == "/inv/site"
    assert json.loads(argv[5]) == {
        "bento_archive": "/a/x.bento",
        "bento_deploy": False,
        "bento_version": "2",
    }


def test_remove_argv(tmp_path: Path) -> None:
    argv = remove_argv(tmp_path, "sorter", ansible_playbook="/venv/ansible-playbook")
    assert argv[3] == str(tmp_path / "playbooks/remove_ai.yml")
    assert json.loads(argv[5]) == {"ai_name": "sorter"}
    argv = remove_argv(tmp_path, "sorter", version="1-abc", result_file="/tmp/r.json")
    assert json.loads(argv[5]) == {
        "ai_name": "sorter",
        "ai_version": "1-abc",
        "ai_result_file": "/tmp/r.json",
    }


class FakeRun:
    """Stands in for subprocess.run of ansible-playbook; writes the result a play would."""

    def __init__(self, returncode: int, result: dict[str, Any] | None = None) -> None:
        self.returncode = returncode
        self.result = result
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, argv: list[str], **kwargs: object) -> object:
        self.calls.append((argv, kwargs))
        extra = json.loads(argv[5])
        target = extra.get("bento_result_file") or extra.get("ai_result_file")
        if self.returncode == 0 and self.result is not None and target:
            Path(target).write_text(json.dumps(self.result))
        return type("Done", (), {"returncode": self.returncode})()

    @property
    def extra(self) -> dict[str, Any]:
        [(argv, _)] = self.calls
        return json.loads(argv[5])


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with the import and remove playbooks, named by $AIDOCK_PROJECT_DIR."""
    root = tmp_path / "checkout"
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "import_bento.yml").write_text("---\n")
    (root / "playbooks" / "remove_ai.yml").write_text("---\n")
    monkeypatch.setenv("AIDOCK_PROJECT_DIR", str(root))
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    return root


def imported(deployed: bool) -> dict[str, Any]:
    """What playbooks/import_bento.yml writes into bento_result_file."""
    return {
        "name": "fields",
        "version": "0.1.0-abc",
        "image": "localhost:5000/aidock/fields:0.1.0-abc",
        "bento": "extraction:abc",
        "schema_version": "extraction/v1",
        "deployed": deployed,
        "url": "http://127.0.0.1:3013" if deployed else "",
        "project_dir": "/opt/aidock/stacks/fields" if deployed else "",
        "agent_compose": "/opt/aidock/stacks/agent/compose.yaml",
    }


@pytest.mark.parametrize("deploy", [False, True], ids=["push-only", "deploy"])
def test_cli_import_runs_the_playbook_and_says_what_it_pushed(
    archive: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    deploy: bool,
) -> None:
    fake = FakeRun(0, imported(deploy))
    monkeypatch.setattr(bento_playbooks.subprocess, "run", fake)
    args = ["bento", "import", str(archive), "--name", "fields"]
    args += ["--deploy", "--port", "3013"] if deploy else []
    code, out, err = run(args, capsys)
    assert code == EXIT_OK, err
    [(argv, kwargs)] = fake.calls
    assert argv[3] == str(project / "playbooks/import_bento.yml")
    assert fake.extra["bento_deploy"] is deploy
    assert fake.extra.get("bento_port") == (3013 if deploy else None)
    assert kwargs["cwd"] == project
    assert kwargs["env"]["ANSIBLE_CONFIG"] == str(project / "ansible.cfg")
    assert "running: " in err
    assert not Path(fake.extra["bento_result_file"]).exists()  # a temporary file, gone
    lines = out.splitlines()
    assert lines[0] == "pushed: localhost:5000/aidock/fields:0.1.0-abc"
    stack = "stack: http://127.0.0.1:3013 (compose project /opt/aidock/stacks/fields)"
    assert (stack in lines) is deploy
    assert (
        "  docker compose -f /opt/aidock/stacks/agent/compose.yaml run --rm -T worker run "
        "--ai fields --version 0.1.0-abc --input /input --output /output/fields.jsonl"
    ) in lines
    assert '  or POST /v1/instances {"ai": "fields", "version": "0.1.0-abc"}' in lines
    assert lines[-1] == "remove it: aidock bento remove fields --version 0.1.0-abc"


def test_cli_import_json(
    archive: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(bento_playbooks.subprocess, "run", FakeRun(0, imported(False)))
    code, out, err = run(["bento", "import", str(archive), "--json", "--version", "7"], capsys)
    assert code == EXIT_OK, err
    result = json.loads(out)
    assert result["image"] == "localhost:5000/aidock/fields:0.1.0-abc"
    assert result["agent_request"]["api"].startswith("POST /v1/instances")


@pytest.mark.parametrize(
    ("returncode", "result", "message"),
    [(2, None, "import_bento.yml failed (exit 2)"), (0, None, "left no readable result")],
)
def test_cli_import_playbook_failures(
    archive: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    returncode: int,
    result: dict[str, Any] | None,
    message: str,
) -> None:
    monkeypatch.setattr(bento_playbooks.subprocess, "run", FakeRun(returncode, result))
    code, out, err = run(["bento", "import", str(archive)], capsys)
    assert code == 1
    assert message in err
    assert not out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--port", "3013"], "--port is the port of the stack --deploy starts"),
        (["--dockerfile", "Dockerfile"], "--dockerfile goes with --context-only"),
        (["--context-only", "x", "--deploy"], "--context-only only unpacks"),
        (["--version", "bad tag!"], "is not an image tag"),
    ],
)
def test_cli_import_usage_errors(
    archive: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    fake = FakeRun(0)
    monkeypatch.setattr(bento_playbooks.subprocess, "run", fake)
    code, _, err = run(["bento", "import", str(archive), *extra], capsys)
    assert code == EXIT_USAGE
    assert message in err
    assert fake.calls == []


@pytest.mark.parametrize("deploy", [[], ["--deploy"]], ids=["push-only", "deploy"])
def test_cli_import_stops_at_an_invalid_archive(
    rewrite: Rewrite,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    deploy: list[str],
) -> None:
    fake = FakeRun(0)
    monkeypatch.setattr(bento_playbooks.subprocess, "run", fake)
    bad = rewrite(labels={LABELS["schema_version"]: "rag/v7"})
    code, _, err = run(["bento", "import", str(bad), *deploy], capsys)
    assert code == 1
    assert "unknown schema version 'rag/v7'" in err
    assert fake.calls == []
    (project / "playbooks" / "import_bento.yml").unlink()
    code, _, err = run(["bento", "import", str(bad), *deploy], capsys)
    assert code == EXIT_USAGE
    assert "AIDOCK_PROJECT_DIR" in err


@pytest.mark.parametrize(
    ("args", "result", "expected"),
    [
        (
            ["sorter"],
            {"name": "sorter", "removed_tags": ["1", "2"], "stack_removed": True},
            ["removed: sorter: tags 1, 2", "stack: stopped and removed"],
        ),
        (
            ["sorter", "--version", "2"],
            {"name": "sorter", "removed_tags": [], "stack_removed": False},
            ["removed: sorter: no tag (none left in the registry)", "stack: none"],
        ),
    ],
    ids=["every-tag", "already-gone"],
)
def test_cli_remove_runs_the_playbook(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    result: dict[str, Any],
    expected: list[str],
) -> None:
    fake = FakeRun(0, result)
    monkeypatch.setattr(bento_playbooks.subprocess, "run", fake)
    code, out, err = run(["bento", "remove", *args], capsys)
    assert code == EXIT_OK, err
    [(argv, _)] = fake.calls
    assert argv[3] == str(project / "playbooks/remove_ai.yml")
    assert fake.extra["ai_name"] == "sorter"
    assert fake.extra.get("ai_version") == ("2" if "--version" in args else None)
    lines = out.splitlines()
    assert lines[:2] == expected
    assert "playbooks/registry_gc.yml reclaims the space" in lines[2]
    code, out, _ = run(["bento", "remove", *args, "--json"], capsys)
    assert json.loads(out)["reclaim_space"].endswith("playbooks/registry_gc.yml")


def test_cli_remove_failures(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeRun(2)
    monkeypatch.setattr(bento_playbooks.subprocess, "run", fake)
    code, _, err = run(["bento", "remove", "extraction"], capsys)
    assert code == 1
    assert "remove_ai.yml failed (exit 2)" in err
    for bad in (["Bad_Name"], ["ok", "--version", "bad tag!"]):
        code, _, err = run(["bento", "remove", *bad], capsys)
        assert code == EXIT_USAGE, bad
    assert len(fake.calls) == 1
    (project / "playbooks" / "remove_ai.yml").unlink()
    code, _, err = run(["bento", "remove", "sorter"], capsys)
    assert code == EXIT_USAGE
    assert "AIDOCK_PROJECT_DIR" in err


def test_lock_pins_and_wheels_compare_as_packaging_does(tmp_path: Path) -> None:
    lock = "Flask_Cors==4.0 --hash=sha256:ab  # one line\n-e .\nx @ https://h/x.whl\nlib>=1\n"
    pins = lock_pins(lock)
    assert pins == {"flask-cors": "4.0"}
    (tmp_path / "flask_cors-4.0.0-py3-none-any.whl").touch()  # 4.0.0 == 4.0 (PEP 440)
    (tmp_path / "not-a-wheel.whl").touch()
    assert missing_wheels(pins, tmp_path) == []
