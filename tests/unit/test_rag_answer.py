"""Offline extractive answers and the LLM prompt."""

from __future__ import annotations

import pytest

from aidock.rag.answer import NO_ANSWER, build_messages, extractive_answer, question_terms
from aidock.rag.documents import split_passages
from aidock.rag.embeddings import WordLlamaEmbedder
from aidock.schemas.rag import Source


def passage(text: str, score: float, pid: str = "d#0", source: str = "doc.txt") -> Source:
    return Source(id=pid, document_id=pid.split("#")[0], source=source, text=text, score=score)


RETENTION = passage(
    split_passages(
        "Retention periods apply to all records. Invoices are retained for ten years. "
        "Letters are kept for six years. Backups are kept for 35 days."
    )[0].text,
    0.6,
    "retention#0",
)
TRAVEL = passage(
    "Hotel costs are reimbursed up to EUR 150 per night. In London the limit is EUR 220.",
    0.3,
    "travel#0",
)


def test_picks_the_matching_sentence() -> None:
    answer = extractive_answer("How long are invoices retained?", [RETENTION, TRAVEL])
    assert answer == "Invoices are retained for ten years."


def test_answer_only_uses_passage_text() -> None:
    answer = extractive_answer("What is the hotel limit in London?", [TRAVEL, RETENTION])
    assert answer.startswith("In London the limit is EUR 220.") or "EUR 220" in answer
    assert answer in TRAVEL.text or all(part in TRAVEL.text for part in answer.split(". "))


def test_two_sentences_in_passage_order() -> None:
    text = "Invoices need a purchase order. Invoices above EUR 10,000 need a second approval."
    p = passage(text, 0.5)
    answer = extractive_answer("Which invoices need a purchase order or second approval?", [p])
    assert answer == text


def test_no_overlap_gives_no_answer() -> None:
    assert extractive_answer("What is the capital of France?", [RETENTION, TRAVEL]) == NO_ANSWER
    assert extractive_answer("How long are invoices retained?", []) == NO_ANSWER
    assert extractive_answer("what is it?", [RETENTION]) == NO_ANSWER


def test_rare_terms_outweigh_common_ones() -> None:
    a = passage("The policy applies to all claims. Motor claims are paid in 5 days.", 0.4, "a#0")
    b = passage("The policy applies to every employee. Claims go to the SIU.", 0.4, "b#0")
    answer = extractive_answer("When are motor claims paid?", [a, b])
    # the best sentence, then the next best of its passage, in passage order
    assert answer == "The policy applies to all claims. Motor claims are paid in 5 days."


def test_question_terms_drop_how_words() -> None:
    assert question_terms("How long are invoices retained?") == {"invoic", "retain"}
    assert question_terms("How long must a password be?") == {"password"}
    assert "long" in question_terms("Which documents are long-term archived?")


def test_prompt_contains_only_question_and_passages() -> None:
    messages = build_messages("How long are invoices retained?", [RETENTION, TRAVEL])
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "[1] (doc.txt) " + RETENTION.text in user
    assert "[2] (doc.txt) " + TRAVEL.text in user
    assert user.endswith("Question: How long are invoices retained?")
    assert NO_ANSWER in messages[0]["content"]


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def test_meaning_finds_the_sentence_without_shared_words(wordllama: WordLlamaEmbedder) -> None:
    answer = extractive_answer(
        "How long do we keep supplier bills?", [RETENTION, TRAVEL], wordllama.embed_query
    )
    assert "Invoices are retained for ten years." in answer
    assert all(part.strip(".") in RETENTION.text for part in answer.split(". "))


def test_meaning_gives_no_answer_to_an_unrelated_question(wordllama: WordLlamaEmbedder) -> None:
    question = "Who won the football world cup?"
    assert extractive_answer(question, [RETENTION, TRAVEL], wordllama.embed_query) == NO_ANSWER


def test_section_gives_context_to_a_sentence(wordllama: WordLlamaEmbedder) -> None:
    limits = Source(
        id="p#1",
        document_id="p",
        source="password.txt",
        text="They are reviewed every six months. The limit is 20 characters.",
        score=0.5,
        section="IT Password Policy > Exceptions",
    )
    answer = extractive_answer("password policy exceptions", [limits], wordllama.embed_query)
    assert answer.startswith("They are reviewed every six months.")
