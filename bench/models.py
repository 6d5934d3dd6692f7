"""The ``models`` suite: quality and speed of the extraction and categorization AIs.

Both AIs are trained on one generated split and scored on a held-out one (another seed)
next to naive baselines, by ``aidock.ais.benchmark.run_benchmark``; this module only picks
the split and renders the numbers. No Docker: it runs in the controller's venv.
"""

from __future__ import annotations

from typing import Any

from bench.common import BenchError, Context, fmt_ratio, md_table, ratio
from bench.report import Part, Suite

N_TRAIN, N_TEST = 1200, 400
TRAIN_SEED, TEST_SEED = 1, 2

Result = dict[str, Any]


def run_quality(_ctx: Context) -> Result:
    """Train both AIs on ``N_TRAIN`` documents, score them and the baselines on ``N_TEST``."""
    try:  # scikit-learn takes seconds to import: only this suite needs it
        from aidock.ais.benchmark import run_benchmark  # noqa: PLC0415  scikit-learn
    except ImportError as exc:  # scikit-learn and joblib come with the venv's ais extra
        raise BenchError(f"cannot import the AIs ({exc}); run `make venv` first") from exc
    return run_benchmark(N_TRAIN, N_TEST, TRAIN_SEED, TEST_SEED)


def _num(value: float) -> str:
    return f"{value:.3f}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def render_extraction(result: Result) -> str:
    """Per-field and micro precision/recall/F1 of the model next to the regex baseline."""
    ext = result["extraction"]
    model, baseline = ext["model"], ext["baseline"]
    rows = []
    for label, scores in model["per_label"].items():
        rows.append(_prf_row(label, scores, baseline["per_label"][label]))
    rows.append(_prf_row("**micro**", model["micro"], baseline["micro"]))
    corpus = result["corpus"]
    return "\n".join(
        [
            f"Trained on {corpus['n_train']} documents (seed {corpus['train_seed']}), scored on "
            f"{corpus['n_test']} held-out documents (seed {corpus['test_seed']}), corpus "
            f"{corpus.get('version', 'v1')}; spans count only on exact label and offsets.",
            "",
            md_table(
                ["field", "support", "precision", "recall", "F1", "regex baseline P / R / F1"],
                rows,
            ),
            "",
            f"Macro-F1 {_num(model['macro_f1'])} (baseline {_num(baseline['macro_f1'])}). "
            + _speed(ext, corpus),
        ]
    )


def _prf_row(name: str, scores: Result, baseline: Result) -> list[str]:
    return [
        name,
        str(scores["support"]),
        _num(scores["precision"]),
        _num(scores["recall"]),
        f"**{_num(scores['f1'])}**",
        f"{_num(baseline['precision'])} / {_num(baseline['recall'])} / {_num(baseline['f1'])}",
    ]


def _speed(ai: Result, corpus: Result) -> str:
    return (
        f"Training {ai['train_seconds']:.1f} s on {corpus['n_train']} documents; prediction "
        f"p50 {_ms(ai['predict_ms_p50'])} per document (mean {_ms(ai['predict_ms_per_doc'])}), "
        "one document per call."
    )


def render_categorization(result: Result) -> str:
    """Accuracy and macro-F1 vs the baselines, per-class scores and the confusion matrix."""
    cat, corpus = result["categorization"], result["corpus"]
    model = cat["model"]
    systems = [
        ("model (TF-IDF + logistic regression)", model),
        ("keyword rules", cat["keyword_baseline"]),
        ("majority class", cat["baseline"]),
    ]
    summary = md_table(
        ["classifier", "accuracy", "macro-F1"],
        [[name, _num(s["accuracy"]), _num(s["macro_f1"])] for name, s in systems],
    )
    classes = list(model["per_label"])
    per_class = md_table(
        ["category", "support", "precision", "recall", "F1", "keyword rules recall"],
        [
            [
                label,
                str(s["support"]),
                _num(s["precision"]),
                _num(s["recall"]),
                _num(s["f1"]),
                _num(cat["keyword_baseline"]["per_label"][label]["recall"]),
            ]
            for label, s in model["per_label"].items()
        ],
    )
    confusion = cat["confusion"]
    matrix = md_table(
        ["gold \\ predicted", *classes],
        [[gold, *(str(confusion[gold][p]) for p in classes)] for gold in classes],
    )
    return "\n\n".join(
        [
            summary,
            "Per category (model):",
            per_class,
            "Confusion matrix of the model (rows: gold category, columns: answer):",
            matrix,
            _speed(cat, corpus),
        ]
    )


def _extraction_headline(result: Result) -> list[list[str]]:
    ext = result["extraction"]
    model, baseline = ext["model"]["micro"]["f1"], ext["baseline"]["micro"]["f1"]
    return [
        [
            "extraction micro-F1 (held-out)",
            f"**{_num(model)}**",
            f"regex baseline {_num(baseline)}",
            fmt_ratio(ratio(model, baseline)),
        ],
        [
            "extraction training / predict p50 per document",
            f"{ext['train_seconds']:.1f} s / {_ms(ext['predict_ms_p50'])}",
            f"{result['corpus']['n_train']} training documents",
            "",
        ],
    ]


def _categorization_headline(result: Result) -> list[list[str]]:
    cat = result["categorization"]
    model = cat["model"]["accuracy"]
    keyword, majority = cat["keyword_baseline"]["accuracy"], cat["baseline"]["accuracy"]
    return [
        [
            "categorization accuracy (held-out)",
            f"**{_num(model)}**",
            f"keyword rules {_num(keyword)}, majority class {_num(majority)}",
            f"{fmt_ratio(ratio(model, keyword))} of keyword rules",
        ],
        [
            "categorization training / predict p50 per document",
            f"{cat['train_seconds']:.1f} s / {_ms(cat['predict_ms_p50'])}",
            f"{result['corpus']['n_train']} training documents",
            "",
        ],
    ]


_SPLIT_NOTE = (
    f"Corpus: `aidock.ais.corpus.generate`, {N_TRAIN} training documents (seed {TRAIN_SEED}) "
    f"and {N_TEST} held-out documents (seed {TEST_SEED}); documents of one seed never depend "
    "on another's, and the held-out split is never seen in training."
)
_TIMING_NOTE = (
    "Training time is the wall time of `train()` on this host (the forest uses 2 jobs); "
    "prediction latency is measured per document, one `predict()` call each, in-process, "
    "after training (p50 and mean over the held-out documents)."
)


def render_quality(result: Result) -> str:
    """The extraction section, then the categorization section."""
    return "\n".join(
        [
            "### Extraction AI (random forest over tokens)",
            "",
            render_extraction(result),
            "",
            "### Categorization AI (TF-IDF + logistic regression)",
            "",
            render_categorization(result),
        ]
    )


def quality_headline(result: Result) -> list[list[str]]:
    """Summary rows: quality vs baselines, then training and prediction time."""
    ext, cat = _extraction_headline(result), _categorization_headline(result)
    return [ext[0], cat[0], ext[1], cat[1]]


QUALITY = Part(
    name="quality",
    title="Extraction and categorization on a held-out split",
    run=run_quality,
    render=render_quality,
    headline=quality_headline,
    notes=(
        f"Corpus: `aidock.ais.corpus.generate`, {N_TRAIN} training documents (seed "
        f"{TRAIN_SEED}) and {N_TEST} held-out documents (seed {TEST_SEED}); a document depends "
        "only on its seed and index, so the held-out split is never seen in training.",
        "Extraction: a predicted span counts only if label, start and end all equal a gold "
        "span's; fields are single-valued. Regex baseline (`aidock.ais.metrics."
        "baseline_extract`): the first date is the invoice date and the last the due date, the "
        "first amount the total, the first IBAN-shaped string the IBAN, the first id-shaped "
        "token the invoice number.",
        "Categorization: keyword rules (`aidock.ais.metrics.KeywordBaseline`) answer the first "
        "category, in the order reminder, termination, claim, statement, invoice, one of whose "
        "title words (English or German) occurs, else the majority class; the majority class "
        "is the most frequent training category.",
        "The corpus makes categories overlap on purpose (quoted invoices, final statements, "
        "short notes with shared bodies, page excerpts, OCR noise, a small share of label "
        "slips between look-alike categories), so a perfect score is not expected; see the "
        "docstring of `aidock.ais.corpus`.",
        "Training time is the wall time of `train()` on this host (the forest fits with 2 "
        "jobs); prediction latency is per document, one in-process `predict()` call each, "
        "after training: p50 and mean over the held-out documents.",
    ),
)

MODELS = Suite(
    name="models",
    title="Model quality benchmarks",
    description=(
        "Held-out quality of the extraction and categorization AIs against naive baselines, "
        "with training time and per-document prediction latency (no Docker)."
    ),
    parts=(QUALITY,),
)
