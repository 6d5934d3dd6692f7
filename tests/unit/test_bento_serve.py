"""aidock.bento.serve (one-process launcher) and aidock.bento.warmup (byte-code pruning)."""

from __future__ import annotations

import socket
import types
from pathlib import Path

import pytest
from pydantic import BaseModel

from aidock.bento import serve, warmup


def test_worker_args_are_those_of_worker_one(tmp_path: Path) -> None:
    assert serve.worker_args(tmp_path, 7, 64) == [
        str(tmp_path),
        "--fd",
        "7",
        "--backlog",
        "64",
        "--worker-id",
        "1",
    ]


def test_metrics_dir_is_created_and_emptied_of_old_counters(tmp_path: Path) -> None:
    target = tmp_path / "a" / "prom"
    assert serve.prepare_metrics_dir({serve.PROMETHEUS_ENV: str(target)}) == target
    assert target.is_dir()
    (target / "counter_1.db").write_bytes(b"x")
    (target / "keep.txt").write_text("x")
    serve.prepare_metrics_dir({serve.PROMETHEUS_ENV: str(target)})
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert serve.prepare_metrics_dir({}) is None


def test_bind_listens_on_loopback_and_is_inheritable() -> None:
    sock = serve.bind("127.0.0.1", 0, 8)
    try:
        assert sock.get_inheritable()
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        sock.close()


def test_serve_refuses_a_directory_without_bento_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve.main([str(tmp_path), "--port", "0"]) == 2
    assert "no bento.yaml" in capsys.readouterr().err


def test_serve_reports_a_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bento.yaml").write_text("name: x\n")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        assert serve.main([str(tmp_path), "--host", "127.0.0.1", "--port", port]) == 2
    assert "cannot listen" in capsys.readouterr().err


class _Request(BaseModel):
    text: str
    count: int
    note: str = "optional"


def test_sample_payload_fills_required_simple_fields() -> None:
    assert warmup.sample_payload(_Request) == {"text": warmup.SAMPLE_TEXT, "count": 1}
    assert warmup.sample_payload(object) == {}


def _pyc(package: Path, module: str, size: int) -> Path:
    cache = package / "__pycache__"
    cache.mkdir(parents=True, exist_ok=True)
    (package / f"{module}.py").write_text("x = 1\n")
    pyc = cache / f"{module}.cpython-311.pyc"
    pyc.write_bytes(b"\0" * size)
    return pyc


def test_prune_keeps_only_the_bytecode_of_imported_modules(tmp_path: Path) -> None:
    used = _pyc(tmp_path / "pkg", "used", 10)
    unused = _pyc(tmp_path / "pkg", "unused", 30)
    init = _pyc(tmp_path / "pkg", "__init__", 5)
    keep = warmup.imported_sources(
        [
            types.SimpleNamespace(__file__=str(tmp_path / "pkg" / "used.py")),
            types.SimpleNamespace(__file__=str(tmp_path / "pkg" / "__init__.py")),
            types.SimpleNamespace(__file__="/somewhere/ext.cpython-311-x86_64-linux-gnu.so"),
            types.SimpleNamespace(),
        ]
    )
    assert warmup.source_of(used) == (tmp_path / "pkg" / "used.py").resolve()

    dry = warmup.prune_bytecode(tmp_path, keep, dry_run=True)
    assert (dry.kept_files, dry.removed_files, dry.removed_bytes) == (2, 1, 30)
    assert unused.exists()

    report = warmup.prune_bytecode(tmp_path, keep)
    assert (report.kept_bytes, report.removed_bytes) == (15, 30)
    assert used.exists() and init.exists() and not unused.exists()


def test_warmup_refuses_a_directory_without_bento_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert warmup.main([str(tmp_path)]) == 2
    assert "no bento.yaml" in capsys.readouterr().err


def test_warmup_prunes_every_tree_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The venv and the aidock wheel staged apart (its own image layer) are both pruned."""
    venv_pyc = _pyc(tmp_path / "venv" / "lib" / "dep", "never_imported", 7)
    app_pyc = _pyc(tmp_path / "app" / "lib" / "aidock", "never_imported", 3)
    bento = tmp_path / "bento"
    bento.mkdir()
    (bento / "bento.yaml").write_text("name: x\n")
    monkeypatch.setattr(warmup, "exercise", lambda _bento: None)
    argv = [str(bento), "--venv", str(tmp_path / "venv"), "--venv", str(tmp_path / "app")]
    assert warmup.main(argv) == 0
    assert not venv_pyc.exists() and not app_pyc.exists()
    out = capsys.readouterr().out
    assert f"under {tmp_path / 'venv'}" in out and f"under {tmp_path / 'app'}" in out
