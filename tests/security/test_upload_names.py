"""Upload names: whatever a client calls its file, the answer is 202 or a 422 that says
why, never a 500, and no registry row is left ``discovered`` for a job that never runs."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.routes.documents import clean_filename
from core import InvalidInputError
from tests.api.apikit import Client, new_key, running_app, settings_for

CJK_605_BYTES = "漢" * 201 + "a.md"  # 201 × 3 bytes + 4 = 607 bytes, 205 characters
TEXT = b"# Notes\n\nThe storage service keeps customer files in three regions.\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("names")
    with running_app(settings_for(root / "data")) as client:
        yield client


@pytest.fixture(scope="module")
def writer(app: TestClient) -> Client:
    return new_key(app, user="wanda", role="writer")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("C:\\Users\\ann\\report.md", "report.md"),
        ("a\x00b\x01c.md", "abc.md"),
        ("invoice\u202egnp.md", "invoicegnp.md"),
        ("Cafe\u0301.md", "Café.md"),  # NFC: one code point for é
        ("漢" * 83 + ".md", "漢" * 83 + ".md"),  # 252 bytes: fits
    ],
)
def test_clean_names(raw: str, expected: str) -> None:
    cleaned = clean_filename(raw)
    assert cleaned == expected
    assert unicodedata.is_normalized("NFC", cleaned)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (CJK_605_BYTES, "is 607 bytes in UTF-8 (205 characters), over the limit of 255 bytes"),
        ("a" * 253 + ".md", "is 256 characters, over the limit of 255 characters"),
        ("...", "no name left once cleaned"),
        ("..", "no name left once cleaned"),
        ("\x00\x01", "no name left once cleaned"),
        ("dir/", "no name left once cleaned"),
        (".env", "hidden: starts with a dot"),
    ],
)
def test_refused_names_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match="file: ") as info:
        clean_filename(raw)
    assert reason in str(info.value)


def _raw_upload(writer: Client, name: str) -> httpx.Response:
    """A multipart upload whose file name goes on the wire as raw UTF-8 (httpx would
    percent-escape control characters, so the server would never see them)."""
    boundary = "deepwell-test-boundary"
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + name.encode("utf-8")
        + b'"\r\nContent-Type: text/markdown\r\n\r\n'
        + TEXT
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = writer.headers | {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return writer.http.post("/v1/documents", headers=headers, content=body)


def _stuck(writer: Client) -> list[str]:
    r = writer.get("/v1/documents", params={"state": "discovered"})
    assert r.status_code == 200, r.text
    return [d["filename"] for d in r.json()["documents"]]


@pytest.mark.parametrize(
    ("name", "status", "shown"),
    [
        (CJK_605_BYTES, 422, "bytes in UTF-8"),
        ("b" * 256 + ".md", 422, "characters"),
        ("...", 422, "no name left"),
        ("ok\u202etxt.md", 202, "oktxt.md"),
        ("../up.md", 202, "up.md"),
        ("x\x01y\x00z.md", 202, "xyz.md"),
        ("\x00", 422, "no name left"),
        ("漢" * 84 + ".md", 202, "漢" * 84 + ".md"),  # 255 bytes: the most that fits
    ],
)
def test_uploads_with_odd_names_never_answer_500(
    app: TestClient, writer: Client, name: str, status: int, shown: str
) -> None:
    r = _raw_upload(writer, name)
    assert r.status_code == status, r.text
    if status == 422:
        assert shown in r.json()["error"]["message"]
    else:
        job = writer.wait_job(r.json()["job_id"])
        assert job["status"] == "done", job
        doc = writer.get(f"/v1/documents/{r.json()['doc_id']}").json()
        assert doc["filename"] == shown
        assert doc["state"] == "ready"
        data_dir: Path = app.app.state.services.settings.data_dir  # type: ignore[attr-defined]
        stored = [p.name for p in (data_dir / "uploads" / doc["doc_id"]).iterdir()]
        assert len(stored) == 1  # <sha256>.md, whatever the client's name
        assert stored[0].endswith(".md")
        assert len(stored[0]) == 67
    assert _stuck(writer) == []


def test_a_failed_store_leaves_no_row_and_no_part_file(
    app: TestClient, writer: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk refuses the bytes (here: a write error): 500, but nothing is left behind."""
    jobs = app.app.state.services.jobs  # type: ignore[attr-defined]

    def refuse(self: Path, data: bytes) -> int:
        self.write_text("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app._transport, "raise_server_exceptions", False)  # answer 500
    monkeypatch.setattr(Path, "write_bytes", refuse)
    r = writer.post("/v1/documents", files={"file": ("full-disk.md", TEXT, "text/markdown")})
    monkeypatch.undo()
    assert r.status_code == 500
    assert _stuck(writer) == []
    assert not list(jobs.uploads_dir.rglob("*.part"))
    listed = writer.get("/v1/documents").json()["documents"]
    assert "full-disk.md" not in [d["filename"] for d in listed]
