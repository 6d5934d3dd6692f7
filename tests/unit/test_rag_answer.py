"""Offline extractive answers and the OpenAI prompt."""

from __future__ import annotations

from aidock.rag.answer import NO_ANSWER, build_messages, extractive_answer, question_terms
from aidock.rag.documents import chunk_text
from aidock.schemas.rag import Source


def passage(text: str, score: float, pid: str = "d#0", source: str = "doc.txt") -> Source:
    return Source(id=pid, document_id=pid.split("#")[0], source=source, text=text, score=score)


RETENTION = passage(
    chunk_text(
        "Retention periods apply to all records. Invoices are retained for ten years. "
        "Letters are kept for six years. Backups are kept for 35 days."
    )[0],
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
    assert answer == "Motor claims are paid in 5 days."


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
