"""The library's and admin area's routes: documents with filters and the fields the web
app shows, the original file, the jobs list and dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from core import Settings
from ingest import DeadLetterRow
from tests.api.apikit import Client, new_key, running_app, settings_for
from tests.ingest.conftest import report_pages, write_pdf

NOTE = "# Storage note\n\nThe storage service keeps files in Dublin and Oslo.\n"


@dataclass
class Library:
    http: TestClient
    settings: Settings
    keys: dict[str, Client]
    note: dict[str, object]  # ann's upload (private)
    pdf: dict[str, object]  # ann's PDF, shared with group finance
    pdf_bytes: bytes
    bad: dict[str, object]  # ann's upload that failed
    sync: Path  # the folder under ingest.allowed_roots


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("library")
    settings = settings_for(root / "data", rate_limit_per_minute=0)
    with running_app(settings) as http:
        keys = {
            "ann": new_key(http, user="ann", groups=["finance"], tenant="acme", role="writer"),
            "carol": new_key(http, user="carol", groups=["finance"], tenant="acme", role="reader"),
            "root": new_key(http, user="root", tenant="acme", role="admin"),
            "eve": new_key(http, user="eve", groups=["finance"], tenant="globex", role="writer"),
            "groot": new_key(http, user="groot", tenant="globex", role="admin"),
        }
        ann = keys["ann"]
        note = ann.upload("storage-note.md", NOTE)
        pdf_path = write_pdf(root / "quarterly.pdf", report_pages(3), title="Quarterly Report")
        pdf_bytes = pdf_path.read_bytes()
        r = ann.post(
            "/v1/documents",
            files={"file": ("quarterly.pdf", pdf_bytes, "application/pdf")},
            data={"acl": ["group:finance"]},
        )
        assert r.status_code == 202, r.text
        pdf = r.json() | {"job": ann.wait_job(r.json()["job_id"])}
        r = ann.post("/v1/documents", files={"file": ("noise.bin", bytes(range(256)) * 8, None)})
        assert r.status_code == 202, r.text
        bad = r.json() | {"job": ann.wait_job(r.json()["job_id"])}
        assert bad["job"]["status"] == "failed", bad
        keys["eve"].upload("eve-note.md", "# Eve\n\nThe walrusoid deal closes in Lisbon.\n")
        yield Library(http, settings, keys, note, pdf, pdf_bytes, bad, root / "sync")


def _docs(client: Client, **params: object) -> list[dict[str, object]]:
    r = client.get("/v1/documents", params=params)
    assert r.status_code == 200, r.text
    docs: list[dict[str, object]] = r.json()["documents"]
    return docs


# --- documents --------------------------------------------------------------------------


def test_documents_carry_what_the_library_shows(lib: Library) -> None:
    by_id = {d["doc_id"]: d for d in _docs(lib.keys["ann"])}
    note, pdf, bad = (by_id[str(x["doc_id"])] for x in (lib.note, lib.pdf, lib.bad))
    assert note["state"] == "ready"
    assert note["stage"] == "indexed"
    assert note["type"] == "md"
    assert note["filename"] == "storage-note.md"
    assert note["chunks"] >= 1  # type: ignore[operator]
    assert note["can_delete"] is True
    assert note["acl"] == ["user:ann"]  # the owner sees the ACL
    assert note["updated_at"]
    assert pdf["type"] == "pdf"
    assert pdf["pages"] == 3
    assert pdf["title"]
    assert bad["state"] == "failed"
    assert bad["failure_reason"]
    assert not str(bad["failure_reason"]).startswith("noise.bin:")  # the name is beside it
    assert bad["error"]


def test_the_acl_shows_to_the_owner_and_tenant_admins_only(lib: Library) -> None:
    pdf_id = lib.pdf["doc_id"]
    carol = {d["doc_id"]: d for d in _docs(lib.keys["carol"])}
    assert carol[pdf_id]["acl"] is None  # a group member reads it, but not who else may
    assert carol[pdf_id]["owner"] is None
    assert carol[pdf_id]["can_delete"] is False  # a reader
    got = lib.keys["carol"].get(f"/v1/documents/{pdf_id}").json()
    assert got["acl"] is None
    fin = new_key(lib.http, user="finroot", groups=["finance"], tenant="acme", role="admin")
    theirs = fin.get(f"/v1/documents/{pdf_id}").json()
    assert theirs["acl"] == ["group:finance", "user:ann"]
    assert theirs["can_delete"] is True


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"q": "QUARTERLY"}, {"quarterly.pdf"}),  # the title or the name, any case
        ({"q": "note"}, {"storage-note.md"}),
        ({"q": "100%_"}, set()),  # LIKE characters are text
        ({"type": "pdf"}, {"quarterly.pdf"}),
        ({"type": "md"}, {"storage-note.md"}),
        ({"state": "ready"}, {"storage-note.md", "quarterly.pdf"}),
        ({"state": "indexed"}, {"storage-note.md", "quarterly.pdf"}),
        ({"state": "failed"}, {"noise.bin"}),
        ({"state": "queued"}, set()),
        ({"state": "ready", "type": "pdf", "q": "quart"}, {"quarterly.pdf"}),
    ],
)
def test_documents_are_filtered(lib: Library, params: dict[str, object], names: set[str]) -> None:
    assert {d["filename"] for d in _docs(lib.keys["ann"], **params)} == names


def test_an_unknown_state_is_a_clear_422(lib: Library) -> None:
    r = lib.keys["ann"].get("/v1/documents", params={"state": "sleeping"})
    assert r.status_code == 422
    assert "state" in r.json()["error"]["message"]


# --- the original file --------------------------------------------------------------------


def test_the_original_file_is_served_to_readers(lib: Library) -> None:
    for who in ("ann", "carol"):
        r = lib.keys[who].get(f"/v1/documents/{lib.pdf['doc_id']}/file")
        assert r.status_code == 200, r.text
        assert r.content == lib.pdf_bytes
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith('inline; filename="quarterly.pdf"')
    r = lib.keys["ann"].get(f"/v1/documents/{lib.note['doc_id']}/file")
    assert r.content == NOTE.encode()
    assert r.headers["content-disposition"].startswith("attachment;")  # never rendered here
    assert "sandbox" in r.headers["content-security-policy"]


def test_no_file_for_those_who_may_not_read_it(lib: Library) -> None:
    doc_id = str(lib.note["doc_id"])
    missing = "00000000-0000-0000-0000-000000000000"
    for who in ("carol", "root", "eve", "groot"):  # root: admin, but not in the ACL
        r = lib.keys[who].get(f"/v1/documents/{doc_id}/file")
        assert r.status_code == 404, (who, r.text)
        # The same answer as a document that does not exist, but for its id.
        gone = lib.keys[who].get(f"/v1/documents/{missing}/file")
        assert gone.status_code == 404
        assert r.json() == json.loads(gone.text.replace(missing, doc_id))
        assert "Dublin" not in r.text


def test_a_failed_upload_has_no_file_to_serve(lib: Library) -> None:
    r = lib.keys["ann"].get(f"/v1/documents/{lib.bad['doc_id']}/file")
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "gone"
    assert "its ingestion failed" in r.json()["error"]["message"]


def test_a_folder_document_is_served_while_its_file_is_unchanged(lib: Library) -> None:
    folder = lib.sync / "handbook"
    folder.mkdir(parents=True)
    page = folder / "travel.md"
    text = "# Travel\n\nEmployees book economy class for flights under six hours.\n"
    page.write_text(text)
    root = lib.keys["root"]
    r = root.post("/v1/ingest", json={"path": str(folder), "acl": ["user:root"]})
    assert r.status_code == 202, r.text
    assert root.wait_job(r.json()["job_id"])["status"] == "done"
    (doc,) = _docs(root, q="travel")
    url = f"/v1/documents/{doc['doc_id']}/file"
    assert root.get(url).content == text.encode()
    assert lib.keys["ann"].get(url).status_code == 404
    page.write_text(text + "Changed since.\n")
    r = root.get(url)
    assert r.status_code == 410
    assert "changed since it was ingested" in r.json()["error"]["message"]
    assert "Changed since" not in r.text
    page.unlink()
    r = root.get(url)
    assert r.status_code == 410
    assert "no longer exists" in r.json()["error"]["message"]


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_are_listed_for_their_submitter_and_tenant_admins(lib: Library) -> None:
    ann_jobs = lib.keys["ann"].get("/v1/jobs").json()
    assert ann_jobs["total"] == 3
    assert {j["job_id"] for j in ann_jobs["jobs"]} == {
        lib.note["job_id"],
        lib.pdf["job_id"],
        lib.bad["job_id"],
    }
    assert lib.keys["carol"].get("/v1/jobs").json() == {"jobs": [], "total": 0}
    admin = lib.keys["root"].get("/v1/jobs", params={"limit": 200}).json()
    assert {j["tenant"] for j in admin["jobs"]} == {"acme"}
    assert {lib.note["job_id"], lib.pdf["job_id"]} <= {j["job_id"] for j in admin["jobs"]}
    theirs = lib.keys["groot"].get("/v1/jobs").json()["jobs"]
    assert {j["tenant"] for j in theirs} == {"globex"}
    failed = lib.keys["ann"].get("/v1/jobs", params={"state": "failed"}).json()
    assert [j["job_id"] for j in failed["jobs"]] == [lib.bad["job_id"]]
    page = lib.keys["ann"].get("/v1/jobs", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3
    assert len(page["jobs"]) == 1


def test_a_job_says_documents_pages_and_failures_in_words(lib: Library) -> None:
    jobs = {j["job_id"]: j for j in lib.keys["ann"].get("/v1/jobs").json()["jobs"]}
    pdf = jobs[str(lib.pdf["job_id"])]
    assert pdf["kind"] == "upload"
    assert pdf["progress"] == 1.0
    assert pdf["documents"] == {"total": 1, "done": 1, "failed": 0}
    assert pdf["pages"] == {"done": 3, "total": 3}
    assert pdf["created_at"]
    assert pdf["updated_at"]
    bad = jobs[str(lib.bad["job_id"])]
    assert bad["documents"] == {"total": 1, "done": 1, "failed": 1}
    (error,) = bad["errors"]
    assert error["document"] == "noise.bin"
    assert error["reason"]
    assert not error["reason"].startswith("noise.bin")


def test_dead_letters_are_for_admins_of_their_tenant(lib: Library) -> None:
    services = lib.http.app.state.services  # type: ignore[attr-defined]
    with Session(services.engine) as s, s.begin():
        s.add(
            DeadLetterRow(
                task_id="inprocess:" + str(lib.pdf["job_id"]),
                job_id=str(lib.pdf["job_id"]),
                doc_id=str(lib.pdf["doc_id"]),
                source_uri="upload://acme/ann/quarterly.pdf",
                error="crashed the worker 4 times; not retried",
                attempts=4,
                spec="{}",
                created_at=datetime.now(UTC),
            )
        )
    for who in ("ann", "carol"):
        r = lib.keys[who].get("/v1/jobs/dead-letters")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "permission_denied"
    dead = lib.keys["root"].get("/v1/jobs/dead-letters").json()
    assert dead["total"] == 1
    (letter,) = dead["dead_letters"]
    assert letter["document"] == "quarterly.pdf"
    assert letter["user"] == "ann"
    assert "crashed the ingest worker 4 times" in letter["reason"]
    assert lib.keys["groot"].get("/v1/jobs/dead-letters").json() == {
        "dead_letters": [],
        "total": 0,
    }
