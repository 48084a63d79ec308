"""Context packing: budget, labels, duplicates, whole tables, ordering; a hypothesis property."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from answer_testkit import make_chunk, small_llm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.context import PackedContext, pack_context, parse_blocks, render_block
from retrieval.llm import estimate_tokens
from retrieval.llm.local import LocalLLM
from retrieval.tables import compact_table
from retrieval.types import RetrievedChunk

__all__ = ["small_llm"]  # the fixture, imported for pytest

SENTENCES = [
    "Net sales were $82,959 million in the third quarter.",
    "iPhone revenue fell slightly because of foreign currency weakness.",
    "Services net sales grew to a record level.",
    "Operating expenses rose on research and development headcount.",
    "Gross margin was 43.3 percent of net sales.",
]
TABLE = "Net sales | Q3 2023 | Q3 2022\niPhone | 39,669 | 40,665\nMac | 6,840 | 7,382"


def words(text: str) -> int:
    return len(text.split())


def lumpy(text: str) -> int:
    """Not additive over blocks (like BPE merges across boundaries): joins cost extra."""
    return len(text) + 5 * text.count("\n\n[")


COUNTERS: dict[str, Callable[[str], int]] = {
    "chars": len,
    "words": words,
    "estimate": estimate_tokens,
    "lumpy": lumpy,
}


def labels(packed: PackedContext) -> list[int]:
    return [n for n, _ in parse_blocks(packed.text)]


@pytest.mark.parametrize("counter", COUNTERS.values(), ids=COUNTERS.keys())
@pytest.mark.parametrize("budget", [0, 30, 80, 200, 10_000])
def test_budget_is_never_exceeded_and_best_chunks_come_first(
    counter: Callable[[str], int], budget: int
) -> None:
    chunks = [make_chunk(i, s, score=1 - i / 10) for i, s in enumerate(SENTENCES)]
    packed = pack_context(chunks, budget, counter)
    assert packed.tokens == (counter(packed.text) if packed.text else 0)
    assert packed.tokens <= budget
    ids = [c.chunk_id for c in packed.citations]
    assert ids == sorted(ids, key=lambda i: int(i[1:]))  # rank order kept
    if budget >= 10_000:
        assert len(packed.citations) == len(SENTENCES)


def test_blocks_are_labelled_with_title_section_and_page() -> None:
    chunk = make_chunk(0, SENTENCES[0], title="Apple 10-Q", page=4, doc="2023 Q3 AAPL")
    packed = pack_context([chunk, make_chunk(1, SENTENCES[1], page=None)], 1000, len)
    first, second = packed.text.split("\n\n")
    assert first.splitlines()[0] == "[1] Apple 10-Q (2023 Q3 AAPL.pdf) | Results | p. 4"
    assert first.splitlines()[1] == SENTENCES[0]
    assert second.startswith("[2] Quarterly report (d1.pdf) | Results\n")
    assert labels(packed) == [1, 2]


def test_citations_carry_what_a_reader_checks() -> None:
    chunk = make_chunk(7, SENTENCES[2] + " " * 3 + "x" * 400, score=0.42, page=9)
    (citation,) = pack_context([chunk], 10_000, len).citations
    assert citation.n == 1
    assert (citation.doc_id, citation.chunk_id, citation.score) == ("d1", "c7", 0.42)
    assert (citation.page_start, citation.page_end) == (9, 9)
    assert citation.source_uri == "file:///docs/d1.pdf"
    assert citation.section == ("Item 2", "Results")
    assert citation.snippet.startswith(SENTENCES[2])
    assert len(citation.snippet) <= 241
    assert citation.to_dict()["section"] == ["Item 2", "Results"]


@pytest.mark.parametrize(
    "duplicate", [SENTENCES[0], f"  {SENTENCES[0]}\n", SENTENCES[0].replace(" ", "\n")]
)
def test_exact_duplicate_texts_are_dropped(duplicate: str) -> None:
    chunks = [make_chunk(0, SENTENCES[0]), make_chunk(1, duplicate, doc="d2"), make_chunk(2, "")]
    packed = pack_context(chunks, 10_000, len)
    assert [c.chunk_id for c in packed.citations] == ["c0"]
    assert packed.duplicates == 1


def test_a_table_that_does_not_fit_is_skipped_whole_and_a_smaller_chunk_still_fits() -> None:
    big_table = make_chunk(1, "\n".join([TABLE] * 6), table=True)
    chunks = [make_chunk(0, SENTENCES[0]), big_table, make_chunk(2, SENTENCES[1])]
    budget = len(render_block(1, chunks[0])) + len(render_block(2, chunks[2])) + 2
    packed = pack_context(chunks, budget, len)
    assert [c.chunk_id for c in packed.citations] == ["c0", "c2"]
    assert packed.skipped == 1
    assert "39,669" not in packed.text


def test_a_table_that_fits_is_packed_whole() -> None:
    table = make_chunk(0, TABLE, table=True)
    packed = pack_context([table], len(render_block(1, table)), len)
    rows = TABLE.splitlines()
    # Whole, as compact markdown: a delimiter row under the header row.
    assert parse_blocks(packed.text) == [(1, "\n".join([rows[0], "-|-|-", *rows[1:]]))]
    assert packed.truncated == ()


def test_a_text_chunk_is_cut_at_a_sentence_when_only_part_fits() -> None:
    first = make_chunk(0, SENTENCES[0])
    long_text = make_chunk(1, " ".join(SENTENCES))
    room = len(render_block(2, make_chunk(1, " ".join(SENTENCES[:2]) + " …")))
    packed = pack_context([first, long_text], len(render_block(1, first)) + 2 + room, len)
    assert packed.truncated == (2,)
    body = parse_blocks(packed.text)[1][1]
    assert body == " ".join(SENTENCES[:2]) + " …"


def test_a_cut_keeps_the_texts_own_line_breaks() -> None:
    chunk = make_chunk(
        0, "Liquidity\nCash rose to $5 billion.\nDebt fell. " + "Padding words. " * 30
    )
    packed = pack_context([chunk], len(render_block(1, chunk)) - 100, len)
    assert parse_blocks(packed.text)[0][1].startswith("Liquidity\nCash rose to $5 billion.\nDebt")
    assert packed.truncated == (1,)


def test_partial_chunks_need_a_minimum_of_room() -> None:
    long_text = make_chunk(0, " ".join(SENTENCES))
    packed = pack_context([long_text], 60, len, min_partial_tokens=100)
    assert packed.empty
    assert packed.skipped == 1


def test_document_order_groups_chunks_of_a_document_by_position() -> None:
    chunks = [
        make_chunk(5, SENTENCES[0], doc="a"),
        make_chunk(9, SENTENCES[1], doc="b"),
        make_chunk(2, SENTENCES[2], doc="a"),
        make_chunk(1, SENTENCES[3], doc="b"),
    ]
    packed = pack_context(chunks, 10_000, len, order="document")
    assert [c.chunk_id for c in packed.citations] == ["c2", "c5", "c1", "c9"]
    assert labels(packed) == [1, 2, 3, 4]
    assert [c.n for c in packed.citations] == [1, 2, 3, 4]


def test_nothing_to_pack() -> None:
    packed = pack_context([], 100, len)
    assert packed.empty
    assert (packed.text, packed.tokens) == ("", 0)


def test_a_footnote_marker_inside_a_chunk_is_not_a_block_header() -> None:
    chunk = make_chunk(0, "Revenue rose.\n[7] See note 7 for details.")
    packed = pack_context([chunk, make_chunk(1, SENTENCES[1])], 10_000, len)
    assert parse_blocks(packed.text) == [(1, chunk.text), (2, SENTENCES[1])]


def test_budget_holds_with_the_models_own_tokenizer(small_llm: LocalLLM) -> None:
    chunks = [make_chunk(i, s) for i, s in enumerate(SENTENCES * 3)]
    chunks += [make_chunk(20, TABLE, table=True)]
    for budget in (40, 97, 150, 400):
        packed = pack_context(chunks, budget, small_llm.count_tokens)
        assert packed.tokens == small_llm.count_tokens(packed.text) <= budget


# --- property ---------------------------------------------------------------------------

texts = st.lists(st.sampled_from([*SENTENCES, "12,345 | 6,789", "Revenue [3] note."]), min_size=1)
chunk_specs = st.lists(st.tuples(texts, st.booleans(), st.sampled_from("abc")), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=chunk_specs,
    budget=st.integers(min_value=0, max_value=900),
    counter=st.sampled_from(list(COUNTERS.values())),
    order=st.sampled_from(["rank", "document"]),
)
def test_packing_property(
    specs: list[tuple[list[str], bool, str]],
    budget: int,
    counter: Callable[[str], int],
    order: str,
) -> None:
    chunks: list[RetrievedChunk] = [
        make_chunk(i, ("\n" if table else " ").join(parts), table=table, doc=doc)
        for i, (parts, table, doc) in enumerate(specs)
    ]
    packed = pack_context(chunks, budget, counter, order=order)  # type: ignore[arg-type]

    # Never over budget, by the counter's own measure of the final text.
    assert packed.tokens <= budget
    assert (counter(packed.text) if packed.text else 0) == packed.tokens
    # Labels are 1..n, contiguous, and match the citations.
    n = len(packed.citations)
    assert labels(packed) == list(range(1, n + 1))
    assert [c.n for c in packed.citations] == list(range(1, n + 1))
    # No table is ever cut: a packed table's body is its whole text (as compact rows).
    by_id = {c.id: c for c in chunks}
    bodies = dict(parse_blocks(packed.text))
    for citation in packed.citations:
        original = by_id[citation.chunk_id]
        if original.is_table:
            assert bodies[citation.n] == compact_table(original.text)
            assert citation.n not in packed.truncated
    # No text appears twice.
    assert len({" ".join(b.split()) for b in bodies.values()}) == n
