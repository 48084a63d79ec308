"""Hostile inputs, generated (never checked in): zip bombs, entity expansion, deep nesting,
huge tables and text. Shared by tests/ingest/test_input_limits.py (small, through
``parse``) and tests/security/test_hostile_inputs.py (full size, through the CLI and API).
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DOC_HEAD = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{_W}"><w:body>'
)
_DOC_TAIL = "</w:body></w:document>"
PARAGRAPH = (
    "<w:p><w:r><w:t>The quarterly revenue of the storage division grew by eleven percent "
    "in every region.</w:t></w:r></w:p>"
)

_XLSX_FILES = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _stream(zf: zipfile.ZipFile, name: str, parts: Iterable[bytes]) -> None:
    info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = 1  # type: ignore[attr-defined]  # ZipInfo takes no level otherwise
    with zf.open(info, "w", force_zip64=True) as out:
        for part in parts:
            out.write(part)


def _repeat(unit: bytes, total_bytes: int) -> Iterable[bytes]:
    block = unit * max(1, (1 << 20) // len(unit))
    for _ in range(max(1, -(-total_bytes // len(block)))):
        yield block


def docx(body_xml: str = PARAGRAPH, *, doctype: str = "") -> bytes:
    """A minimal valid DOCX whose body is ``body_xml`` (``doctype`` goes before the root)."""
    head = _DOC_HEAD.replace("\n", "\n" + doctype, 1) if doctype else _DOC_HEAD
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("word/document.xml", head + body_xml + _DOC_TAIL)
    return buf.getvalue()


def docx_bomb(unpacked_mb: int) -> bytes:
    """A DOCX whose document.xml is ``unpacked_mb`` MB of one repeated paragraph."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        body = _repeat(PARAGRAPH.encode(), unpacked_mb * 1_000_000)
        _stream(zf, "word/document.xml", [_DOC_HEAD.encode(), *body, _DOC_TAIL.encode()])
    return buf.getvalue()


def billion_laughs_docx(levels: int = 10) -> bytes:
    """A DOCX whose document.xml declares nested entities (10 ** levels expansions)."""
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels)
    ]
    doctype = f"<!DOCTYPE w:document [{''.join(ents)}]>\n"
    return docx(f"<w:p><w:r><w:t>&lol{levels - 1};</w:t></w:r></w:p>", doctype=doctype)


def xlsx(rows: int, cols: int = 3, *, bomb_mb: int = 0) -> bytes:
    """A minimal XLSX with ``rows`` × ``cols`` numbers; ``bomb_mb``: that many MB of rows
    instead (repeated, so they compress to almost nothing)."""
    row = "<row>" + "<c><v>1</v></c>" * cols + "</row>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in _XLSX_FILES.items():
            zf.writestr(name, text)
        body = _repeat(row.encode(), bomb_mb * 1_000_000) if bomb_mb else [(row * rows).encode()]
        _stream(zf, "xl/worksheets/sheet1.xml", [_SHEET_HEAD.encode(), *body, _SHEET_TAIL.encode()])
    return buf.getvalue()


def lying_docx(declared_size: int) -> bytes:
    """A valid DOCX whose central directory understates document.xml's size."""
    data = bytearray(docx(PARAGRAPH * 2000))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("word/document.xml")
    # Patch the uncompressed size of document.xml in its central directory record
    # (offset 24) and its local header (offset 22).
    name = b"word/document.xml"
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == name:
            struct.pack_into("<I", data, at + 24, declared_size)
            break
        at = data.find(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, info.header_offset + 22, declared_size)
    return bytes(data)


def nested_html(depth: int) -> bytes:
    """``depth`` nested <div> elements around one sentence."""
    return (
        b"<html><body>"
        + b"<div>" * depth
        + b"<p>The storage service keeps customer files in three regions.</p>"
        + b"</div>" * depth
        + b"</body></html>"
    )


def csv_rows(rows: int) -> bytes:
    """A CSV of ``rows`` data rows (about 30 bytes each)."""
    lines = [b"id,region,units,price"]
    lines += [b"%d,eu-west-%d,%d,%d.25" % (i, i % 7, i % 1000, i % 90) for i in range(rows)]
    return b"\n".join(lines) + b"\n"


def one_line_text(size_bytes: int) -> bytes:
    """One line of words, ``size_bytes`` long."""
    unit = b"storage revenue grew in every region "
    return (unit * (size_bytes // len(unit) + 1))[:size_bytes]
