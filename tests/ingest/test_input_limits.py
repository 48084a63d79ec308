"""Bounded work per input: each limit is checked before the step it bounds, and its
failure says what was too large, by how much, and which setting sets the limit."""

from __future__ import annotations

import dataclasses
import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from core import IngestError, IngestSettings
from ingest.chunking import ChunkLimits
from ingest.cleaning import CleaningOptions
from ingest.filetypes import InputLimits
from ingest.parsing import parse
from ingest.work import ParseJob, prepare
from tests.ingest import hostile

SMALL = dataclasses.replace(
    InputLimits.from_settings(),
    max_chars=20_000,
    max_rows=1_000,
    max_cells=2_500,
    max_chunks=10,
    max_unpacked_bytes=5_000_000,
    max_archive_entries=20,
)


def _refused(data: bytes, name: str, limits: InputLimits = SMALL) -> str:
    started = time.perf_counter()
    with pytest.raises(IngestError) as info:
        parse(data, filename=name, limits=limits)
    assert time.perf_counter() - started < 20
    return str(info.value)


def test_limits_come_from_settings() -> None:
    limits = InputLimits.from_settings(IngestSettings(max_rows=7, max_unpacked_mb=1.5))
    assert limits.max_rows == 7
    assert limits.max_unpacked_bytes == 1_500_000


def test_zip_bomb_docx_is_refused_from_its_central_directory() -> None:
    reason = _refused(hostile.docx_bomb(20), "bomb.docx")
    assert re.match(r"bomb\.docx: 2\d\.\d MB unpacked is over the limit of 5 MB", reason)
    assert "(ingest.max_unpacked_mb)" in reason


def test_a_highly_compressed_part_is_refused_by_its_ratio() -> None:
    limits = dataclasses.replace(SMALL, max_unpacked_bytes=10**9)
    dense = hostile.docx("<w:p><w:r><w:t>" + "a" * 3_000_000 + "</w:t></w:r></w:p>")
    reason = _refused(dense, "dense.docx", limits)
    assert "part word/document.xml compresses" in reason
    assert "over the limit of 200:1 (ingest.max_compression_ratio)" in reason


def test_too_many_parts_are_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zipfile.ZipFile(io.BytesIO(hostile.docx())) as src:
            for info in src.infolist():
                zf.writestr(info, src.read(info))
        for i in range(30):
            zf.writestr(f"customXml/item{i}.bin", b"x")
    reason = _refused(buf.getvalue(), "parts.docx")
    assert reason == "parts.docx: 33 parts is over the limit of 20 (ingest.max_archive_entries)"


def test_billion_laughs_is_refused_before_any_xml_is_parsed() -> None:
    reason = _refused(hostile.billion_laughs_docx(), "laughs.docx")
    assert "part word/document.xml declares a DTD or entities" in reason


def test_a_part_that_lies_about_its_size_cannot_unpack_more() -> None:
    """zipfile stops at the declared size and fails the CRC: the lie costs nothing."""
    data = hostile.lying_docx(declared_size=100)
    with zipfile.ZipFile(io.BytesIO(data)) as zf, pytest.raises(zipfile.BadZipFile, match="CRC"):
        zf.read("word/document.xml")
    reason = _refused(data, "liar.docx", InputLimits.from_settings())
    assert "liar.docx" in reason


def test_xlsx_rows_and_cells_are_counted_before_loading() -> None:
    reason = _refused(hostile.xlsx(1_500, cols=1), "rows.xlsx")
    assert reason == "rows.xlsx: 1,500 rows is over the limit of 1,000 (ingest.max_rows)"
    reason = _refused(hostile.xlsx(500, cols=6), "cells.xlsx")
    assert reason == "cells.xlsx: 3,000 cells is over the limit of 2,500 (ingest.max_cells)"
    assert parse(hostile.xlsx(50, cols=3), filename="ok.xlsx", limits=SMALL).elements


def test_csv_rows_and_cells_are_counted_on_the_decoded_text() -> None:
    reason = _refused(
        hostile.csv_rows(1_200), "report.csv", dataclasses.replace(SMALL, max_cells=10**6)
    )
    assert reason == "report.csv: 1,201 rows is over the limit of 1,000 (ingest.max_rows)"
    wide = b"\n".join(b",".join(b"%d" % c for c in range(10)) for _ in range(300))
    reason = _refused(wide, "wide.csv")
    assert reason == "wide.csv: 2,510 cells is over the limit of 2,500 (ingest.max_cells)"
    assert parse(hostile.csv_rows(50), filename="ok.csv", limits=SMALL).elements


def test_text_is_measured_in_bytes_before_decoding_and_characters_after() -> None:
    reason = _refused(hostile.one_line_text(80_001), "long.txt")
    assert reason.startswith("long.txt: 80,001 bytes of text is over the limit of 20,000")
    assert "(ingest.max_chars; at most 80,000 bytes can fit)" in reason
    reason = _refused(hostile.one_line_text(30_000), "mid.txt")
    assert reason == "mid.txt: 30,000 characters is over the limit of 20,000 (ingest.max_chars)"


def test_parsed_text_of_every_format_is_counted() -> None:
    reason = _refused(hostile.docx(hostile.PARAGRAPH * 400), "long.docx")
    assert "characters of parsed text is over the limit of 20,000 (ingest.max_chars)" in reason


def test_deeply_nested_html_fails_fast_with_its_depth() -> None:
    reason = _refused(hostile.nested_html(100_000), "deep.html", InputLimits.from_settings())
    assert "HTML elements nested 100,000 deep is over the limit of 256" in reason
    shallow = parse(hostile.nested_html(200), filename="ok.html", limits=SMALL)
    assert any("three regions" in e.text for e in shallow.elements)


def test_chunks_are_counted_in_the_worker_before_anything_is_embedded(tmp_path: Path) -> None:
    path = tmp_path / "many.md"
    path.write_text(
        "\n\n".join(f"# Part {i}\n\n{hostile.PARAGRAPH[12:-24]} {i}" for i in range(40))
    )
    job = ParseJob(
        doc_id="d",
        filename="many.md",
        path=path,
        data=None,
        strategy="fast",
        limits=ChunkLimits(max_chars=200, new_after_chars=150, combine_under_chars=0),
        cleaning=CleaningOptions(),
        max_bytes=None,
        input_limits=SMALL,
    )
    with pytest.raises(IngestError, match=r"many\.md: \d+ chunks is over the limit of 10 "):
        prepare(job)
    ok = prepare(dataclasses.replace(job, input_limits=InputLimits.from_settings()))
    assert len(ok.chunks) > 10
