"""The ``extractive`` backend: no model; answers with the context's most relevant sentences.

It reads the answer prompt of :mod:`retrieval.llm.prompts`, scores every
sentence of every context passage by the question's terms (IDF-weighted over the
passages' sentences, so rare terms like "iPhone" count more than "company"), and
returns the best few in passage order, each followed by its ``[n]``. Deterministic:
the same prompt gives the same answer. For tests, and for deployments that want
sources without a generative model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from core import Settings
from retrieval.context import parse_blocks
from retrieval.llm.base import LLM, Message, TokenStream, Usage, estimate_tokens
from retrieval.llm.prompts import NO_ANSWER, split_answer_prompt

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_MIN_SENTENCE_CHARS = 20
_MAX_SENTENCE_CHARS = 400

_STOPWORDS = """a about above after again all also am an and any are as at be been before being
between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no
nor not now of off on once only or other our ours out over own same she should so some such than
that the their theirs them then there these they this those through to too under until up very
was we were what when where which while who whom why will with would you your yours"""
STOPWORDS = frozenset(_STOPWORDS.split())


def terms(text: str) -> list[str]:
    """Lower-cased content words of ``text``, stop words removed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def _sentences(body: str) -> list[str]:
    out = []
    for raw in _SENTENCE.split(body):
        sentence = " ".join(raw.split()).removesuffix(" …")
        if len(sentence) >= _MIN_SENTENCE_CHARS:
            out.append(sentence[:_MAX_SENTENCE_CHARS])
    return out


def extract(question: str, context: str, *, max_sentences: int = 3) -> str:
    """The answer: up to ``max_sentences`` best sentences with their ``[n]``, or NO_ANSWER."""
    candidates = [
        (n, i, sentence)
        for n, body in parse_blocks(context)
        for i, sentence in enumerate(_sentences(body))
    ]
    wanted = set(terms(question))
    if not candidates or not wanted:
        return NO_ANSWER
    bags = [set(terms(s)) for _, _, s in candidates]
    df = Counter(t for bag in bags for t in bag if t in wanted)
    idf = {t: math.log(1 + len(bags) / df[t]) for t in df}
    scored = []
    for (n, i, sentence), bag in zip(candidates, bags, strict=True):
        score = sum(idf[t] for t in bag & wanted)
        if score > 0:
            # Ties go to the earlier passage (better ranked), then the earlier sentence.
            scored.append((-score, n, i, sentence))
    if not scored:
        return NO_ANSWER
    best = sorted(scored)[:max_sentences]
    best.sort(key=lambda item: (item[1], item[2]))
    return " ".join(f"{sentence} [{n}]" for _, n, _, sentence in best)


class ExtractiveLLM(LLM):
    """Answers by extraction; counts tokens with a conservative estimate."""

    backend = "extractive"

    def __init__(
        self, *, context_window: int = 4096, max_tokens: int = 512, max_sentences: int = 3
    ) -> None:
        super().__init__(
            context_window=context_window, max_tokens=max_tokens, temperature=0.0, timeout_s=0.0
        )
        self.max_sentences = max_sentences

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractiveLLM:
        return cls(context_window=settings.llm.context_window, max_tokens=settings.llm.max_tokens)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _answer(self, messages: Sequence[Message]) -> str:
        for message in reversed(messages):
            if message.role == "user" and (parts := split_answer_prompt(message.content)):
                return extract(parts[1], parts[0], max_sentences=self.max_sentences)
        return NO_ANSWER

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        usage = Usage(prompt_tokens=self.count_messages(messages), finish_reason="stop")
        text = self._answer(messages)
        usage.completion_tokens = self.count_tokens(text)

        def words() -> Iterator[str]:
            # Word by word, so streaming consumers see the same shape as from a model.
            for i, word in enumerate(text.split(" ")):
                yield word if i == 0 else " " + word

        return TokenStream(words(), usage)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": None, "max_sentences": self.max_sentences}
