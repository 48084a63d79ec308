"""The prompts deepwell sends, and the parsers of what comes back.

One place for the wording, so the answer prompt, the extractive backend (which
reads the same prompt without a model) and the citation parser cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.llm.base import Message

NO_ANSWER = "The documents provided do not contain the answer."
"""The fixed sentence of an answer the context does not support."""

ANSWER_SYSTEM = f"""\
You answer questions using only the numbered context passages given by the user.
Rules:
- Use only facts stated in the passages; never use outside knowledge.
- After each sentence that states a fact, cite the passage it comes from by its \
number in square brackets, like [1] or [2][3].
- Copy figures exactly as written, with their units and periods.
- If the passages do not contain the answer, reply with exactly this sentence: {NO_ANSWER}
- Be concise."""

_CONTEXT_HEAD = "Context:\n"
_QUESTION_HEAD = "\n\nQuestion: "
# Small models follow the last instruction they read. Measured with Qwen2.5-Coder-1.5B on
# nine SEC 10-Q questions (same retrieved context for each wording): this closing line got
# 3 answers with the reference figure and a [n] in all 9; "Answer from the context only,
# citing passages like [1]." 1 and 2; the same line without the example sentence 0 and 8.
# Weaker models (0.5B, 135M) copy the example verbatim: answers are checked for figures
# that appear nowhere in the context (``retrieval.answer.unsupported_numbers``).
_ANSWER_TAIL = (
    "\n\nAnswer using only the passages above. After each fact, write the number of its "
    "passage in square brackets, for example: Revenue was $5 million [2]."
)

REWRITE_SYSTEM = """\
Rewrite the user's last question as one standalone question that can be understood \
without the conversation. Keep the companies, products, periods and figures the \
question refers to. Do not answer it. Reply with the rewritten question only."""

_CITATION = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_NO_ANSWER_KEY = "do not contain the answer"


def answer_messages(question: str, context: str) -> list[Message]:
    """The chat that asks for a cited answer to ``question`` from ``context``."""
    user = f"{_CONTEXT_HEAD}{context}{_QUESTION_HEAD}{question.strip()}{_ANSWER_TAIL}"
    return [Message("system", ANSWER_SYSTEM), Message("user", user)]


def split_answer_prompt(content: str) -> tuple[str, str] | None:
    """``(context, question)`` of a user message built by :func:`answer_messages`; else None."""
    if not content.startswith(_CONTEXT_HEAD) or _QUESTION_HEAD not in content:
        return None
    body = content.removesuffix(_ANSWER_TAIL)
    context, _, question = body[len(_CONTEXT_HEAD) :].rpartition(_QUESTION_HEAD)
    return context, question.strip()


def rewrite_messages(question: str, history: Sequence[tuple[str, str]]) -> list[Message]:
    """The chat that turns a follow-up into a standalone question.

    ``history``: ``(role, text)`` pairs, oldest first (``user`` / ``assistant``).
    """
    lines = [f"{'User' if role == 'user' else 'Assistant'}: {text}" for role, text in history]
    user = (
        "Conversation:\n"
        + "\n".join(lines)
        + f"\n\nLast question: {question.strip()}\n\nStandalone question:"
    )
    return [Message("system", REWRITE_SYSTEM), Message("user", user)]


def cited_numbers(text: str) -> list[int]:
    """The ``[n]`` markers of ``text`` (also ``[1, 2]``), in order of first appearance."""
    seen: dict[int, None] = {}
    for match in _CITATION.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            seen.setdefault(int(part), None)
    return list(seen)


def is_no_answer(text: str) -> bool:
    """Whether ``text`` is (or starts with) the fixed no-answer sentence."""
    return _NO_ANSWER_KEY in " ".join(text.lower().split()[:16])
