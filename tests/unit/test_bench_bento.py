"""The ``bento`` bench suite: bentofile, wheelhouse staging, load generator, ratios, reports."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from bench import bento
from bench.__main__ import SUITES, select
from bench.bentoml_default import (
    app_requirement,
    dockerfile_steps,
    find_archive,
    inputs_digest,
    render_bentofile,
    requirements_txt,
    serve_directory,
    stage_wheels,
)
from bench.common import BenchError
from bench.load import run_load


def test_suite_is_registered_with_its_parts() -> None:
    assert bento.BENTO in SUITES
    ((suite, parts),) = select("bento", None)
    assert [p.name for p in parts] == ["sizes", "coldstart", "throughput"]
    assert select(None, "bento/throughput") == [(suite, [suite.part("throughput")])]


def test_bentofile_carries_the_wheelhouse_options() -> None:
    text = render_bentofile("aidock_service:Extraction", "extraction", "http://127.0.0.1:8123/")
    data = yaml.safe_load(text)
    assert data["service"] == "aidock_service:Extraction"
    assert data["include"] == ["aidock_service.py", "requirements.txt"]
    assert data["python"] == {
        "requirements_txt": "requirements.txt",
        "lock_packages": False,
        "no_index": True,
        "find_links": ["http://127.0.0.1:8123/"],
    }
    envs = {e["name"]: e["value"] for e in data["envs"]}
    assert envs == {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "http://127.0.0.1:8123/"}
    assert data["docker"] == {"distro": "debian", "python_version": "3.11"}
    assert "dockerfile_template" not in data["docker"]  # BentoML's default Dockerfile


def test_requirements_add_the_app_to_the_lock() -> None:
    lock = "a==1 \\\n    --hash=sha256:00\n"
    assert (
        requirements_txt(lock, "aidock==0.1.0") == "a==1 \\\n    --hash=sha256:00\naidock==0.1.0\n"
    )
    assert app_requirement(Path("x/aidock-0.1.0-py3-none-any.whl")) == "aidock==0.1.0"
    with pytest.raises(BenchError):
        app_requirement(Path("aidock.tar.gz"))


def test_find_archive_picks_the_named_bento(tmp_path: Path) -> None:
    for digest in ("aaa", "bbb"):
        (tmp_path / f"extraction-{digest}" / "archive").mkdir(parents=True)
    wanted = tmp_path / "extraction-bbb" / "archive" / "extraction-v2.bento"
    wanted.write_bytes(b"x")
    (tmp_path / "extraction-aaa" / "archive" / "extraction-v1.bento").write_bytes(b"x")
    assert find_archive("extraction:v2", tmp_path) == wanted
    with pytest.raises(BenchError, match="no archive"):
        find_archive("extraction:v3", tmp_path)
    with pytest.raises(BenchError, match="not a Bento tag"):
        find_archive("extraction", tmp_path)


def test_inputs_digest_is_order_independent_and_sensitive() -> None:
    one = inputs_digest({"a": "1", "b": "2"})
    assert one == inputs_digest({"b": "2", "a": "1"})
    assert one != inputs_digest({"a": "1", "b": "3"})


def test_dockerfile_steps_keep_from_and_run() -> None:
    text = "# c\nFROM python:3.11-slim AS base\nENV A=1\nRUN apt-get update && x\nCOPY . ./\n"
    assert dockerfile_steps(text, width=20) == ["FROM python:3.11-sli", "RUN apt-get update &"]


def test_stage_wheels_and_serve_them(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wh.tar"
    with tarfile.open(wheelhouse, "w") as tar:
        info = tarfile.TarInfo("a-1-py3-none-any.whl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    extra = tmp_path / "uv-0.13.4-py3-none-any.whl"
    extra.write_bytes(b"uv")
    target = stage_wheels(wheelhouse, [extra], tmp_path / "wheels")
    assert sorted(p.name for p in target.iterdir()) == [
        "a-1-py3-none-any.whl",
        "uv-0.13.4-py3-none-any.whl",
    ]
    with serve_directory(target) as url:
        assert url.startswith("http://127.0.0.1:")
        listing = requests.get(url, timeout=5)
        assert "uv-0.13.4-py3-none-any.whl" in listing.text
        assert requests.get(url + "a-1-py3-none-any.whl", timeout=5).content == b"abc"


def test_run_load_counts_successes_and_failures() -> None:
    seen: list[int] = []

    def call(index: int) -> None:
        seen.append(index)
        time.sleep(0.001)
        if index % 10 == 3:
            raise BenchError("HTTP 500")

    result = run_load(call, concurrency=4, count=40, warmup=5)
    assert sorted(seen) == list(range(45))
    assert result["ok"] + result["errors"] == 40
    assert result["errors"] == 4  # indices 13, 23, 33, 43 of the recorded ones
    assert result["error_messages"][0] == "BenchError: HTTP 500"
    assert result["latency_s"]["n"] == 36
    assert result["requests_per_s"] > 0
    with pytest.raises(ValueError):
        run_load(call, concurrency=0, count=1)


def test_size_ratios_and_goals() -> None:
    r = bento.size_ratios(ours=400, theirs=1400, standin=370, base=100)
    assert r["ours_vs_theirs"] == pytest.approx(400 / 1400)
    assert r["ours_vs_theirs_on_our_base"] == pytest.approx(400 / 1130)
    assert r["ours_added_vs_theirs_added"] == pytest.approx(300 / 1030)
    assert bento.verdict(0.29, 0.30, at_most=True) == "met"
    assert bento.verdict(0.31, 0.30, at_most=True) == "missed"
    assert bento.verdict(0.6, 0.5, at_most=False) == "met"
    assert bento.verdict(None, 0.5, at_most=False) == "n/a"
    assert bento.goal_text(0.25, 0.3, True) == "**0.25x** (goal <= 0.30x: met)"


def _level(concurrency: int, rate: float) -> dict[str, Any]:
    return {
        "concurrency": concurrency,
        "requests": 100,
        "ok": 100,
        "requests_per_s": rate,
        "latency_s": {"p50": 0.02, "p95": 0.05, "max": 0.1, "median": 0.02},
    }


def _image(ref: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "size_bytes": size, "layers": 3, "user": "root", **extra}


def test_reports_render_from_results() -> None:
    sizes = {
        "images": {
            "ours": _image(bento.OURS_IMAGE, 400, tools=[], base="b", added_bytes=300),
            "theirs": _image(bento.THEIRS_IMAGE, 1400, tools=["gcc", "git"]),
            "standin": _image("python:3.11-slim", 370),
            "python-base": _image("aidock/python-base", 100),
        },
        "ratios": bento.size_ratios(400, 1400, 370, 100),
        "their_build": {
            "their_bento": "extraction:default-x",
            "our_bento": "extraction:y",
            "bentoml_version": "1.4.40",
            "built": False,
            "inputs_digest": "0" * 64,
            "dockerfile_steps": ["FROM python:3.11-slim AS base-container"],
        },
    }
    text = bento.render_sizes(sizes)
    assert "gcc git" in text and "goal <= 0.30x: met" in text and "FROM python:3.11-slim" in text
    assert bento._sizes_headline(sizes)[0][3].startswith("**0.29x**")

    ready = {"median": 2.0, "min": 1.5, "max": 3.0}
    coldstart = {
        "repeat": 5,
        "summaries": {
            key: {
                "title": key,
                "image": key,
                "ready_s": ready,
                **dict.fromkeys(("first_response_s", "start_s"), ready),
            }
            for key in ("ours", "theirs")
        },
        "ratios": {"ours_vs_theirs": 0.5},
    }
    assert "goal <= 0.60x: met" in bento.render_coldstart(coldstart)

    throughput = {
        "concurrency": 8,
        "documents": {"count": 32, "seed": 1, "chars": {"median": 900.0}},
        "in_process": {"1": _level(1, 100.0), "8": _level(8, 120.0)},
        "in_process_best_per_s": 120.0,
        "served": {"ours": _level(8, 70.0)},
        "errors": {"theirs": "container exited"},
        "ratios": {
            "ours_served_vs_in_process": 70.0 / 120.0,
            "theirs_served_vs_in_process": None,
            "ours_vs_theirs_served": None,
        },
    }
    text = bento.render_throughput(throughput)
    assert "goal >= 0.50x: met" in text and "could not be measured" in text
    assert bento._throughput_headline(throughput)[1][2] == "failed"
