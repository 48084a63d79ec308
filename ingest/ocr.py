"""OCR for pages without a text layer and for images, through the Tesseract command line.

Tesseract (Debian ``tesseract-ocr`` + ``tesseract-ocr-eng``) reads a rendered page and
returns its words with their boxes (``tsv`` output). Those words go through the same
layout as a PDF's text layer (:func:`ingest.pdf_layout.layout_page`): reading order,
headings and tables from text geometry apply to scans too. A mixed PDF OCRs only its
pages without text (:func:`ingest.pdf_layout.partition_pdf_layout`); PNG, JPEG, TIFF
(every frame a page), BMP and WebP images are read by :func:`partition_image`.

Every page is one ``tesseract`` process under a time limit, with OpenMP held to one
thread (the ingest workers already use every core), so a pathological image fails its
document alone.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from typing import Any

from core import IngestError
from ingest.pdf_tables import Word

#: Said wherever OCR is needed and missing.
INSTALL_HINT = (
    "install Tesseract OCR: apt-get install tesseract-ocr tesseract-ocr-eng "
    "(Debian/Ubuntu), dnf install tesseract tesseract-langpack-eng (Fedora), "
    "brew install tesseract (macOS)"
)
#: Pages are rendered at this resolution for OCR (Tesseract's sweet spot for body text).
DPI = 300
#: A rendered page or image is scaled down to at most this many pixels (a 30 x 40 inch
#: page at 300 dpi); a hostile page size cannot make one render take gigabytes.
MAX_PIXELS = 108_000_000
#: Seconds one page may take in Tesseract.
PAGE_TIMEOUT_S = 120.0
#: Words Tesseract is less sure of than this (0-100) are dropped: specks and ruling lines
#: come back as "|", "—" or "~" with a low confidence.
MIN_CONFIDENCE = 30.0


@cache
def tesseract_languages() -> frozenset[str] | None:
    """Language packs of the installed Tesseract, or None when it is not installed."""
    binary = shutil.which("tesseract")
    if binary is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603  (a fixed command line)
            [binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.splitlines()[1:]  # the first line says where the packs are
    return frozenset(line.strip() for line in lines if line.strip())


def missing(languages: Sequence[str] = ("eng",)) -> str | None:
    """Why OCR cannot run here (with how to fix it), or None when it can."""
    have = tesseract_languages()
    if have is None:
        return f"OCR is not installed ({INSTALL_HINT})"
    lacking = [lang for lang in languages if lang not in have]
    if lacking:
        packs = " ".join(f"tesseract-ocr-{lang}" for lang in lacking)
        return f"Tesseract has no language pack for {', '.join(lacking)} (apt-get install {packs})"
    return None


def available(languages: Sequence[str] = ("eng",)) -> bool:
    return missing(languages) is None


def words_from_tsv(tsv: str, scale: float = 1.0) -> list[Word]:
    """Words from Tesseract's ``tsv`` output, boxes divided by ``scale`` (pixels per unit).

    Each word takes its line's height as its size, so the words of one line share a size
    as a PDF's characters of one font do (a word's own box shrinks for "in" or "was").
    """
    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE))
    line_height: dict[tuple[str, ...], float] = {}
    for row in rows:
        if row.get("level") == "4":
            key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
            line_height[key] = float(row["height"])
    words: list[Word] = []
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text or float(row["conf"]) < MIN_CONFIDENCE:
            continue
        left, top = float(row["left"]), float(row["top"])
        width, height = float(row["width"]), float(row["height"])
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        size = line_height.get(key, height)
        words.append(
            Word(
                text,
                left / scale,
                top / scale,
                (left + width) / scale,
                (top + height) / scale,
                size / scale,
            )
        )
    return words


def ocr_image(image: Any, *, scale: float = 1.0, languages: Sequence[str] = ("eng",)) -> list[Word]:
    """The words Tesseract reads on a PIL image, in units of ``scale`` pixels.

    Raises:
        IngestError: Tesseract is missing, failed, or ran past :data:`PAGE_TIMEOUT_S`.
    """
    why = missing(languages)
    if why is not None:
        raise IngestError(why)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, format="PNG")
    binary = shutil.which("tesseract") or "tesseract"
    dpi = str(max(70, round(scale * 72)))  # pixels per inch, as Tesseract wants to know
    command = [binary, "stdin", "stdout", "-l", "+".join(languages), "--dpi", dpi, "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(  # noqa: S603  (no shell; the image goes in on stdin)
            command,
            input=buffer.getvalue(),
            capture_output=True,
            timeout=PAGE_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise IngestError(f"OCR of one page ran past {PAGE_TIMEOUT_S:g} s") from exc
    except OSError as exc:
        raise IngestError(f"OCR could not start: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise IngestError(f"OCR failed (tesseract exit {done.returncode}): {reason[0][:200]}")
    return words_from_tsv(done.stdout.decode("utf-8", errors="replace"), scale)


def render_scale(width: float, height: float, dpi: int = DPI) -> float:
    """Pixels per point for rendering a ``width`` x ``height`` point page at ``dpi``,
    lowered so the image stays within :data:`MAX_PIXELS`."""
    scale = dpi / 72
    pixels = width * height * scale * scale
    if pixels > MAX_PIXELS:
        scale *= (MAX_PIXELS / pixels) ** 0.5
    return scale


def ocr_pdf_page(page: Any, languages: Sequence[str] = ("eng",)) -> tuple[list[Word], float, float]:
    """OCR a PDFium page: its words in points (origin top left, as displayed, /Rotate
    applied) and the displayed width and height."""
    width, height = page.get_size()
    scale = render_scale(width, height)
    bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
    try:
        image = bitmap.to_pil()
        words = ocr_image(image, scale=scale, languages=languages)
        shown_w, shown_h = image.width / scale, image.height / scale
    finally:
        bitmap.close()
    return words, shown_w, shown_h


def partition_image(
    data: bytes,
    *,
    filename: str | None = None,
    languages: Sequence[str] = ("eng",),
    max_pages: int = 500,
) -> list[Any]:
    """OCR an image file into unstructured elements; a multi-frame TIFF gives one page a frame.

    Raises:
        IngestError: OCR is missing, the image cannot be decoded, or it is too large.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from ingest.pdf_layout import block_element, layout_page

    why = missing(languages)
    if why is not None:
        raise IngestError(f"{filename}: image needs OCR: {why}")
    try:
        image = Image.open(io.BytesIO(data))
        image.size  # noqa: B018  (decodes the header: a corrupt file fails here)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise IngestError(f"{filename}: not a readable image: {exc}") from exc
    out: list[Any] = []
    try:
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            if index >= max_pages:
                raise IngestError(f"{filename}: more than {max_pages} frames")
            w, h = frame.size
            if w * h > 4 * MAX_PIXELS:
                raise IngestError(f"{filename}: image of {w} x {h} pixels is too large to OCR")
            shown = frame
            if w * h > MAX_PIXELS:
                ratio = (MAX_PIXELS / (w * h)) ** 0.5
                shown = frame.resize((int(w * ratio), int(h * ratio)))
            # Pixels become points at the frame's own resolution (300 dpi when unknown).
            dpi = frame.info.get("dpi", (DPI, DPI))[0] or DPI
            scale = float(dpi) / 72 * shown.width / w
            words = ocr_image(shown, scale=scale, languages=languages)
            size = (shown.width / scale, shown.height / scale)
            for n, block in enumerate(layout_page(words)):
                out.append(block_element(block, (index + 1, n), size, filename))
    except OSError as exc:
        raise IngestError(f"{filename}: image could not be decoded: {exc}") from exc
    finally:
        image.close()
    return out
