"""``list_documents``: which files of the input directory are documents."""

from __future__ import annotations

from pathlib import Path

from worker_agent import make_docs

from aidock.worker.inputs import list_documents
from aidock.worker.results import summary_path


def test_list_documents_skips_hidden_files_and_the_output(tmp_path: Path) -> None:
    docs = make_docs(tmp_path, 4)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    out = tmp_path / "results.jsonl"
    out.write_text("")
    summary_path(out).write_text("{}")
    names = [d.relpath for d in list_documents(docs, exclude=out)]
    assert names == ["doc01.txt", "doc02.txt", "sub/doc00.txt", "sub/doc03.txt"]
