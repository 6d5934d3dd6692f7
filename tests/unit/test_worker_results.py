"""The results log: rules of an existing output file, one line per document under threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from worker_agent import documents_in

from aidock.worker.results import ResultLog, ResultsError, load_results


def test_load_results_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    assert load_results(path) == {}
    path.write_text('{"document": "a", "ok": true}\n\n{"document": "a", "ok": false}\n')
    assert load_results(path) == {"a": {"document": "a", "ok": True}}
    path.write_text('{"document": "a"}\n{"no": "document"}\n')
    with pytest.raises(ResultsError, match=r"r\.jsonl:2 has no 'document'"):
        load_results(path)


def test_result_log_never_writes_a_document_twice(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultLog(path, {"old"}) as log:
        assert log.append({"document": "old", "ok": True}) is False
        threads = [
            threading.Thread(target=log.append, args=({"document": f"d{i % 50}", "ok": True},))
            for i in range(200)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    names = documents_in(path)
    assert sorted(names) == sorted(f"d{i}" for i in range(50))
