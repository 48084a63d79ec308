"""How `deepwell ingest` names the pages it read with OCR: runs of pages as ranges."""

from __future__ import annotations

import pytest

from cli.ingest_cmd import _page_ranges


@pytest.mark.parametrize(
    ("pages", "text"),
    [
        ([1, 2, 3], "pages 1-3"),
        ([4], "page 4"),
        ([7, 1, 3, 2], "pages 1-3, 7"),
        ([2, 4, 6], "pages 2, 4, 6"),
        ([9, 10, 12, 13, 14], "pages 9-10, 12-14"),
    ],
)
def test_page_ranges(pages: list[int], text: str) -> None:
    assert _page_ranges(pages) == text
