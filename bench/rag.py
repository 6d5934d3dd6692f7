"""The ``rag`` suite: retrieval and answer quality of the RAG AI on a fixed question set.

``bench/rag_questions.yaml`` (written before any tuning, never edited to fit results) asks
questions over ``data/docs``. For each variant (the hashing embedder, WordLlama dense, and
WordLlama + BM25 hybrid) the suite builds a Chroma store in a temporary directory with the
service's own code (``aidock.rag.store.RagStore``, ``aidock.rag.answer``), ingests the 10
documents (index time) and asks every question (latency = retrieval + offline answer, the
work of one ``/query`` request without HTTP). No Docker: it runs in the controller's venv.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from aidock.rag.config import RagConfig
from aidock.rag.documents import load_directory
from aidock.schemas.rag import DocumentIn
from bench.common import BENCH_DIR, DOCS_DIR, BenchError, Context, md_table, percentile
from bench.report import Part, Suite

QUESTIONS = BENCH_DIR / "rag_questions.yaml"
TOP_K = 3
WARMUP = 3
# (name, RAG_EMBEDDER, RAG_RETRIEVAL)
VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("hashing (old default)", "hashing", "dense"),
    ("wordllama dense (new default)", "wordllama", "dense"),
    ("wordllama + BM25 hybrid", "wordllama", "hybrid"),
)
GOALS = {"recall_at_3": 0.9, "answer_hit": 0.8, "latency_p95_ms": 50.0}

Result = dict[str, Any]


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The question set; each has question, kind, sources and answer."""
    items = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    for item in items:
        if not {"question", "kind", "sources", "answer"} <= set(item):
            raise BenchError(f"{path}: incomplete question {item!r}")
    return items


def score_variant(
    questions: list[dict[str, Any]],
    ask: Callable[[str], tuple[list[str], str]],
) -> Result:
    """Recall@1/@3 of an expected source, answer-phrase hits and latencies of ``ask``
    (question -> (sources of the passages best first, answer))."""
    for item in questions[:WARMUP]:
        ask(item["question"])
    rows, latencies = [], []
    for item in questions:
        started = time.perf_counter()
        sources, answer = ask(item["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        expected = set(item["sources"])
        rows.append(
            {
                "question": item["question"],
                "kind": item["kind"],
                "at_1": bool(sources[:1]) and sources[0] in expected,
                "at_3": bool(expected & set(sources[:TOP_K])),
                "answer_hit": item["answer"].lower() in answer.lower(),
                "answer": answer,
                "sources": sources[:TOP_K],
            }
        )
    n = len(rows)
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = {
            "n": len(mine),
            "recall_at_3": sum(r["at_3"] for r in mine) / len(mine),
            "answer_hit": sum(r["answer_hit"] for r in mine) / len(mine),
        }
    return {
        "n": n,
        "recall_at_1": sum(r["at_1"] for r in rows) / n,
        "recall_at_3": sum(r["at_3"] for r in rows) / n,
        "answer_hit": sum(r["answer_hit"] for r in rows) / n,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "by_kind": by_kind,
        "questions": rows,
    }


def run_variant(embedder_name: str, retrieval: str, questions: list[dict[str, Any]]) -> Result:
    """Build a store with one embedder in a temporary directory and score it."""
    try:  # chromadb and the models load in seconds: only this suite needs them
        from aidock.rag.answer import extractive_answer  # noqa: PLC0415  chromadb
        from aidock.rag.embeddings import (  # noqa: PLC0415  chromadb, wordllama
            make_embedder,
            sentence_embedder,
        )
        from aidock.rag.store import RagStore  # noqa: PLC0415  chromadb
    except ImportError as exc:
        raise BenchError(f"cannot import the RAG AI ({exc}); run `make venv` first") from exc
    with tempfile.TemporaryDirectory(prefix="aidock-bench-rag-") as tmp:
        config = RagConfig(data_dir=Path(tmp), embedder=embedder_name, retrieval=retrieval)
        started = time.perf_counter()
        embedder = make_embedder(config)
        load_ms = (time.perf_counter() - started) * 1000
        scorer = sentence_embedder(embedder)
        store = RagStore(config.data_dir, embedder)
        docs = [DocumentIn(**d) for d in load_directory(DOCS_DIR)]
        started = time.perf_counter()
        _n_docs, n_passages = store.ingest("bench", docs)
        index_ms = (time.perf_counter() - started) * 1000

        def ask(question: str) -> tuple[list[str], str]:
            hits = store.query("bench", question, TOP_K, config.retrieval)  # type: ignore[arg-type]
            answer = extractive_answer(question, hits, scorer.embed_query)
            return [h.source or h.document_id for h in hits], answer

        result = score_variant(questions, ask)
        result.update(
            embedder=embedder.embedder_id,
            retrieval=retrieval,
            documents=len(docs),
            passages=n_passages,
            index_ms=index_ms,
            model_load_ms=load_ms,
        )
        return result


def run_quality(_ctx: Context) -> Result:
    """Every variant over the whole question set."""
    questions = load_questions()
    variants = {name: run_variant(emb, ret, questions) for name, emb, ret in VARIANTS}
    return {"question_set": QUESTIONS.name, "top_k": TOP_K, "goals": GOALS, "variants": variants}


def _pct(value: float) -> str:
    return f"{value:.3f}"


def _kind_cell(scores: dict[str, float]) -> str:
    return f"{_pct(scores['recall_at_3'])} / {_pct(scores['answer_hit'])}"


def render_quality(result: Result) -> str:
    """Side-by-side table, per-kind table and the misses of the default."""
    variants = result["variants"]
    rows = [
        [
            name,
            f"`{v['embedder']}` {v['retrieval']}",
            _pct(v["recall_at_1"]),
            _pct(v["recall_at_3"]),
            _pct(v["answer_hit"]),
            f"{v['latency_p50_ms']:.1f} / {v['latency_p95_ms']:.1f} ms",
            f"{v['index_ms']:.0f} ms ({v['passages']} passages)",
            f"{v['model_load_ms']:.0f} ms",
        ]
        for name, v in variants.items()
    ]
    table = md_table(
        [
            "variant",
            "embedder, retrieval",
            "recall@1",
            f"recall@{result['top_k']}",
            "answer hit",
            "latency p50 / p95",
            "index time, 10 docs",
            "model load",
        ],
        rows,
    )
    kinds = sorted({k for v in variants.values() for k in v["by_kind"]})
    per_kind = md_table(
        ["variant", *(f"{k} recall@3 / answer" for k in kinds)],
        [
            [
                name,
                *(_kind_cell(v["by_kind"][k]) for k in kinds),
            ]
            for name, v in variants.items()
        ],
    )
    n = next(iter(variants.values()))["n"]
    goals = result["goals"]
    lines = [
        f"{n} questions from `bench/{result['question_set']}`, top {result['top_k']} passages.",
        f"Goals (issue 13): recall@3 >= {goals['recall_at_3']}, answer hit >= "
        f"{goals['answer_hit']} offline, p95 <= {goals['latency_p95_ms']:.0f} ms.",
        "",
        table,
        "",
        "By kind of question:",
        "",
        per_kind,
    ]
    for name, v in variants.items():
        misses = [q for q in v["questions"] if not (q["at_3"] and q["answer_hit"])]
        if not misses:
            continue
        lines += ["", f"Misses of {name} (source not in the top 3, or no answer phrase):", ""]
        lines += [
            f"- {q['question']} (retrieved: {', '.join(q['sources'])}): "
            f'{"" if q["at_3"] else "source missed; "}answer "{q["answer"][:140]}"'
            for q in misses
        ]
    return "\n".join(lines)


def quality_headline(result: Result) -> list[list[str]]:
    """recall@3, answer hit and p95 of the default against the hashing embedder."""
    variants = list(result["variants"].values())
    old, new = variants[0], variants[1]
    labels = {"recall_at_3": "recall@3 of the source", "answer_hit": "answer-phrase hit"}
    return [
        [f"{label}, WordLlama", f"**{_pct(new[key])}**", f"hashing {_pct(old[key])}", ""]
        for key, label in labels.items()
    ] + [
        [
            "query p95 (retrieval + answer)",
            f"{new['latency_p95_ms']:.1f} ms",
            f"hashing {old['latency_p95_ms']:.1f} ms",
            "",
        ]
    ]


QUALITY = Part(
    name="quality",
    title="Retrieval and offline answers on the question set",
    run=run_quality,
    render=render_quality,
    headline=quality_headline,
    notes=(
        "The question set was committed before any tuning; it has paraphrases, keyword-style "
        "queries and questions whose words overlap another document. A question may name two "
        "source documents when both state the answer; recall@k counts a hit when any of them "
        "is among the first k passages' documents.",
        "Answer hit: the question's answer phrase occurs (case-insensitive) in the offline "
        "extractive answer (the best sentence of the retrieved passages and the next best of "
        "its passage). The answer's scoring weights and the passage size (400 characters; 300 "
        "and 600 were tried) were chosen on this same set and the ten questions of "
        "tests/unit/test_rag_app.py: there is no held-out split, so read the answer hit as an "
        "upper estimate.",
        "Every variant uses the same structural passages and the same answer code; only "
        "the embedder and the retrieval mode differ (the hashing row is the old embedder, not "
        "the whole old pipeline).",
        "Latency: one in-process `RagStore.query` + `extractive_answer` per question (what a "
        "`/query` request does, without HTTP and JSON), after 3 warm-up questions; index "
        "time: `RagStore.ingest` of the 10 documents into an empty Chroma collection "
        "(splitting, embedding, writing), model loading reported apart (the WordLlama model "
        "is loaded once per process, so the hybrid variant reuses it).",
    ),
)

RAG = Suite(
    name="rag",
    title="RAG retrieval benchmarks",
    description=(
        "Recall of the expected source, answer-phrase hits, query latency and index time of "
        "the RAG AI's offline embedders and retrieval modes on a fixed question set (no Docker)."
    ),
    parts=(QUALITY,),
    uses_docker=False,
)
