"""Page boxes: each chunk of a real PDF knows where its words lie on which page.

The PDF is generated with a real text layer and read by the real parser; where each word
really is comes from a second, independent reader (pdfium's text layer), so the test
checks the boxes against the page, not against the parser's own numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from core import PageBox
from ingest.chunking import ChunkDraft, ChunkLimits, chunk_elements, union_boxes
from ingest.parsing import parse
from tests.ingest.conftest import write_pdf

#: Page fractions of slack: a glyph's box and a text line's box may differ by a point.
SLACK = 2 / 792

PAGES = [
    [
        (16, "Dublin Operations"),
        (11, "Alpha revenue in Ireland climbed eleven percent."),
        (11, "Bravo storage orders doubled after the Galway launch."),
        (11, "Charlie margins narrowed because of copper prices."),
        (16, "Oslo Operations"),
        (11, "Delta shipments to Bergen rose by forty tonnes."),
    ],
    [
        (16, "Tokyo Operations"),
        (11, "Echo subscriptions reached ninety thousand accounts."),
        (11, "Foxtrot churn fell below two percent in Osaka."),
    ],
]


def word_boxes(path: Path) -> dict[str, tuple[int, PageBox]]:
    """Each word that occurs once in the PDF: its page and its box (page fractions, y
    downwards), as pdfium reads them."""
    text = " ".join(line for page in PAGES for _, line in page)
    once = [w for w, n in Counter(re.findall(r"[A-Za-z]{4,}", text)).items() if n == 1]
    found: dict[str, tuple[int, PageBox]] = {}
    pdf = pdfium.PdfDocument(path)
    try:
        for number in range(len(pdf)):
            page = pdf[number]
            width, height = page.get_size()
            textpage = page.get_textpage()
            for word in once:
                hit = textpage.search(word, match_case=True, match_whole_word=True).get_next()
                if hit is None:
                    continue
                start, count = hit
                chars = [textpage.get_charbox(i) for i in range(start, start + count)]
                left = min(c[0] for c in chars)
                bottom = min(c[1] for c in chars)
                right = max(c[2] for c in chars)
                top = max(c[3] for c in chars)
                found[word] = (
                    number + 1,
                    PageBox(
                        number + 1,
                        left / width,
                        1 - top / height,
                        right / width,
                        1 - bottom / height,
                    ),
                )
    finally:
        pdf.close()
    return found


def inside(inner: PageBox, outer: PageBox) -> bool:
    return (
        inner.page == outer.page
        and inner.x0 >= outer.x0 - SLACK
        and inner.y0 >= outer.y0 - SLACK
        and inner.x1 <= outer.x1 + SLACK
        and inner.y1 <= outer.y1 + SLACK
    )


@pytest.fixture(scope="module")
def pdf_chunks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ChunkDraft]]:
    path = write_pdf(tmp_path_factory.mktemp("boxes") / "operations.pdf", PAGES)
    doc = parse(path)
    limits = ChunkLimits(max_chars=140, new_after_chars=110, combine_under_chars=0)
    return path, chunk_elements(doc.elements, limits)


def test_each_chunk_box_covers_the_words_of_its_text_on_their_page(
    pdf_chunks: tuple[Path, list[ChunkDraft]],
) -> None:
    path, chunks = pdf_chunks
    words = word_boxes(path)
    assert len(chunks) >= 3, [c.text for c in chunks]
    checked = 0
    for chunk in chunks:
        assert chunk.boxes, f"chunk {chunk.chunk_index} has no box: {chunk.text!r}"
        by_page = {b.page: b for b in chunk.boxes}
        assert sorted(by_page) == list(range(chunk.page_start, chunk.page_end + 1))
        for word in re.findall(r"[A-Za-z]{4,}", chunk.text):
            if word not in words:
                continue
            page, box = words[word]
            assert page in by_page, f"{word!r} is on page {page}, the chunk's boxes elsewhere"
            assert inside(box, by_page[page]), (word, box, by_page[page])
            checked += 1
    assert checked >= 20  # nearly every word of the document was checked


def test_boxes_are_page_fractions_with_y_downwards(
    pdf_chunks: tuple[Path, list[ChunkDraft]],
) -> None:
    _, chunks = pdf_chunks
    first = next(c for c in chunks if "Dublin" in c.text)
    last = next(c for c in chunks if "Osaka" in c.text)
    for box in (*first.boxes, *last.boxes):
        assert 0 <= box.x0 < box.x1 <= 1
        assert 0 <= box.y0 < box.y1 <= 1
    # "Dublin Operations" is the first line of page 1: near the top, so a small y.
    assert first.boxes[0].page == 1
    assert first.boxes[0].y0 < 0.2
    assert [b.page for b in last.boxes] == [2]


def test_a_chunk_over_two_pages_has_one_box_on_each() -> None:
    boxes = [
        PageBox(1, 0.1, 0.8, 0.5, 0.85),
        PageBox(2, 0.1, 0.1, 0.6, 0.15),
        PageBox(1, 0.1, 0.86, 0.7, 0.9),
    ]
    assert union_boxes(boxes) == [PageBox(1, 0.1, 0.8, 0.7, 0.9), PageBox(2, 0.1, 0.1, 0.6, 0.15)]
