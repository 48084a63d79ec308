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
#: The closing line's example sentence. Small models follow the last instruction they read
#: and copy its example: measured with Qwen2.5-Coder-1.5B on nine SEC 10-Q questions (same
#: context each), a closing line with an example got 3 answers with the reference figure and
#: a [n] in all 9; without one, 0 and 8. An example that states a figure is copied as the
#: answer when the passages hold none (2 of 10), so an answer that only repeats it counts as
#: no answer and a leading copy is dropped (:func:`repeats_example`, :func:`drop_example`).
#: With those guards, on the 40 questions of bench/answers.py (same run conditions, one run
#: each): this example, 11 right figures, 10 wrong, 9 abstentions, 28 cited; "Net sales grew
#: in the quarter [2]." (no figure), 7, 12, 12, 19. A worked example in the system message
#: (free to read: its state is kept) did worse on ten questions (1 right, 3 wrong, 5
#: abstained). A label-free example ("The amount was $5 million [2].", 400-token contexts) was
#: copied as the opening of most answers and did worse (7 right, 8 wrong after 30 questions).
#: Left: the model sometimes varies the example ("Revenue was $10 million [2].
#: Revenue was $15 million [3]. …", 1 of 40); the figure checks mark those unverified.
EXAMPLE_SENTENCE = "Revenue was $5 million [2]."
_ANSWER_TAIL = (
    "\n\nAnswer using only the passages above. After each fact, write the number of its "
    f"passage in square brackets, for example: {EXAMPLE_SENTENCE}"
)

# A question whose answer is a derived figure (a share, a change, a ratio, a sum). A 1.5B
# reader computes badly (none of nine ratio and growth questions right), so for these the
# closing line asks for the calculation itself, between << and >>, which deepwell
# evaluates (retrieval.arithmetic) and whose operands it checks against the passages.
# The model copies the example's shape (one growth example made Qwen2.5-Coder-1.5B answer
# "what percentage of revenue" with a growth rate), so the example fits the question.
_CALCULATIONS: list[tuple[str, re.Pattern[str], str]] = [
    (
        "share",
        re.compile(r"\b(?:percent(?:age)? of|proportion|share of|fraction|relative to)\b", re.I),
        "X was <<30 / 120 * 100>>% of the total [2].",
    ),
    (
        "growth",
        re.compile(
            r"\b(?:growth|grow|grew|by what percent(?:age)?|percent(?:age)?\s+(?:increase"
            r"|decrease|decline|change|rise|drop))",
            re.I,
        ),
        "X grew <<(120 - 100) / 100 * 100>>% [2].",
    ),
    (
        "difference",
        re.compile(
            r"\b(?:(?:increase|decrease|decline|change|rise|fall|drop)(?:d|s)?\s+(?:by|from"
            r"|between)|by how much|how much (?:more|less|higher|lower)|difference between)\b",
            re.I,
        ),
        "X changed by <<120 - 100>> million [2].",
    ),
    (
        "sum",
        re.compile(r"\b(?:combined|in total|sum of|together)\b", re.I),
        "Together they were <<120 + 100>> million [2].",
    ),
    ("ratio", re.compile(r"\bratio\b", re.I), "The ratio was <<120 / 100>> [2]."),
]
_CALCULATION_TAIL = (
    "\n\nAnswer using only the passages above. After each fact, write the number of its "
    "passage in square brackets. This question needs arithmetic: do not compute it yourself, "
    "write the calculation over figures copied from the passages between << and >>, for "
    "example: {example}"
)

REWRITE_SYSTEM = """\
Rewrite the user's last question as one standalone question that can be understood \
without the conversation. Keep the companies, products, periods and figures the \
question refers to. Do not answer it. Reply with the rewritten question only."""

_CITATION = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_NO_ANSWER_KEY = "do not contain the answer"


def calculation_kind(question: str) -> str | None:
    """The derived figure ``question`` asks for: ``share``, ``growth``, ``difference``,
    ``sum`` or ``ratio``; None for a question about a stated figure or none."""
    return next((kind for kind, pattern, _ in _CALCULATIONS if pattern.search(question)), None)


def needs_calculation(question: str) -> bool:
    """Whether ``question`` asks for a derived figure (a share, change, ratio or sum)."""
    return calculation_kind(question) is not None


def _tail(question: str) -> str:
    kind = calculation_kind(question)
    if kind is None:
        return _ANSWER_TAIL
    example = next(e for k, _, e in _CALCULATIONS if k == kind)
    return _CALCULATION_TAIL.format(example=example)


def answer_messages(question: str, context: str) -> list[Message]:
    """The chat that asks for a cited answer to ``question`` from ``context``; for a
    derived figure, it asks for the calculation as ``<<expression>>``."""
    user = f"{_CONTEXT_HEAD}{context}{_QUESTION_HEAD}{question.strip()}{_tail(question)}"
    return [Message("system", ANSWER_SYSTEM), Message("user", user)]


def split_answer_prompt(content: str) -> tuple[str, str] | None:
    """``(context, question)`` of a user message built by :func:`answer_messages`; else None."""
    if not content.startswith(_CONTEXT_HEAD) or _QUESTION_HEAD not in content:
        return None
    context, _, question = content[len(_CONTEXT_HEAD) :].rpartition(_QUESTION_HEAD)
    for tail in (_ANSWER_TAIL, _CALCULATION_TAIL.partition("{")[0]):
        question = question.partition(tail)[0]
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


_EXAMPLE_WORDS = " ".join(_CITATION.sub("", EXAMPLE_SENTENCE).strip(" .").lower().split())
# The example sentence at the start of an answer, with the markers and full stop around it.
_LEADING_EXAMPLE = re.compile(
    r"\s*"
    + r"\s+".join(map(re.escape, _EXAMPLE_WORDS.split()))
    + r"(?:\s*\[[\d,;\s]*\])*\s*(?:\.|$)(?:\s*\[[\d,;\s]*\])*\s*",
    re.I,
)
_EXAMPLE_LAST = _EXAMPLE_WORDS.rsplit(" ", 1)[-1]
# What may still follow the example's words before the copy is known to be complete.
_OPEN_CITATION = re.compile(r"\[[\d,;\s]*")
_EXAMPLE_TAIL = re.compile(r"(?:\s*\[[\d,;\s]*\]?)*\s*\.?(?:\s*\[[\d,;\s]*\]?)*\s*")


def repeats_example(text: str) -> bool:
    """Whether ``text`` is only the prompt's example sentence (whatever passage it cites):
    what a small model writes when it finds nothing to say."""
    return not drop_example(text).strip() and bool(text.strip())


def drop_example(text: str) -> str:
    """``text`` without a leading copy of the prompt's example sentence.

    Measured on 40 SEC questions (bench/answers.py), Qwen2.5-Coder-1.5B began 5 answers with
    the (former) example verbatim and then answered ("Net sales grew in the quarter [2]. [3]
    The cost of sales …"): a false statement with a citation, in front of the answer.
    """
    match = _LEADING_EXAMPLE.match(text)
    return text[match.end() :] if match else text


def loop_start(
    text: str, *, repeats: int = 4, min_span: int = 48, max_unit: int = 160
) -> int | None:
    """Where ``text`` has begun repeating itself, or None: when it ends in ``repeats`` or
    more back-to-back copies of one piece (up to ``max_unit`` characters, with a letter or
    digit in it, ``min_span`` characters in all), the index just after the first copy,
    moved back to the space before it when the copy ends inside a word or a ``[n]`` marker
    (the copies start wherever the tokens did: "$7,192 [2] [3] [1" + "] [3] [1" …).

    A small model at low temperature can fall into a loop it never leaves: measured on the
    40 questions of bench/answers.py (500-token contexts), one answer went on "Revenue was
    $7,192 [2] [3] [1] [3] [1] [3] …" for all of ``llm.max_tokens``, some 20 s of
    markers after the figure. Cheap enough to call after every token.
    """
    n = len(text)
    for unit in range(1, min(max_unit, n // repeats) + 1):
        piece = text[n - unit :]
        if not any(ch.isalnum() for ch in piece):  # spaces, dashes, pipes: layout, not a loop
            continue
        copies = 1
        while (
            copies * unit + unit <= n and text[n - (copies + 1) * unit : n - copies * unit] == piece
        ):
            copies += 1
        if copies >= repeats and copies * unit >= min_span:
            cut = n - (copies - 1) * unit
            if not text[cut].isspace() and not text[cut - 1].isspace():
                cut = max(text.rfind(" ", 0, cut), 0)
            return len(text[:cut].rstrip())
    return None


class StreamedExample:
    """Holds back the start of a streaming answer while it may be a copy of the example
    sentence, and drops the copy (see :func:`drop_example`); everything else passes at once."""

    def __init__(self) -> None:
        self._held = ""
        self._decided = False

    def feed(self, delta: str, *, final: bool = False) -> str:
        """The text that can be shown now, given the next piece of the answer."""
        if self._decided:
            return delta
        text = self._held + delta
        said = " ".join(text.lower().split())
        if not final and said and _EXAMPLE_WORDS.startswith(said):
            self._held = text  # may still become the example
            return ""
        if said.startswith(_EXAMPLE_WORDS):
            match = _LEADING_EXAMPLE.match(text)
            rest = text[match.end() :] if match is not None else ""
            if rest and not final and _OPEN_CITATION.fullmatch(rest):
                self._held = text  # a marker after the copy: dropped with it once complete
                return ""
            if (match is not None and match.end() < len(text.rstrip())) or final:
                self._decided, self._held = True, ""
                return drop_example(text)
            tail = text.lower().split(_EXAMPLE_LAST, 1)[-1]
            if _EXAMPLE_TAIL.fullmatch(tail):
                self._held = text  # the copy's markers and full stop are still coming
                return ""
        self._decided, self._held = True, ""
        return text

    def flush(self) -> str:
        """What is still held, without a copied example."""
        return self.feed("", final=True)


def is_no_answer(text: str) -> bool:
    """Whether ``text`` is (or starts with) the fixed no-answer sentence."""
    return _NO_ANSWER_KEY in " ".join(text.lower().split()[:16])
