"""Feedback as training data: supervised (SFT) examples and preference pairs, one JSON a line.

Pure functions over feedback rows and the answers they rate (no I/O here):

- ``sft``: one example per accepted answer: the question, the packed context the
  model read, and the answer to learn. The answer is the user's correction when
  one was given (up or down), else the answer itself when it was rated up.
  Down-rated answers without a correction teach nothing here and are left out.
- ``preference``: chosen/rejected pairs for the same question (DPO-style). Every
  down-rated answer is *rejected*; *chosen* is its own correction, and every
  up-rated answer or correction given for the same question (same tenant, same
  question text after normalising spaces and case) that is not the same text.

An answer that was cut off (time limit, error, reply limit: ``finish_reason``) is never
exported as an answer to learn or to reject, whatever its rating: its text is not a whole
answer. A user's correction of it still is.

Only what the exporting principal may read *now* is exported (:func:`readable_pairs`):
roles do not widen reads, so an admin exports its tenant's feedback minus every
answer built on a passage it cannot read, and a deleted document takes its text out
of every later export.

Each record also carries ``messages`` (system, user, assistant) in the exact chat
format deepwell prompts with, so a fine-tuning job can use them as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from retrieval import FeedbackPair, answer_messages, passage_ids

ExportKind = Literal["sft", "preference"]

#: Cap on pairs built per question, so one popular question cannot dominate an export.
MAX_PAIRS_PER_QUESTION = 50


def _question_key(tenant: str, question: str) -> tuple[str, str]:
    return tenant, " ".join(question.split()).casefold()


def _prompt(question: str, context: str) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in answer_messages(question, context)]


def _common(pair: FeedbackPair) -> dict[str, Any]:
    fb, ans = pair.feedback, pair.answer
    return {
        "tenant": ans.tenant,
        "question": ans.question,
        "context": ans.context_text,
        "citations": ans.context,
        "model": ans.model,
        "answer_created_at": ans.created_at.isoformat(),
        "feedback_created_at": fb.created_at.isoformat(),
    }


def sft_records(pairs: Iterable[FeedbackPair]) -> Iterator[dict[str, Any]]:
    """Supervised examples: (question, context) → the accepted answer."""
    for pair in pairs:
        fb, ans = pair.feedback, pair.answer
        if fb.correction:
            target, source = fb.correction, "correction"
        elif fb.rating == "up" and not pair.cut_off:
            target, source = ans.answer, "accepted"
        else:
            continue
        yield {
            "kind": "sft",
            "answer_id": ans.answer_id,
            "feedback_id": fb.feedback_id,
            "rating": fb.rating,
            "source": source,
            **_common(pair),
            "answer": target,
            "messages": [
                *_prompt(ans.question, ans.context_text),
                {"role": "assistant", "content": target},
            ],
        }


def preference_records(pairs: Iterable[FeedbackPair]) -> Iterator[dict[str, Any]]:
    """Preference pairs: chosen (a correction or an up-rated answer) over a down-rated answer."""
    good: dict[tuple[str, str], list[tuple[str, str, FeedbackPair]]] = defaultdict(list)
    bad: list[FeedbackPair] = []
    for pair in pairs:
        fb, ans = pair.feedback, pair.answer
        key = _question_key(ans.tenant, ans.question)
        if fb.correction:
            good[key].append((fb.correction, "correction", pair))
        elif fb.rating == "up" and not pair.cut_off:
            good[key].append((ans.answer, "accepted", pair))
        if fb.rating == "down" and not pair.cut_off:
            bad.append(pair)
    for rejected in bad:
        fb, ans = rejected.feedback, rejected.answer
        candidates = good.get(_question_key(ans.tenant, ans.question), [])
        # Its own correction first: it was written against exactly this context.
        candidates = sorted(candidates, key=lambda c: c[2].feedback.feedback_id != fb.feedback_id)
        seen: set[str] = set()
        for text, source, chosen in candidates[:MAX_PAIRS_PER_QUESTION]:
            norm = " ".join(text.split())
            if norm == " ".join(ans.answer.split()) or norm in seen:
                continue
            seen.add(norm)
            yield {
                "kind": "preference",
                "rejected_answer_id": ans.answer_id,
                "rejected_feedback_id": fb.feedback_id,
                "chosen_answer_id": chosen.answer.answer_id,
                "chosen_feedback_id": chosen.feedback.feedback_id,
                "chosen_source": source,
                **_common(rejected),
                "prompt": _prompt(ans.question, ans.context_text),
                "chosen": text,
                "rejected": ans.answer,
            }


@dataclass
class Withheld:
    """How many feedback rows an export left out because their passages are not readable."""

    count: int = 0


def readable_pairs(
    pairs: Iterable[FeedbackPair],
    readable: Callable[[set[str]], set[str]],
    withheld: Withheld,
    batch: int = 200,
) -> Iterator[FeedbackPair]:
    """The pairs whose every passage ``readable`` still returns (checked a batch at a time).

    ``readable(ids)`` answers which of ``ids`` the exporting principal may read *now*
    (:func:`retrieval.passages.readable_chunk_ids`); an answer built on anything else —
    a deleted document, one re-shared away, another user's private file — is left out
    whole, with its question, answer and correction, and counted in ``withheld``.
    """
    it = iter(pairs)
    while part := list(islice(it, batch)):
        needed = [passage_ids(p.answer.context, p.answer.citations) for p in part]
        ok = readable(set().union(*needed)) if any(needed) else set()
        for pair, ids in zip(part, needed, strict=True):
            if ids <= ok:
                yield pair
            else:
                withheld.count += 1


def export_records(kind: ExportKind, pairs: Iterable[FeedbackPair]) -> Iterator[dict[str, Any]]:
    return sft_records(pairs) if kind == "sft" else preference_records(pairs)
