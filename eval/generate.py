"""Synthetic test sets: question/answer/source triples written from the ingested corpus.

Three kinds of question, each tied to the chunks it was written from:

- ``single-hop``: one chunk;
- ``multi-hop``: two chunks, of the same document or of two documents (the second
  document's chunk is the one sharing most words with the first, so the pair is
  about one topic);
- ``table``: one chunk whose element types include ``Table`` — or, where the
  parser found none (unstructured's ``fast`` PDF strategy labels no tables), a
  chunk dense with figures.

A :class:`Writer` turns chunks into a question and its answer: :class:`LLMWriter`
asks a deepwell LLM backend (the local GGUF model or an OpenAI-compatible
endpoint); :class:`ExtractiveWriter` needs no model (claim sentences and table
rows through templates), for tests and for a first set on a machine without one.

Every candidate passes a quality filter (:func:`reject_reason`: the answer's
figures and most of its words are in the source chunks; the question does not
give the answer away) and de-duplication (word 3-gram Jaccard, and cosine
similarity of question embeddings when an embedder is given). Items keep their
source chunk ids, document ids, file names and pages; :func:`write_jsonl` writes
the JSONL format :func:`eval.datasets.load_jsonl` reads, passages included, so
context recall and precision apply to synthetic sets.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from eval.datasets import file_name
from eval.finetune import doc_label, generate_qa
from retrieval import readable_chunks

if TYPE_CHECKING:
    from core import Principal
    from retrieval import LLM, Embedder, Message, VectorIndex

Kind = Literal["single-hop", "multi-hop", "table"]
KINDS: tuple[Kind, ...] = ("single-hop", "multi-hop", "table")

_NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")
_ROW = re.compile(
    r"(?P<label>[A-Z][A-Za-z ,'&()\-]{3,60}?)\s+\$?\s*(?P<value>\d[\d,]*(?:\.\d+)?)\b"
)
_QA = re.compile(r"question\s*:\s*(?P<q>.+?)\s*answer\s*:\s*(?P<a>.+)", re.IGNORECASE | re.DOTALL)
#: Share of figure-like tokens that makes a chunk without Table elements count as a table.
TABLE_NUMBER_SHARE = 0.25
MIN_CHUNK_CHARS = 200


@dataclass(frozen=True)
class SourceChunk:
    """A chunk as the generator reads it."""

    id: str
    doc_id: str
    doc: str
    text: str
    chunk_index: int = 0
    page: int | None = None
    element_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generated:
    """One synthetic item and where it came from."""

    question: str
    answer: str
    kind: Kind
    chunk_ids: tuple[str, ...]
    doc_ids: tuple[str, ...]
    docs: tuple[str, ...]
    pages: tuple[int, ...]
    passages: tuple[str, ...]

    def to_json(self, qid: str) -> dict[str, object]:
        """The JSONL record :func:`eval.datasets.load_jsonl` reads (plus the chunk/doc ids)."""
        return {
            "id": qid,
            "question": self.question,
            "answer": self.answer,
            "question_type": self.kind,
            "sources": [_glob_escape(d) for d in dict.fromkeys(self.docs)],
            "pages": list(dict.fromkeys(self.pages)),
            "passages": list(self.passages),
            "chunk_ids": list(self.chunk_ids),
            "doc_ids": list(dict.fromkeys(self.doc_ids)),
        }


@dataclass
class GenerationReport:
    items: list[Generated] = field(default_factory=list)
    attempts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        return {"items": len(self.items), "attempts": self.attempts} | {
            "rejected": dict(self.rejected)
        }


class Writer(Protocol):
    def write(self, kind: Kind, chunks: Sequence[SourceChunk]) -> tuple[str, str] | None:
        """A question the chunks answer, and the answer; None when it has none."""


# --- reading the corpus ------------------------------------------------------------------


def read_chunks(index: VectorIndex, principal: Principal) -> list[SourceChunk]:
    """Every chunk with text that ``principal`` may read (the ACL applied by retrieval), by id."""
    return sorted(
        (
            SourceChunk(
                id=c.id,
                doc_id=c.doc_id,
                doc=file_name(c.source_uri),
                text=c.text,
                chunk_index=c.chunk_index,
                page=int(c.page_start) if c.page_start is not None else None,
                element_types=tuple(c.element_types),
            )
            for c in readable_chunks(index, principal)
            if c.text
        ),
        key=lambda c: c.id,
    )


def is_table(chunk: SourceChunk) -> bool:
    """A Table element, or (no table labels from the parser) a chunk dense with figures."""
    if "Table" in chunk.element_types:
        return True
    tokens = chunk.text.split()
    return len(tokens) >= 20 and sum(bool(_NUMBER.fullmatch(t)) for t in tokens) / len(tokens) >= (
        TABLE_NUMBER_SHARE
    )


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def partner(
    seed: SourceChunk, chunks: Sequence[SourceChunk], same_doc: bool, rng: random.Random
) -> SourceChunk | None:
    """The chunk to pair ``seed`` with: the most word-overlapping of a random sample.

    ``same_doc``: another chunk of the same document; else a chunk of another one.
    """
    pool = [c for c in chunks if c.id != seed.id and (c.doc_id == seed.doc_id) == same_doc]
    if not pool:
        return None
    words = _words(seed.text)
    sample = rng.sample(pool, min(50, len(pool)))
    return max(sample, key=lambda c: (len(words & _words(c.text)), c.id))


# --- quality and de-duplication (pure) ---------------------------------------------------


def reject_reason(question: str, answer: str, sources: Sequence[str]) -> str | None:
    """Why a candidate is not kept, or None when it passes.

    The answer must be grounded: every figure in it appears in the source text, and
    at least 60% of its content words do. The question must be a question and must
    not contain the answer.
    """
    question, answer = question.strip(), answer.strip()
    source = " ".join(sources)
    plain = source.replace(",", "")
    figures = [f.strip("$%").replace(",", "") for f in _NUMBER.findall(answer)]
    words = _words(answer)
    grounded = len(words & _words(source)) / len(words) if words else 1.0
    problems = (
        ("malformed question", not question.endswith("?") or not 15 <= len(question) <= 300),
        ("malformed answer", not answer or len(answer) > 400),
        ("figure not in source", any(f not in plain for f in figures)),
        ("answer not in source", grounded < 0.6),
        ("empty answer", not figures and not words),
        (
            "question gives the answer away",
            len(answer) >= 12 and answer.lower().rstrip(".") in question.lower(),
        ),
    )
    return next((reason for reason, bad in problems if bad), None)


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def is_duplicate(
    question: str,
    kept: Sequence[str],
    *,
    threshold: float = 0.6,
    similar: Callable[[str, Sequence[str]], float] | None = None,
    max_similarity: float = 0.92,
) -> bool:
    """Whether ``question`` repeats one already kept (3-gram Jaccard, or embedding cosine)."""
    mine = shingles(question)
    if any(jaccard(mine, shingles(k)) >= threshold for k in kept):
        return True
    return similar is not None and bool(kept) and similar(question, kept) >= max_similarity


def embedding_similarity(embedder: Embedder) -> Callable[[str, Sequence[str]], float]:
    """The highest cosine similarity of a question to the kept ones (normalized vectors)."""
    cache: dict[str, list[float]] = {}

    def vec(text: str) -> list[float]:
        if text not in cache:
            cache[text] = [float(x) for x in embedder.embed_query(text)]
        return cache[text]

    def best(question: str, kept: Sequence[str]) -> float:
        q = vec(question)
        return max(sum(a * b for a, b in zip(q, vec(k), strict=True)) for k in kept)

    return best


def anchor(question: str, docs: Sequence[str]) -> str:
    """The question, made to name its documents when it does not, so it can be answered
    against the whole corpus (as the SEC questions are): ``In the 2023 Q1 AAPL filing, ...``.

    A document counts as named when every word of its file stem is in the question.
    """
    stems = [Path(d).stem for d in dict.fromkeys(docs) if d]
    low = question.lower()
    if all(all(t.lower() in low for t in s.split()) for s in stems):
        return question
    label = " and ".join(stems)
    return f"In the {label} filing{'s' if len(stems) > 1 else ''}, {low[:1]}{question[1:]}"


# --- writers -----------------------------------------------------------------------------

_INSTRUCTIONS: dict[Kind, str] = {
    "single-hop": "Write one question that the excerpt answers, and its short answer copied "
    "from the excerpt.",
    "multi-hop": "Write one question that needs BOTH excerpts to answer (for example a "
    "comparison of two figures), and its short answer using words and figures from them.",
    "table": "The excerpt is a table. Write one question about one figure in it, and the "
    "answer: that figure with its unit, copied from the table.",
}


class LLMWriter:
    """Questions written by a deepwell LLM backend (local GGUF or OpenAI-compatible)."""

    def __init__(self, llm: LLM, *, max_chunk_chars: int = 1200) -> None:
        self.llm = llm
        self.max_chunk_chars = max_chunk_chars

    def prompt(self, kind: Kind, chunks: Sequence[SourceChunk]) -> list[Message]:
        from retrieval import Message

        parts = [
            f"Excerpt {i} (from {doc_label(c.doc)}):\n{c.text[: self.max_chunk_chars]}"
            for i, c in enumerate(chunks, start=1)
        ]
        system = (
            "You write exam questions about company documents. "
            + _INSTRUCTIONS[kind]
            + " Name the company and period in the question. Reply in exactly two lines:\n"
            "Question: <the question>\nAnswer: <the answer>"
        )
        return [Message("system", system), Message("user", "\n\n".join(parts))]

    def write(self, kind: Kind, chunks: Sequence[SourceChunk]) -> tuple[str, str] | None:
        reply = self.llm.complete(self.prompt(kind, chunks)).text
        return parse_reply(reply)


def parse_reply(reply: str) -> tuple[str, str] | None:
    """A question and its answer out of a model's reply.

    ``Question: ... Answer: ...`` (first answer line); failing that, the first line
    ending in ``?`` and the next non-empty line (small models often drop the labels).
    """
    match = _QA.search(reply)
    if match is not None:
        question, rest = match["q"], match["a"].strip()
    else:
        lines = [line.strip() for line in reply.splitlines() if line.strip()]
        at = next((i for i, line in enumerate(lines) if line.rstrip('*" ').endswith("?")), None)
        if at is None or at + 1 >= len(lines):
            return None
        question, rest = lines[at], re.sub(r"^(answer|a)\s*:\s*", "", lines[at + 1], flags=re.I)
    question = " ".join(question.split()).strip('*" ')
    question = re.sub(r"^(question|q)\s*:\s*", "", question, flags=re.I)
    answer = " ".join(rest.splitlines()[0].split()).strip('*" ') if rest else ""
    return (question, answer) if question and answer else None


class ExtractiveWriter:
    """No model: claim sentences (``<Subject> was ...``) and table rows through templates."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _claim(self, chunk: SourceChunk) -> tuple[str, str] | None:
        from eval.finetune import CorpusChunk

        pairs = generate_qa(CorpusChunk(chunk.id, chunk.doc, chunk.text), 1, self.seed)
        return (pairs[0].question, pairs[0].answer) if pairs else None

    def write(self, kind: Kind, chunks: Sequence[SourceChunk]) -> tuple[str, str] | None:
        if kind == "table":
            match = _ROW.search(chunks[0].text)
            if match is None:
                return None
            label = " ".join(match["label"].split()).rstrip(" ,")
            return (
                f"What figure does {doc_label(chunks[0].doc)} report for {label}?",
                match["value"],
            )
        claims = [self._claim(c) for c in chunks]
        if any(c is None for c in claims):
            return None
        if kind == "single-hop":
            return claims[0]
        (q1, a1), (q2, a2) = claims[0], claims[1]  # type: ignore[misc]
        return (f"{q1.rstrip('?')}, and {q2[0].lower()}{q2[1:]}", f"{a1} {a2}")


# --- the generator -----------------------------------------------------------------------


def _glob_escape(name: str) -> str:
    """A file name as a source glob that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def generate(
    chunks: Sequence[SourceChunk],
    writer: Writer,
    n: int,
    *,
    kinds: Sequence[Kind] = KINDS,
    seed: int = 0,
    similar: Callable[[str, Sequence[str]], float] | None = None,
    max_attempts: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Up to ``n`` items, the kinds taking turns; deterministic for a writer that is.

    Each attempt draws source chunks for the next kind, asks ``writer``, anchors the
    question to its documents, and keeps it when :func:`reject_reason` and
    :func:`is_duplicate` let it through. Stops after ``max_attempts`` (default 4n).
    """
    rng = random.Random(seed)  # noqa: S311  (a reproducible sample, not a secret)
    usable = [c for c in chunks if len(c.text) >= MIN_CHUNK_CHARS] or list(chunks)
    tables = [c for c in usable if is_table(c)]
    texts = [c for c in usable if not is_table(c)] or usable
    report = GenerationReport()
    budget = max_attempts if max_attempts is not None else 4 * n
    turn = 0
    while len(report.items) < n and report.attempts < budget:
        kind = kinds[turn % len(kinds)]
        turn += 1
        if kind == "table" and not tables:
            report.rejected["no table chunk"] += 1
            report.attempts += 1
            continue
        first = rng.choice(tables if kind == "table" else texts)
        picked = [first]
        if kind == "multi-hop":
            other = partner(first, texts, same_doc=rng.random() < 0.5, rng=rng)
            if other is None:
                other = partner(first, texts, same_doc=True, rng=rng)
            if other is None:
                report.rejected["no partner chunk"] += 1
                report.attempts += 1
                continue
            picked.append(other)
        report.attempts += 1
        written = writer.write(kind, picked)
        if written is None:
            report.rejected["writer gave nothing"] += 1
            continue
        question = anchor(written[0], [c.doc for c in picked])
        answer = written[1]
        reason = reject_reason(question, answer, [c.text for c in picked])
        if reason is None and is_duplicate(
            question, [i.question for i in report.items], similar=similar
        ):
            reason = "duplicate"
        if reason is not None:
            report.rejected[reason] += 1
            continue
        report.items.append(
            Generated(
                question=question,
                answer=answer,
                kind=kind,
                chunk_ids=tuple(c.id for c in picked),
                doc_ids=tuple(c.doc_id for c in picked),
                docs=tuple(c.doc for c in picked),
                pages=tuple(c.page for c in picked if c.page is not None),
                passages=tuple(c.text for c in picked),
            )
        )
        if progress is not None:
            progress(len(report.items), n)
    return report


def write_jsonl(items: Sequence[Generated], path: Path, prefix: str = "g") -> Path:
    """Write ``items`` as a JSONL dataset (``eval dataset register`` and ``load_jsonl`` read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for i, item in enumerate(items, start=1):
            fh.write(json.dumps(item.to_json(f"{prefix}{i:03d}"), ensure_ascii=False) + "\n")
    return path
