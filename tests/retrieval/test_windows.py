"""Passage windows: each candidate cut to the rows or sentences that bear on the question."""

from __future__ import annotations

from answer_testkit import FakeSearcher, ScriptedLLM, make_chunk

from core import LLMSettings, Settings
from retrieval.answer import Answerer
from retrieval.windows import focus, stems

OPEX = make_chunk(
    1,
    "Operating Expenses\n"
    "The following table shows operating expenses for the three months ended July 1, 2023 "
    "and June 25, 2022 (dollars in millions):\n"
    " | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022\n"
    "Research and development | $7,442 | $6,797\n"
    "Selling, general and administrative | $5,973 | $6,012\n"
    "Total operating expenses | $13,415 | $12,809",
    table=True,
    section=("Item 2", "Operating Expenses"),
)
SEGMENTS = make_chunk(
    2,
    "Net sales by reportable segment (in millions)\n"
    " | 2023 | 2022\n"
    "Americas:\n"
    "Net sales | $35,383 | $37,472\n"
    "Operating income | $14,009 | $13,779\n"
    "Europe:\n"
    "Net sales | 20,205 | 19,287\n"
    "Operating income | 7,000 | 6,000",
    table=True,
)
PROSE = make_chunk(
    3,
    "Apple's fiscal year ends in September. The Company designs smartphones and computers. "
    "Research and development expense grew during the quarter. It was $7.4 billion, up 9%. "
    "The Company repurchased shares. Dividends were paid in cash.",
)
UNRELATED = make_chunk(4, "Legal proceedings are described in Note 10 of the annual report.")


def test_a_table_window_keeps_headers_units_and_the_rows_the_question_names() -> None:
    [window] = focus("How much did Apple spend on research and development?", [OPEX])
    lines = window.text.splitlines()
    # The long lead sentence goes (the column headers state the periods); so does the
    # heading the block's label already says (the chunk's section).
    assert lines[0] == " | Three Months Ended July 1, 2023 | Three Months Ended June 25, 2022"
    assert "Research and development | $7,442 | $6,797" in lines
    assert not any(line.startswith("Selling") for line in lines)
    assert (window.id, window.doc_id, window.page_start) == (OPEX.id, OPEX.doc_id, 3)


def test_a_kept_row_brings_the_row_heading_it_sits_under() -> None:
    [window] = focus("What were Europe's net sales?", [SEGMENTS], rows=1)
    lines = window.text.splitlines()
    assert lines[0] == "Net sales by reportable segment (in millions)"  # the units stay
    body = lines[lines.index("-|-|-") + 1 :]
    assert body == ["Europe:", "Net sales | 20,205 | 19,287"]


def test_rare_question_words_choose_the_rows_not_common_ones() -> None:
    # "sales" is in two rows, "Americas" only in one heading's rows; "operating" in two.
    [window] = focus("Operating income in the Americas", [SEGMENTS], rows=1)
    assert "Americas:" in window.text
    assert "14,009" in window.text
    assert "7,000" not in window.text


def test_a_prose_window_keeps_the_best_sentences_the_figure_after_them_and_marks_gaps() -> None:
    [window] = focus("How much was research and development expense?", [PROSE], sentences=1)
    assert window.text == (
        "… Research and development expense grew during the quarter. It was $7.4 billion, up 9%. …"
    )


def test_a_passage_sharing_no_question_word_is_kept_whole() -> None:
    out = focus("What did research and development cost?", [UNRELATED, OPEX])
    assert out[0] is UNRELATED
    assert out[1].text != OPEX.text


def test_stems_are_singular_content_words() -> None:
    assert stems("The liabilities and net sales") == {"liability", "net", "sale"}


def test_windows_fit_more_passages_into_the_same_budget() -> None:
    question = "How much did Apple spend on research and development?"
    chunks = [PROSE, OPEX, SEGMENTS, UNRELATED]

    def packed(windows: bool) -> list[str]:
        llm_settings = LLMSettings(context_tokens=200, context_windows=windows)
        answerer = Answerer(
            FakeSearcher(chunks),
            ScriptedLLM(["x"]),
            Settings(llm=llm_settings),
        )
        context = answerer.select_context(question, chunks)
        return [c.chunk_id for c in context.citations]

    whole, windowed = packed(False), packed(True)
    assert len(windowed) > len(whole)
    assert OPEX.id in windowed
