"""Answers built only from retrieved passages: extractive offline, or OpenAI chat."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aidock.rag.documents import passage_sentences
from aidock.rag.embeddings import terms, tokenize
from aidock.rag.openai_client import OpenAIClient
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


@dataclass(frozen=True)
class _Candidate:
    rank: int
    position: int
    text: str
    matched: frozenset[str]
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


def _bigrams(seq: Sequence[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(seq))


def _candidates(question: str, passages: Sequence[Source]) -> list[_Candidate]:
    q_terms = question_terms(question)
    if not q_terms:
        return []
    q_bigrams = _bigrams(terms(question))
    wants_quantity = _QUANTITY_QUESTION.search(question) is not None
    sentences = [passage_sentences(p.text) for p in passages]
    n = len(passages)
    df: dict[str, int] = {}
    for sents in sentences:
        for t in q_terms & {t for s in sents for t in terms(s)}:
            df[t] = df.get(t, 0) + 1
    idf = {t: 1.0 + math.log((n + 1) / (df.get(t, 0) + 1)) for t in q_terms}

    seen: set[str] = set()
    out: list[_Candidate] = []
    for rank, (passage, sents) in enumerate(zip(passages, sentences, strict=True)):
        for position, sentence in enumerate(sents):
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key in seen:
                continue  # overlapping passages repeat sentences
            seen.add(key)
            s_terms = terms(sentence)
            matched = q_terms & set(s_terms)
            if not matched:
                continue
            score = sum(idf[t] for t in matched)
            score += 0.5 * len(q_bigrams & _bigrams(s_terms))
            score += 0.5 * max(passage.score, 0.0)
            if wants_quantity and _NUMBER.search(sentence):
                score += 1.0
            if len(sentence.split()) < _MIN_WORDS:  # headings and fragments
                score *= 0.5
            out.append(_Candidate(rank, position, sentence, frozenset(matched), score))
    return out


def extractive_answer(question: str, passages: Sequence[Source]) -> str:
    """The 1-2 passage sentences that best match the question, in passage order.

    Returns ``NO_ANSWER`` when no sentence shares a content term with the question.
    """
    candidates = _candidates(question, passages)
    if not candidates:
        return NO_ANSWER
    ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.position))
    best = ranked[0]
    chosen = [best]
    for cand in ranked[1:]:
        if cand.rank != best.rank:
            continue  # the second sentence must come from the same passage
        adds_terms = not cand.matched <= best.matched
        if (adds_terms and cand.score >= 0.75 * best.score) or cand.score >= 0.9 * best.score:
            chosen.append(cand)
            break
    if len(chosen) == 1 and best.text.endswith(":"):
        # "... the following periods:" -> also give the first item that follows
        follow = passage_sentences(passages[best.rank].text)
        if best.position + 1 < len(follow):
            chosen.append(
                _Candidate(best.rank, best.position + 1, follow[best.position + 1], best.matched, 0)
            )
    chosen.sort(key=lambda c: (c.rank, c.position))
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


def openai_answer(
    client: OpenAIClient, model: str, question: str, passages: Sequence[Source]
) -> str:
    """Chat-completion answer grounded in ``passages`` (``NO_ANSWER`` when there are none)."""
    if not passages:
        return NO_ANSWER
    return client.chat(build_messages(question, passages), model) or NO_ANSWER
