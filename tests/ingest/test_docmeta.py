"""Document metadata at ingest: issuer, type and period from covers, metadata and file names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import PdfBuilder

from core import Settings, make_engine
from ingest.chunking import ChunkLimits
from ingest.cleaning import CleaningOptions
from ingest.docmeta import extract_docmeta
from ingest.parsing import parse
from ingest.registry import DocState, Registry
from ingest.report import build_report
from ingest.work import ParseJob, document_metadata, prepare

TEN_Q_COVER = """UNITED STATES
SECURITIES AND EXCHANGE COMMISSION
Washington, D.C. 20549
FORM 10-Q
(Mark One)
☒ QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
For the quarterly period ended July 1, 2023
or
☐ TRANSITION REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF 1934
Commission File Number: 001-36743
Orchard Computer Inc.
(Exact name of Registrant as specified in its charter)
California 94-2404110
Title of each class Trading symbol(s) Name of each exchange on which registered
Common Stock, $0.00001 par value per share ORCH The Nasdaq Stock Market LLC
"""
#: The body of that 10-Q: its own quarter named most, last year's too, and a quarter that
#: cannot end on July 1, 2023 (third quarter of 2022) named more often than either.
TEN_Q_BODY = (
    TEN_Q_COVER
    + "Net sales rose in the third quarter of 2023. " * 3
    + "Compared with the third quarter of 2022, services grew. " * 5
    + "Q3 2023 gross margin was 44.5%. "
)


def test_a_10q_cover_gives_filer_ticker_type_and_fiscal_quarter() -> None:
    meta = extract_docmeta(filename="2023 Q3 ORCH.pdf", first_pages=TEN_Q_COVER, body=TEN_Q_BODY)
    assert meta.issuer == "Orchard Computer Inc."
    assert meta.issuer_keys == ["orchard computer"]
    assert meta.tickers == ("ORCH",)
    assert meta.doc_type == "10-Q"
    assert meta.period_end == date(2023, 7, 1)
    assert (meta.fiscal_year, meta.fiscal_quarter) == (2023, 3)  # not last year's Q3
    grades = meta.period_grades
    assert grades["2023Q3"] == 3  # the file name names it (and the text states it)
    assert grades["2023-07-01"] == grades["2023-06"] == 2  # ends July 1: closes June
    assert grades["2023Q2"] == 1  # the calendar quarter it mostly covers, derived
    assert "2022Q3" not in grades
    assert meta.period == "Q3 FY2023 (ended 2023-07-01)"


def test_the_fiscal_quarter_stated_beats_the_calendar_one() -> None:
    """A fiscal year ending in January: the quarter ending October 29, 2023 is the third
    quarter of fiscal 2024, and mostly calendar Q3 2023."""
    cover = TEN_Q_COVER.replace("July 1, 2023", "October 29, 2023")
    body = cover + "Revenue for the third quarter of fiscal year 2024 was a record. " * 4
    meta = extract_docmeta(filename="filing.pdf", first_pages=cover, body=body)
    assert (meta.fiscal_year, meta.fiscal_quarter) == (2024, 3)
    assert meta.period_grades["2024Q3"] == 2
    assert meta.period_grades["2023Q3"] == 1
    assert meta.tickers == ()  # the file name shows none


def test_an_organisation_line_names_the_filer_without_a_label() -> None:
    cover = "FORM 10-Q\nFor the Quarterly Period Ended September 30, 2022\nMICROLITH CORPORATION\n"
    meta = extract_docmeta(filename="q.pdf", first_pages=cover)
    assert meta.issuer == "Microlith Corporation"
    assert meta.issuer_keys == ["microlith"]


def test_pdf_metadata_fills_what_the_text_lacks() -> None:
    meta = extract_docmeta(
        filename="0000320193-22-000070.pdf",
        first_pages="Condensed consolidated statements of operations\n",
        file_metadata={
            "Title": "10-Q - 10/28/2022 - Intel Corporation",
            "Subject": "Form 10-Q filed on 2022-10-28 for the period ending 2022-10-01",
            "Author": "EDGAR Online, a division of Donnelley Financial Solutions",
        },
    )
    assert meta.issuer == "Intel Corporation"
    assert meta.doc_type == "10-Q"
    assert meta.period_end == date(2022, 10, 1)
    assert "2022" not in meta.issuer_keys


def test_an_annual_report_and_its_fiscal_year() -> None:
    meta = extract_docmeta(
        filename="acme_annual_report_2018.pdf",
        first_pages="ACME HOLDINGS PLC\nAnnual Report and Accounts 2018\n"
        "For the year ended 31 December 2018\n",
    )
    assert meta.issuer == "Acme Holdings PLC"
    assert meta.doc_type == "annual report"
    assert meta.annual
    assert meta.fiscal_year == 2018
    assert meta.period_grades["2018"] == 3
    assert not any("Q" in key for key in meta.period_grades)  # a year, not a quarter


def test_a_10k_names_its_fiscal_year() -> None:
    cover = (
        "FORM 10-K\n☒ ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d)\n"
        "For the fiscal year ended September 29, 2018\nOrchard Computer Inc.\n"
        "(Exact name of Registrant as specified in its charter)\n"
    )
    meta = extract_docmeta(filename="10k.pdf", first_pages=cover)
    assert (meta.doc_type, meta.fiscal_year, meta.annual) == ("10-K", 2018, True)
    assert meta.period_grades["2018"] == 2


def test_a_contract_names_its_parties_and_date() -> None:
    text = (
        "MASTER SERVICES AGREEMENT\nThis Master Services Agreement is dated as of March 1, "
        "2021 and is entered into by and between Globex Corporation, a Delaware "
        'corporation ("Globex"), and Initech LLC ("Supplier").\n1. Services\n'
    )
    meta = extract_docmeta(filename="msa.pdf", first_pages=text)
    assert meta.doc_type == "contract"
    assert meta.issuer == "Globex Corporation"
    assert meta.parties == ("Initech LLC",)  # "a Delaware corporation" describes, names nothing
    assert meta.issuer_keys == ["globex", "initech"]
    assert meta.dated == date(2021, 3, 1)
    assert meta.period_end is None
    assert meta.period_grades["2021-03-01"] == 2


def test_a_protocol_names_its_sponsor() -> None:
    text = (
        "CLINICAL STUDY PROTOCOL\nA Phase 3 Study of Drug X in Adults\n"
        "Protocol Number: XYZ-301\nSponsor: Pharmaco Inc.\nVersion 3.0, 12 May 2019\n"
    )
    meta = extract_docmeta(filename="protocol_v3.pdf", first_pages=text)
    assert (meta.doc_type, meta.issuer, meta.dated) == (
        "protocol",
        "Pharmaco Inc.",
        date(2019, 5, 12),
    )


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("2023 Q3 ORCH.pdf", {"2023Q3": 3, "2023": 1}),
        ("ORCH_Q3-2023.pdf", {"2023Q3": 3, "2023": 1}),
        ("orch FY2018 results.pdf", {"2018": 3}),
        ("board minutes 2019.docx", {"2019": 1}),
        ("minutes 2019 vs 2020.docx", {}),
    ],
)
def test_periods_the_file_name_names(filename: str, expected: dict[str, int]) -> None:
    meta = extract_docmeta(filename=filename, first_pages="Some text without dates.\n")
    assert meta.period_grades == expected


def test_a_document_that_says_nothing_has_empty_metadata() -> None:
    meta = extract_docmeta(filename="notes.txt", first_pages="We met and talked about hiring.\n")
    assert meta.is_empty()
    assert meta.as_payload()["issuer"] is None


def test_prepare_reads_metadata_from_a_real_pdf(make_pdf: PdfBuilder) -> None:
    """The parse path: a generated 10-Q cover (with its PDF info) through ``prepare``."""
    pages = [
        [
            (10, "UNITED STATES SECURITIES AND EXCHANGE COMMISSION"),
            (12, "FORM 10-Q"),
            (10, "For the quarterly period ended April 1, 2023"),
            (14, "Orchard Computer Inc."),
            (9, "(Exact name of Registrant as specified in its charter)"),
            (10, "Common Stock ORCH The Nasdaq Stock Market LLC"),
            (9, "1"),
        ],
        [
            (9, "Orchard Computer Inc. | Q2 2023 Form 10-Q | 2"),
            (14, "Results of operations"),
            (11, "Net sales in the second quarter of 2023 were 94,836 million dollars."),
            (9, "2"),
        ],
    ]
    path = make_pdf("2023 Q2 ORCH.pdf", pages, title="0000320193-23-000064")
    prepared = prepare(
        ParseJob(
            doc_id="d1",
            filename=path.name,
            path=path,
            data=None,
            strategy="fast",
            limits=ChunkLimits(),
            cleaning=CleaningOptions(),
            max_bytes=None,
        )
    )
    meta = prepared.docmeta
    assert meta is not None
    assert meta["issuer"] == "Orchard Computer Inc."
    assert meta["tickers"] == ["ORCH"]
    assert meta["doc_type"] == "10-Q"
    assert meta["period_end"] == "2023-04-01"
    assert (meta["fiscal_year"], meta["fiscal_quarter"]) == (2023, 2)
    assert meta["period_grades"]["2023Q2"] == 3


def test_a_text_document_without_pages_reads_its_head(tmp_path: Path) -> None:
    path = tmp_path / "supply agreement.txt"
    path.write_text(
        "SUPPLY AGREEMENT\n\nThis Supply Agreement is made as of June 5, 2020 by and between "
        "Umbrella Holdings Ltd and Stark Industries Inc.\n\nThe supplier delivers monthly.\n"
    )
    meta = document_metadata(parse(path), path)
    assert meta is not None
    assert (meta["doc_type"], meta["issuer"]) == ("contract", "Umbrella Holdings Ltd")
    assert meta["parties"] == ["Stark Industries Inc."]
    assert meta["dated"] == "2020-06-05"


def test_the_registry_and_the_corpus_report_show_the_metadata(tmp_path: Path) -> None:
    registry = Registry(make_engine(Settings(data_dir=tmp_path / "data")))
    registry.create_schema()
    meta = extract_docmeta(filename="2023 Q3 ORCH.pdf", first_pages=TEN_Q_COVER).as_payload()
    for doc_id, docmeta in (("d1", meta), ("d2", None)):
        registry.commit_indexed(
            doc_id,
            owned=[],
            duplicates={},
            tenant="acme",
            source_uri=f"file:///docs/{doc_id}.pdf",
            filename=f"{doc_id}.pdf",
            pages=1,
            chunk_ids=["c"],
            docmeta=docmeta,
        )
    row = registry.get("d1")
    assert row is not None
    assert row.state == DocState.indexed
    assert (row.issuer, row.doc_type, row.period_end) == (
        "Orchard Computer Inc.",
        "10-Q",
        date(2023, 7, 1),
    )
    assert row.period == "Q3 FY2023 (ended 2023-07-01)"
    assert row.docmeta is not None
    assert row.docmeta["tickers"] == ["ORCH"]
    bare = registry.get("d2")
    assert bare is not None
    assert (bare.issuer, bare.docmeta) == (None, None)

    report = build_report(registry.documents(), lambda _: ["some text"], len).as_dict()
    assert report["by_issuer"]["Orchard Computer Inc."]["documents"] == 1
    assert report["by_issuer"]["unknown"]["documents"] == 1
    assert report["by_doc_type"]["10-Q"]["documents"] == 1
    assert report["document_metadata"] == [
        {
            "source_uri": "file:///docs/d1.pdf",
            "issuer": "Orchard Computer Inc.",
            "doc_type": "10-Q",
            "period": "Q3 FY2023 (ended 2023-07-01)",
        }
    ]
