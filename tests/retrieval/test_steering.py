"""Steering: the issuer, document type and period a question names choose the documents searched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from search_testkit import BACKENDS, HashEmbedder, loaded_index, payload, points

from core import InvalidInputError, Principal, SearchSettings
from retrieval.index import VectorIndex
from retrieval.search import Searcher
from retrieval.steering import (
    DocFacts,
    QueryMeta,
    choose_documents,
    issuers_named,
    read_query,
)

READER = Principal(user="ann", tenant="acme")


@pytest.mark.parametrize(
    ("question", "periods"),
    [
        ("What was revenue in Q3 2023?", {"2023Q3"}),
        ("revenue in 2023 Q3", {"2023Q3"}),
        ("in the third quarter of 2023", {"2023Q3"}),
        ("in the third quarter of fiscal year 2024", {"2024Q3"}),
        ("fiscal 2024 third quarter", {"2024Q3"}),
        ("Q3 FY23 margin", {"2023Q3"}),
        ("3Q22 results", {"2022Q3"}),
        ("Q1'23 results", {"2023Q1"}),
        ("results for FY2018", {"2018"}),
        ("fiscal 2022 capital spending", {"2022"}),
        ("the 2018 annual report", {"2018"}),
        ("in the quarter ended July 1, 2023", {"2023-07-01", "2023-07", "2023-06"}),
        ("cash as of March 2023", {"2023-03"}),
        ("revenue in 2018", {"2018"}),
        ("revenue for the year 2018", {"2018"}),
        ("revenue from 2018 to 2020", set()),  # two years: no one period
        ("How has revenue grown since 2019?", set()),  # not a period of a document
        ("the notes due 2029", set()),
        ("notes of $2,023 million", set()),
        ("How did revenue change?", set()),
    ],
)
def test_the_period_a_question_names(question: str, periods: set[str]) -> None:
    assert read_query(question).periods == periods


def test_type_and_latest() -> None:
    assert read_query("What did the latest 10-K say?") == QueryMeta(doc_type="10-K", latest=True)
    assert read_query("in the most recent annual report").doc_type == "annual report"
    assert read_query("in the most recent annual report").latest
    assert not read_query("Q3 2023, the latest quarter").latest  # a named period wins
    assert not read_query("What is the travel policy?")


def _doc(
    doc_id: str,
    issuer: str = "apple",
    *,
    doc_type: str | None = "10-Q",
    end: date | None = None,
    grades: dict[str, int] | None = None,
    tickers: tuple[str, ...] = (),
    acl: tuple[str, ...] = ("*",),
    tenant: str = "acme",
) -> DocFacts:
    return DocFacts(
        doc_id=doc_id,
        tenant=tenant,
        acl=acl,
        issuer_keys=(issuer,),
        tickers=tickers,
        doc_type=doc_type,
        period_end=end,
        period_grades=grades or {},
    )


#: Two issuers, two quarterly filings each. The file name calls Orchard's filing ending
#: December 31, 2022 "2023 Q1" (its fiscal first quarter); its calendar quarter is 2022 Q4.
CORPUS = [
    _doc("orch-23q1", "orchard", end=date(2022, 12, 31), grades={"2023Q1": 3, "2022Q4": 1}),
    _doc("orch-23q2", "orchard", end=date(2023, 4, 1), grades={"2023Q2": 3, "2023Q1": 1}),
    _doc("glob-23q1", "globex", end=date(2023, 3, 31), grades={"2023Q1": 3}, tickers=("GBX",)),
    _doc("glob-23q2", "globex", end=date(2023, 6, 30), grades={"2023Q2": 3}, tickers=("GBX",)),
    _doc("glob-22k", "globex", doc_type="10-K", end=date(2022, 12, 31), grades={"2022": 2}),
]


@pytest.mark.parametrize(
    ("question", "chosen"),
    [
        # issuer + quarter: the filing the file name labels beats the one whose calendar
        # quarter it is
        ("What were Orchard's net sales in Q1 2023?", {"orch-23q1"}),
        ("GBX revenue in Q2 2023", {"glob-23q2"}),
        # issuer alone: all its documents
        ("How has Orchard's margin changed?", {"orch-23q1", "orch-23q2"}),
        # latest: the issuer's last period end
        ("Orchard's latest 10-Q: gross margin?", {"orch-23q2"}),
        # a type: the annual report means the 10-K
        ("What does Globex's annual report say about risks?", {"glob-22k"}),
        # a period alone: every issuer's document of it
        ("Which companies reported in Q2 2023?", {"orch-23q2", "glob-23q2"}),
        # a period no document has: the issuer's documents
        ("Orchard's revenue in Q4 2019", {"orch-23q1", "orch-23q2"}),
    ],
)
def test_choose_documents(question: str, chosen: set[str]) -> None:
    steer = choose_documents(question, CORPUS)
    assert steer is not None
    assert steer.doc_ids == chosen


def test_nothing_named_steers_nothing() -> None:
    assert choose_documents("What is the refund policy?", CORPUS) is None
    assert choose_documents("What were Orchard's net sales in Q1 2023?", []) is None


def test_issuer_names_match_whole_words_and_tickers_their_case() -> None:
    docs = [
        _doc("a", "orchard", tickers=("ORCH",)),
        _doc("b", "globex"),
        _doc("c", "target"),
        _doc("d", "bank of nowhere"),
    ]
    assert issuers_named("Orchard's sales", docs) == {"orchard"}
    assert issuers_named("Orchards in bloom", docs) == frozenset()
    assert issuers_named("ORCH revenue", docs) == {"ORCH"}
    assert issuers_named("What did orch report?", docs) == frozenset()
    # a one-word name that is also a word: only capitalised, unless nothing is
    assert issuers_named("What is the target margin for Orchard?", docs) == {"orchard"}
    assert issuers_named("What did Target say about margins?", docs) == {"target"}
    assert issuers_named("target revenue in q3 2023", docs) == {"target"}
    assert issuers_named("deposits at the Bank of Nowhere", docs) == {"bank of nowhere"}
    assert issuers_named("Deposits at the bank of nowhere", docs) == {"bank of nowhere"}


def test_a_day_beats_a_month_at_the_same_grade() -> None:
    docs = [
        _doc("jun30", "x", grades={"2023-06-30": 2, "2023-06": 2}),
        _doc("jul1", "x", grades={"2023-07-01": 2, "2023-07": 2, "2023-06": 2}),
    ]
    steer = choose_documents("x in the quarter ended July 1, 2023", docs)
    assert steer is not None
    assert steer.doc_ids == {"jul1"}


# --- through the searcher, on both backends ----------------------------------------------


def _chunks(
    doc_id: str, texts: list[str], docmeta: dict[str, Any], **kw: Any
) -> list[dict[str, Any]]:
    out = []
    for i, text in enumerate(texts):
        p = payload(doc_id, i, text, **kw)
        p["docmeta"] = docmeta | ({"head": 1} if i == 0 else {})
        out.append(p)
    return out


def _meta(year: int) -> dict[str, Any]:
    return {
        "issuer": "Orchard Computer Inc.",
        "issuer_keys": ["orchard computer", "orchard"],
        "tickers": [],
        "doc_type": "annual report",
        "period_end": f"{year}-09-30",
        "period_grades": {str(year): 3, f"{year}-09": 2},
    }


#: The issue's case: a question on fiscal 2018 whose words match the 2022 report better.
REPORT_2018 = [
    "Orchard revenue for the fiscal year was 265 billion dollars.",
    "Orchard operating margin widened on services.",
    "Orchard opened new stores in Asia.",
]
REPORT_2022 = [
    "Orchard fiscal 2018 revenue compared: revenue total net sales fiscal year 2022 grew.",
    "Revenue of Orchard in the fiscal year rose; revenue by segment and fiscal region.",
    "Orchard revenue, fiscal year revenue, revenue growth and fiscal year outlook.",
    "Orchard fiscal year revenue recognition policies and revenue deferrals.",
    "Orchard revenue fiscal year share repurchases.",
]
QUESTION = "What was Orchard's revenue in fiscal 2018?"


@pytest.fixture(params=BACKENDS)
def corpus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorIndex]:
    payloads = _chunks("ar-2018", REPORT_2018, _meta(2018)) + _chunks(
        "ar-2022", REPORT_2022, _meta(2022)
    )
    payloads += _chunks(
        "secret-2018",
        ["Orchard fiscal 2018 revenue, the board's own copy."],
        _meta(2018),
        acl=["group:board"],
    )
    with loaded_index(request.param, tmp_path, payloads, HashEmbedder()) as index:
        yield index


def _searcher(index: VectorIndex, **settings: Any) -> Searcher:
    return Searcher(index, HashEmbedder(), SearchSettings(steer_refresh_s=0, **settings))


def _docs(result: Any, n: int = 5) -> list[str]:
    return [c.doc_id for c in result.chunks[:n]]


def test_steering_off_lets_the_other_year_win(corpus: VectorIndex) -> None:
    """Without steering the 2022 report's chunks, which repeat the question's words, lead."""
    result = _searcher(corpus).search(QUESTION, READER, limit=5, steering="off")
    assert _docs(result)[:3].count("ar-2022") >= 2
    assert result.steering is None


def test_filter_puts_the_named_year_first(corpus: VectorIndex) -> None:
    result = _searcher(corpus, steering="filter").search(QUESTION, READER, limit=5)
    assert _docs(result)[:3] == ["ar-2018"] * 3
    assert _docs(result)[3:] == ["ar-2022"] * 2  # filled up from the rest
    assert result.steering is not None
    assert result.steering.doc_ids == {"ar-2018"}  # the board's copy is not the reader's
    assert result.steering.periods == {"2018"}


def test_boost_raises_the_named_year(corpus: VectorIndex) -> None:
    off = _searcher(corpus).search(QUESTION, READER, limit=5, steering="off")
    boosted = _searcher(corpus, steer_boost=100.0).search(
        QUESTION, READER, limit=5, steering="boost"
    )
    assert _docs(off)[:3].count("ar-2018") < 3
    assert _docs(boosted)[:3] == ["ar-2018"] * 3


def test_steering_never_reaches_past_the_access_list(corpus: VectorIndex) -> None:
    board = Principal(user="bob", tenant="acme", groups=("board",))
    for mode in ("filter", "boost"):
        reader = _searcher(corpus).search(QUESTION, READER, limit=10, steering=mode)  # type: ignore[arg-type]
        assert "secret-2018" not in {c.doc_id for c in reader.chunks}
    steer = _searcher(corpus).search(QUESTION, board, limit=5).steering
    assert steer is not None
    assert steer.doc_ids == {"ar-2018", "secret-2018"}
    other_tenant = Principal(user="eve", tenant="umbrella", groups=("board",))
    result = _searcher(corpus).search(QUESTION, other_tenant, limit=5)
    assert result.steering is None
    assert result.chunks == []


def test_documents_without_metadata_are_searched_as_before(tmp_path: Path) -> None:
    payloads = [payload("plain", i, t) for i, t in enumerate(REPORT_2018)]
    with loaded_index("edge", tmp_path, payloads, HashEmbedder()) as index:
        searcher = _searcher(index, steering="filter")
        steered = searcher.search(QUESTION, READER, limit=3)
        off = searcher.search(QUESTION, READER, limit=3, steering="off")
    assert steered.steering is None
    assert [c.id for c in steered.chunks] == [c.id for c in off.chunks]


def test_the_catalog_sees_new_documents(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    with loaded_index(
        "edge", tmp_path, _chunks("ar-2022", REPORT_2022, _meta(2022)), embedder
    ) as index:
        searcher = _searcher(index)
        assert searcher.search(QUESTION, READER, limit=3).steering is None  # one document only
        index.upsert(points(_chunks("ar-2018", REPORT_2018, _meta(2018)), embedder))
        steer = searcher.search(QUESTION, READER, limit=3).steering
    assert steer is not None
    assert steer.doc_ids == {"ar-2018"}


def test_an_unknown_steering_is_refused(corpus: VectorIndex) -> None:
    with pytest.raises(InvalidInputError, match="steering"):
        _searcher(corpus).search(QUESTION, READER, steering="sideways")  # type: ignore[arg-type]
