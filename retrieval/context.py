"""Context injection: pack retrieved chunks into an LLM's token budget, labelled for citation.

A pure function over plain data: the caller passes the chunks (best first), the
budget and the token counter of the model that will read the text, so the same
code serves a llama.cpp tokenizer, a tiktoken one or a character estimate.

Each packed chunk becomes a block::

    [2] Quarterly report (2023 Q3 AAPL.pdf) | Item 2 > Products | p. 14
    <chunk text>

A table chunk's rows go in as compact markdown (:func:`retrieval.tables.render_table`):
its units said once, a delimiter under the header row, empty columns left out.
Blocks are separated by a blank line. :func:`parse_blocks` reads them back (the
extractive backend answers from them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from core import PageBox
from retrieval.tables import compact_table
from retrieval.types import RetrievedChunk

TokenCounter = Callable[[str], int]
Order = Literal["rank", "document"]

BLOCK_SEPARATOR = "\n\n"
SNIPPET_CHARS = 240
_TITLE_CHARS = 48
_SECTION_CHARS = 60
_ELLIPSIS = " …"
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_BLOCK_HEADER = re.compile(r"^\[(\d+)\][^\n]*\n", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Citation:
    """What a reader needs to check one ``[n]`` of an answer."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    source_uri: str
    page_start: int | None
    page_end: int | None
    section: tuple[str, ...]
    snippet: str
    score: float
    #: Where the passage lies on its pages (page fractions, y downwards): what a viewer
    #: highlights on the rendered page.
    boxes: tuple[PageBox, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["section"] = list(self.section)
        data["boxes"] = [b.to_payload() for b in self.boxes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Citation:
        """The citation :meth:`to_dict` gave (the API's JSON form); boxes may be missing."""
        boxes = (PageBox.from_payload(b) for b in data.get("boxes") or ())
        return cls(
            **(
                data
                | {
                    "section": tuple(data.get("section") or ()),
                    "boxes": tuple(b for b in boxes if b is not None),
                }
            )
        )


@dataclass(frozen=True, slots=True)
class PackedContext:
    """The context block of a prompt and what each of its labels refers to.

    ``chunks[i]`` is the chunk behind ``citations[i]`` (label ``i + 1``), with its
    text as packed (a text chunk may end in `` …`` when cut at a sentence).
    """

    text: str
    citations: list[Citation]
    tokens: int
    budget: int
    chunks: list[RetrievedChunk] = field(default_factory=list)
    duplicates: int = 0
    skipped: int = 0
    truncated: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.citations


def uri_name(source_uri: str) -> str:
    """The (decoded) last path segment of a source URI: usually the file name."""
    return PurePosixPath(unquote(urlparse(source_uri).path)).name if source_uri else ""


def doc_name(chunk: RetrievedChunk) -> str:
    """A short name of the chunk's document: the file name of its source URI, else its title."""
    return uri_name(chunk.source_uri) or chunk.title or chunk.doc_id


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return head + "…"


def _pages(chunk: RetrievedChunk) -> str:
    start, end = chunk.page_start, chunk.page_end
    if start is None:
        return ""
    if end is None or end == start:
        return f"p. {start}"
    return f"pp. {start}–{end}"


def render_header(n: int, chunk: RetrievedChunk) -> str:
    """The label line of block ``n``: ``[n] title (file) | section | pages``."""
    name = doc_name(chunk)
    title = _cut(chunk.title, _TITLE_CHARS) if chunk.title else ""
    head = f"{title} ({name})" if title and title != name else name
    parts = [head]
    if chunk.section:  # the nearest heading: the outer ones cost tokens and say little
        parts.append(_cut(chunk.section[-1], _SECTION_CHARS))
    if pages := _pages(chunk):
        parts.append(pages)
    return f"[{n}] " + " | ".join(parts)


def render_block(n: int, chunk: RetrievedChunk) -> str:
    """Block ``n``: the label line, then the chunk's text (a table as compact rows)."""
    body = compact_table(chunk.text) if chunk.is_table else chunk.text.strip()
    return f"{render_header(n, chunk)}\n{body}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of ``text`` on one line, cut at a word."""
    return _cut(text, limit)


def _dedup_key(text: str) -> str:
    return " ".join(text.split())


def _truncate(
    n: int, chunk: RetrievedChunk, room: int, count_tokens: TokenCounter
) -> RetrievedChunk | None:
    """The longest sentence prefix of a text chunk whose block fits in ``room`` tokens."""
    text = chunk.text.strip()
    ends = [m.start() for m in _SENTENCE_END.finditer(text)]  # where each sentence stops

    def cut(k: int) -> RetrievedChunk:
        return chunk.with_text(text[: ends[k - 1]] + _ELLIPSIS)

    lo, hi, best = 1, len(ends), 0
    while lo <= hi:  # binary search: the block grows with the number of sentences
        mid = (lo + hi) // 2
        if count_tokens(render_block(n, cut(mid))) <= room:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return cut(best) if best else None


def _order(selected: list[tuple[int, RetrievedChunk]], order: Order) -> list[RetrievedChunk]:
    """Rank order, or grouped by document (documents by best rank, chunks by position)."""
    if order == "rank":
        return [c for _, c in selected]
    first_rank: dict[str, int] = {}
    for rank, chunk in selected:
        first_rank.setdefault(chunk.doc_id, rank)
    ordered = sorted(selected, key=lambda rc: (first_rank[rc[1].doc_id], rc[1].chunk_index, rc[0]))
    return [c for _, c in ordered]


def _render(chunks: Sequence[RetrievedChunk]) -> str:
    return BLOCK_SEPARATOR.join(render_block(i, c) for i, c in enumerate(chunks, start=1))


def pack_context(
    chunks: Sequence[RetrievedChunk],
    budget_tokens: int,
    count_tokens: TokenCounter,
    *,
    order: Order = "rank",
    min_partial_tokens: int = 48,
) -> PackedContext:
    """Pack the best chunks into ``budget_tokens``, labelled ``[1]``..``[n]``.

    Args:
        chunks: retrieved chunks, best first.
        budget_tokens: the most tokens the returned ``text`` may count.
        count_tokens: the reading model's token counter.
        order: ``rank`` keeps retrieval order; ``document`` groups chunks of one
            document in reading order (documents ordered by their best chunk).
        min_partial_tokens: a text chunk that does not fit whole is cut at a
            sentence boundary when at least this many tokens are left. Tables
            are never cut: one fits whole or is skipped, and smaller chunks
            after it may still fit.

    Returns:
        The context text, one :class:`Citation` per label, and the tokens used
        (never more than ``budget_tokens``).
    """
    picked = _select(chunks, budget_tokens, count_tokens, min_partial_tokens)
    selected, skipped = picked.selected, picked.skipped
    ordered = _order(selected, order)
    text = _render(ordered)
    tokens = count_tokens(text) if ordered else 0
    # Token counts are not exactly additive (merges across block boundaries, label
    # widths after reordering): enforce the budget on the final text.
    while ordered and tokens > budget_tokens:
        worst = max(selected, key=lambda rc: rc[0])
        selected.remove(worst)
        ordered = [c for c in ordered if c is not worst[1]]
        skipped += 1
        text = _render(ordered)
        tokens = count_tokens(text) if ordered else 0
    return PackedContext(
        text=text,
        citations=[_citation(i, c) for i, c in enumerate(ordered, start=1)],
        tokens=tokens,
        budget=budget_tokens,
        chunks=list(ordered),
        duplicates=picked.duplicates,
        skipped=skipped,
        truncated=tuple(i for i, c in enumerate(ordered, start=1) if c.id in picked.cut_ids),
    )


@dataclass(slots=True)
class _Selection:
    """The chunks that fit, with their retrieval rank; what was left out and why."""

    selected: list[tuple[int, RetrievedChunk]] = field(default_factory=list)
    duplicates: int = 0  # repeats of a chunk already selected
    skipped: int = 0  # did not fit
    cut_ids: set[str] = field(default_factory=set)  # fitted cut at a sentence boundary


def _select(
    chunks: Sequence[RetrievedChunk],
    budget_tokens: int,
    count_tokens: TokenCounter,
    min_partial_tokens: int,
) -> _Selection:
    """Chunks in rank order while they fit (see :func:`pack_context`), duplicates dropped,
    a text chunk that does not fit whole cut when ``min_partial_tokens`` are left."""
    sep_tokens = count_tokens(BLOCK_SEPARATOR) if chunks else 0
    seen: set[str] = set()
    out = _Selection()
    used = 0
    for rank, chunk in enumerate(chunks):
        key = _dedup_key(chunk.text)
        if not key or key in seen:
            out.duplicates += bool(key)
            continue
        seen.add(key)
        n = len(out.selected) + 1
        room = budget_tokens - used - (sep_tokens if out.selected else 0)
        cost = count_tokens(render_block(n, chunk))
        partial = None
        if cost > room:
            if not chunk.is_table and room >= min_partial_tokens:
                partial = _truncate(n, chunk, room, count_tokens)
            if partial is None:
                out.skipped += 1
                continue
            cost = count_tokens(render_block(n, partial))
            out.cut_ids.add(partial.id)
        out.selected.append((rank, partial or chunk))
        used += cost + (sep_tokens if n > 1 else 0)
    return out


def _citation(n: int, chunk: RetrievedChunk) -> Citation:
    """The citation of the chunk labelled ``[n]``."""
    return Citation(
        n=n,
        doc_id=chunk.doc_id,
        chunk_id=chunk.id,
        title=chunk.title or doc_name(chunk),
        source_uri=chunk.source_uri,
        page_start=chunk.page_start,
        page_end=chunk.page_end,
        section=tuple(chunk.section),
        snippet=snippet(chunk.text),
        score=chunk.score,
        boxes=tuple(chunk.boxes),
    )


def parse_blocks(text: str) -> list[tuple[int, str]]:
    """``(n, body)`` of each block of a packed context text, in order.

    Labels run 1..n, so a line inside a chunk that merely starts with ``[7]`` (a
    footnote) is not taken for a header unless 7 is the next label.
    """
    heads: list[re.Match[str]] = []
    for head in _BLOCK_HEADER.finditer(text):
        start = head.start()
        at_block_start = start == 0 or text.startswith(BLOCK_SEPARATOR, start - 2)
        if at_block_start and int(head.group(1)) == len(heads) + 1:
            heads.append(head)
    blocks: list[tuple[int, str]] = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        blocks.append((i + 1, text[head.end() : end].strip()))
    return blocks
