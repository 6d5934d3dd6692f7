"""bench.agent's pure parts: the batch audit (lost and duplicated documents) and the inputs."""

from __future__ import annotations

import json
from pathlib import Path

from bench.agent import audit, sample_texts, write_documents


def _lines(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_audit_counts_lost_and_duplicated(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    _lines(
        output,
        [
            {"document": "a.txt", "ok": True, "elapsed_ms": 10},
            {"document": "b.txt", "ok": True, "elapsed_ms": 12},
            {"document": "b.txt", "ok": True, "elapsed_ms": 11},
            {"document": "z.txt", "ok": False},
        ],
    )
    result = audit(output, ["a.txt", "b.txt", "c.txt"])
    assert result["lost"] == 1
    assert result["duplicated"] == 1
    assert result["unexpected"] == ["z.txt"]
    assert (result["result_lines"], result["ok"]) == (4, 3)
    assert result["elapsed_ms"] == [10.0, 12.0, 11.0]


def test_audit_of_a_clean_batch(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    names = [f"doc-{i}.txt" for i in range(5)]
    _lines(output, [{"document": n, "ok": True, "elapsed_ms": 1} for n in names])
    result = audit(output, names)
    assert (result["lost"], result["duplicated"], result["unexpected"]) == (0, 0, [])


def test_documents_are_written_once_each_and_deterministic(tmp_path: Path) -> None:
    texts = sample_texts(3, seed=5)
    assert texts == sample_texts(3, seed=5)
    names = write_documents(texts, tmp_path)
    assert names == ["doc-00000.txt", "doc-00001.txt", "doc-00002.txt"]
    assert [(tmp_path / n).read_text(encoding="utf-8") for n in names] == texts
