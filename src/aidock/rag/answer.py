"""Answers built only from retrieved passages: extractive offline, or an LLM's chat."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aidock.rag.documents import passage_sentences
from aidock.rag.embeddings import terms, tokenize
from aidock.rag.llm import LLMClient
from aidock.schemas.rag import Source

NO_ANSWER = "No answer found in the ingested documents."
# Words after "how" that ask for a quantity rather than carry content ("How long ...").
_HOW_WORDS = frozenset({"long", "many", "much", "often", "quickly", "soon", "fast", "old"})
_QUANTITY_QUESTION = re.compile(
    r"\b(?:how (?:long|many|much|often|quickly|soon|fast|old)|when|within|deadline|limit"
    r"|minimum|maximum|threshold|amount|period|percent|percentage)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|hundred|thousand|immediately|daily|weekly|monthly|quarterly|annually|every)\b",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^\s*[-*\u2022]\s+")
_MIN_WORDS = 4


SentenceEmbed = Callable[[list[str]], Sequence[Any]]
# Weights of a sentence's score (chosen on bench/rag_questions.yaml, see bench/results/rag.md):
# meaning (cosine with the question), share of the question's terms it contains, a penalty
# per rank of its passage, a bonus for a number when the question asks for a quantity.
W_MEANING, W_TERMS, W_RANK, W_QUANTITY, SHORT_PENALTY = 1.0, 0.5, 0.1, 0.2, 0.3
# With meaning, below this score nothing in the passages answers: questions about the
# documents score 0.35 and more, unrelated ones ("What is the capital of France?") 0.29 and
# less with WordLlama on the bench's documents.
MIN_SCORE = 0.32


@dataclass(frozen=True)
class _Candidate:
    rank: int
    position: int
    text: str
    score: float


def question_terms(question: str) -> frozenset[str]:
    """Stemmed, stopword-free content terms of a question ("how long" etc. dropped)."""
    tokens = tokenize(question)
    kept = [
        tok
        for i, tok in enumerate(tokens)
        if not (i > 0 and tokens[i - 1] == "how" and tok in _HOW_WORDS)
    ]
    return frozenset(t for tok in kept for t in terms(tok))


def _candidates(
    question: str, passages: Sequence[Source], embed: SentenceEmbed | None
) -> list[_Candidate]:
    q_terms = question_terms(question)
    wants_quantity = _QUANTITY_QUESTION.search(question) is not None
    seen: set[str] = set()
    found: list[tuple[int, int, str, str]] = []
    for rank, passage in enumerate(passages):
        for position, sentence in enumerate(passage_sentences(passage.text)):
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key and key not in seen:
                seen.add(key)
                context = f"{passage.section}. {sentence}" if passage.section else sentence
                found.append((rank, position, sentence, context))
    if not found:
        return []
    meaning = [0.0] * len(found)
    if embed is not None:
        vectors = np.asarray(embed([question, *(c for *_, c in found)]), dtype=np.float32)
        meaning = [float(v) for v in vectors[1:] @ vectors[0]]
    out: list[_Candidate] = []
    for (rank, position, sentence, _), similarity in zip(found, meaning, strict=True):
        shared = len(q_terms & set(terms(sentence))) / max(1, len(q_terms))
        if embed is None and not shared:
            continue  # lexical only: a sentence without a question term is no answer
        score = W_MEANING * similarity + W_TERMS * shared - W_RANK * rank
        if wants_quantity and _NUMBER.search(sentence):
            score += W_QUANTITY
        if len(sentence.split()) < _MIN_WORDS:  # headings and fragments
            score -= SHORT_PENALTY
        out.append(_Candidate(rank, position, sentence, score))
    return out


def extractive_answer(
    question: str, passages: Sequence[Source], embed: SentenceEmbed | None = None
) -> str:
    """The passage sentence that best matches the question, with the next best sentence of
    the same passage, in passage order.

    A sentence scores by its meaning (cosine between ``embed`` vectors of the question and
    of the sentence prefixed with its passage's section), the share of the question's terms
    it contains, its passage's rank, and a number when the question asks for a quantity.
    ``NO_ANSWER`` when the best score is below ``MIN_SCORE``; without ``embed`` only the
    terms count, and ``NO_ANSWER`` when no sentence shares one with the question.
    """
    candidates = _candidates(question, passages, embed)
    if not candidates:
        return NO_ANSWER
    ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.position))
    best = ranked[0]
    if embed is not None and best.score < MIN_SCORE:
        return NO_ANSWER
    chosen = [best]
    second = next((c for c in ranked[1:] if c.rank == best.rank), None)
    if second is not None:
        chosen.append(second)
    chosen.sort(key=lambda c: c.position)
    return " ".join(_LIST_MARKER.sub("", c.text) for c in chosen)


SYSTEM_PROMPT = (
    "You answer questions about an organisation's documents. Use only the numbered "
    "passages given by the user; do not use outside knowledge. Answer in one to three "
    "sentences and cite passage numbers like [1]. If the passages do not contain the "
    f"answer, reply exactly: {NO_ANSWER}"
)


def build_messages(question: str, passages: Sequence[Source]) -> list[dict[str, str]]:
    """Chat messages whose only context is the retrieved passages."""
    blocks = []
    for i, p in enumerate(passages, start=1):
        label = f" ({p.source})" if p.source else ""
        blocks.append(f"[{i}]{label} {p.text}")
    context = "\n\n".join(blocks) if blocks else "(no passages)"
    user = f"Passages:\n{context}\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def llm_answer(client: LLMClient, model: str, question: str, passages: Sequence[Source]) -> str:
    """Chat-completion answer grounded in ``passages`` (``NO_ANSWER`` when there are none);
    ``LLMError`` when the server fails."""
    if not passages:
        return NO_ANSWER
    return client.chat(build_messages(question, passages), model) or NO_ANSWER
