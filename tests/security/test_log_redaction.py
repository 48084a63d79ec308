"""Issue 12, finding 1 and part of 4: nothing secret is ever logged; every 4xx/5xx is one line.

The finding: an unexpected error in ``POST /v1/documents`` wrote rich tracebacks with local
variables, about 21,500 lines holding the caller's API key 41 times, the ``authorization``
header and the uploaded bytes. These tests make every route fail, in both log formats, and
look at everything written to stderr.
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from api import create_app
from api.auth import VISIBLE_CHARS
from core.logging import (
    MASK,
    MAX_FRAMES,
    MAX_TRACEBACK,
    configure_logging,
    get_logger,
    redact,
    redact_text,
)
from tests.api.apikit import KEY_PATTERN, Client, live_server, new_key, settings_for

KEY = "dw_" + "AbCd1234" + "x7Qz-_Lm9Pq2Rs5Tu8Vw1Xy4Za7Bc0De3Fg"
assert KEY_PATTERN.fullmatch(KEY)
COOKIE_SECRET = "cookie-secret-5f1e9a"
MARKER = "MARKER-document-text-7c41b2"
#: The probe's file name: 203 characters, 605 bytes in UTF-8 (two 4-byte CJK extension-B
#: characters, 198 3-byte ones, ".md").
CJK_NAME = "𠮷" * 2 + "機" * 198 + ".md"
assert (len(CJK_NAME), len(CJK_NAME.encode())) == (203, 605)


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def secret_fragments(key: str, width: int = 10) -> list[str]:
    """Every ``width``-character window of the key's secret part (after its visible prefix)."""
    secret = key[VISIBLE_CHARS:]
    return [secret[i : i + width] for i in range(len(secret) - width + 1)]


def assert_clean(log: str, key: str) -> None:
    """No key, no part of its secret, no cookie value, no document text."""
    assert key not in log
    leaked = [part for part in secret_fragments(key) if part in log]
    assert not leaked, f"parts of the key's secret were logged: {leaked[:3]}"
    assert COOKIE_SECRET not in log
    assert MARKER not in log


# --- the redaction itself, on hand-made values ---------------------------------------------


def test_keys_are_masked_anywhere_in_strings_and_nested_structures() -> None:
    event = {
        "event": f"saw {KEY} in a message",
        "nested": {"list": [f"x{KEY}y", (1, KEY)], "deeper": {"t": (KEY,)}},
        "set": {KEY},
        "raw": KEY.encode(),
    }
    out = redact(event)
    text = json.dumps(out, default=repr)
    assert_clean(text, KEY)
    assert f"{KEY[:VISIBLE_CHARS]}{MASK}" in out["event"]  # the public prefix stays
    assert out["nested"]["list"][1][0] == 1
    assert event["event"] == f"saw {KEY} in a message"  # the input is not changed


def test_a_key_cut_short_is_masked_too() -> None:
    assert KEY[VISIBLE_CHARS + 10 :] not in redact_text(KEY[:30])
    assert redact_text(KEY[:30]) == KEY[:VISIBLE_CHARS] + MASK


def test_asgi_header_pairs_mask_credentials_and_keep_the_rest() -> None:
    headers = [
        (b"authorization", f"Bearer {KEY}".encode()),
        (b"x-api-key", KEY.encode()),
        (b"cookie", f"session={COOKIE_SECRET}".encode()),
        (b"Proxy-Authorization", b"Basic dXNlcjpwYXNz"),
        (b"content-type", b"text/markdown"),
    ]
    out = redact({"scope": {"type": "http", "headers": headers}})
    assert out["scope"]["headers"] == [
        (b"authorization", MASK.encode()),
        (b"x-api-key", MASK.encode()),
        (b"cookie", MASK.encode()),
        (b"Proxy-Authorization", MASK.encode()),
        (b"content-type", b"text/markdown"),
    ]
    # The same headers written out as text, as a repr of the scope would show them.
    text = redact_text(repr(headers))
    assert_clean(text, KEY)
    assert "dXNlcjpwYXNz" not in text
    assert "text/markdown" in text
    for written in (
        f"Cookie: session={COOKIE_SECRET}",
        f'{{"cookie": "session={COOKIE_SECRET}"}}',
        f"set-cookie={COOKIE_SECRET}; Path=/",
    ):
        assert COOKIE_SECRET not in redact_text(written), written


def test_url_passwords_and_bearer_tokens_are_masked() -> None:
    assert (
        redact_text("postgresql+psycopg://deepwell:hunter2@db:5432/deepwell")
        == f"postgresql+psycopg://deepwell:{MASK}@db:5432/deepwell"
    )
    assert redact_text("redis://:s3cr3t@127.0.0.1:6379/0") == f"redis://:{MASK}@127.0.0.1:6379/0"
    assert redact_text("https://example.org/a:b@c") == "https://example.org/a:b@c"  # no userinfo
    assert redact_text("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig") == f"Bearer {MASK}"


def test_secret_named_fields_are_masked_counts_are_not() -> None:
    out = redact(
        {
            "password": "hunter2",
            "db_password": b"hunter2",
            "api_key": "anything",
            "client_secret": "s",
            "refresh_token": "t",
            "Authorization": "Basic abc",
            "prompt_tokens": 12,
            "tokenizer": "bert",
            "key_id": "0b0c",
        }
    )
    assert out == {
        "password": MASK,
        "db_password": MASK.encode(),
        "api_key": MASK,
        "client_secret": MASK,
        "refresh_token": MASK,
        "Authorization": MASK,
        "prompt_tokens": 12,
        "tokenizer": "bert",
        "key_id": "0b0c",
    }


def test_plain_prose_and_placeholders_stay_readable() -> None:
    for text in (
        "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
        "the tokenizer split 3 tokens",
        "rate limit of 60 requests per minute per key reached; retry in 2 s",
    ):
        assert redact_text(text) == text


def _fail_deep(depth: int, secret: str) -> None:
    uploaded = f"{MARKER} bytes of a document"  # a local: must never reach the log
    if depth:
        _fail_deep(depth - 1, secret)
    raise RuntimeError(f"parser failed for {secret} ({len(uploaded)} bytes)")


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_exceptions_render_without_locals_redacted_and_capped(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("info", fmt)  # type: ignore[arg-type]
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    try:
        _fail_deep(60, KEY)
    except RuntimeError as exc:
        get_logger("deepwell.test").error("test.crash", exc_info=exc)
    try:
        _fail_deep(1, KEY)
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    out = stream.getvalue()
    assert_clean(out, KEY)
    assert "RuntimeError: parser failed for dw_AbCd1234***" in out
    assert out.count("in _fail_deep") <= 2 * MAX_FRAMES  # the innermost frames only
    assert "Exception in ASGI application" in out
    if fmt == "json":
        records = [json.loads(line) for line in out.splitlines()]
        assert [r["event"] for r in records] == ["test.crash", "Exception in ASGI application"]
        assert all("Traceback" in r["exception"] for r in records)


def test_a_huge_exception_message_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("info", "json")
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    try:
        raise ValueError("x" * 200_000 + KEY)
    except ValueError as exc:
        get_logger("deepwell.test").error("test.crash", exc_info=exc)
    record = json.loads(stream.getvalue())
    assert len(record["exception"]) < MAX_TRACEBACK + 100
    assert "characters cut" in record["exception"]
    assert_clean(stream.getvalue(), KEY)


# --- every route fails with an unexpected error ------------------------------------------------


def _capture(capfd: pytest.CaptureFixture[str]) -> str:
    out, err = capfd.readouterr()
    sys.stderr.write("")  # keep pytest's own capture alive
    return out + err


def _plausible_request(route: APIRoute, method: str) -> dict[str, Any]:
    """Keyword arguments for ``TestClient.request``: a body carrying the marker text."""
    if method == "GET" or method == "DELETE":
        return {"params": {"q": MARKER}}
    if route.path == "/v1/documents":
        return {
            "files": {"file": ("notes.md", f"# Notes\n\n{MARKER}\n".encode(), "text/markdown")},
            "data": {"metadata": json.dumps({"note": MARKER})},
        }
    return {
        "json": {
            "query": MARKER,
            "question": MARKER,
            "messages": [{"role": "user", "content": MARKER}],
            "path": MARKER,
            "answer_id": MARKER,
            "rating": 1,
            "comment": MARKER,
            "user": "bob",
            "role": "reader",
            "name": MARKER,
        }
    }


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef", path)


@pytest.fixture
def app_and_key(tmp_path: Path) -> Iterator[tuple[TestClient, Client]]:
    settings = settings_for(tmp_path / "data")
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        yield http, new_key(http, user="alice", role="admin")


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_every_route_failing_unexpectedly_logs_no_secret(
    fmt: str,
    app_and_key: tuple[TestClient, Client],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    http, client = app_and_key
    services = http.app.state.services  # type: ignore[attr-defined]
    key = client.key

    def fault(rate_key: str) -> None:
        document = MARKER  # noqa: F841  (a local holding document text, as the parser's would)
        raise RuntimeError(f"limiter store broke for {key}; cookie: session={COOKIE_SECRET}")

    # Every route under /v1 authenticates and then takes a token of the key's rate limit:
    # the fault is reached after the body was read and the caller was stored.
    monkeypatch.setattr(services.limiter, "check", fault)
    configure_logging("info", fmt)  # type: ignore[arg-type]
    headers = {
        "Authorization": f"Bearer {key}",
        "X-API-Key": key,
        "Cookie": f"session={COOKIE_SECRET}",
    }
    routes = [
        (route, method)
        for ctx in iter_route_contexts(http.app.routes)  # type: ignore[attr-defined]
        if isinstance(route := ctx.original_route, APIRoute) and route.path.startswith("/v1")
        for method in sorted(route.methods or ())
    ]
    assert len(routes) >= 15
    _capture(capfd)
    for route, method in routes:
        r = http.request(
            method, _fill(route.path), headers=headers, **_plausible_request(route, method)
        )
        assert r.status_code == 500, (method, route.path, r.text)
        assert r.json() == {
            "error": {
                "code": "internal_error",
                "message": "internal error; the server log has the details",
            }
        }
        assert key not in r.text
    log = _capture(capfd)
    assert_clean(log, key)
    assert "RuntimeError: limiter store broke for dw_" in log
    failed = log.count("api.request_failed")
    assert failed == len(routes), log[-3000:]
    if fmt == "json":
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        failures = [x for x in lines if x["event"] == "api.request_failed"]
        assert {(x["method"], x["route"]) for x in failures} == {(m, r.path) for r, m in routes}
        for x in failures:
            assert (x["status"], x["code"], x["level"]) == (500, "internal_error", "error")
            assert (x["user"], x["key_id"], x["client"]) == ("alice", client.key_id, "testclient")
            assert set(x) <= {
                "event", "level", "logger", "timestamp", "method", "route", "status",
                "code", "reason", "user", "key_id", "client",
            }  # fmt: skip


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_an_upload_failing_deep_inside_logs_no_bytes_and_no_key(
    fmt: str,
    app_and_key: tuple[TestClient, Client],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    http, client = app_and_key
    jobs = http.app.state.services.jobs  # type: ignore[attr-defined]

    def broken_store(doc_id: str, filename: str, data: bytes) -> Path:
        # The bytes (key and marker) are a local of this frame and the callers' frames.
        raise OSError(f"disk full: cannot store {len(data)} bytes")

    monkeypatch.setattr(jobs, "store_upload", broken_store)
    configure_logging("info", fmt)  # type: ignore[arg-type]
    _capture(capfd)
    r = http.post(
        "/v1/documents",
        headers={"X-API-Key": client.key, "Cookie": f"sid={COOKIE_SECRET}"},
        files={"file": ("notes.md", f"{client.key} {MARKER}".encode(), "text/markdown")},
    )
    assert r.status_code == 500
    log = _capture(capfd)
    assert_clean(log, client.key)
    assert "OSError: disk full" in log
    assert log.count("api.request_failed") == 1


# --- every failure status is one structured line ------------------------------------------------


def _records(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_each_failure_status_is_one_request_failed_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path / "data", rate_limit_per_minute=2, max_request_mb=0.01)
    bogus = "dw_" + "Zz" * 21 + "Z"
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        bob = new_key(http, user="bob", role="reader")
        carol = new_key(http, user="carol", role="reader")
        dave = new_key(http, user="dave", role="reader")
        users = {bob.key: "bob", carol.key: "carol", dave.key: "dave"}
        configure_logging("info", "json")
        cookie = {"Cookie": f"session={COOKIE_SECRET}"}
        big = json.dumps({"query": MARKER * 1000})
        cases: list[tuple[int, str, str, Client | None, Any]] = [
            (401, "unauthenticated", "/v1/me", None,
             lambda: http.get("/v1/me", headers={"Authorization": f"Bearer {bogus}", **cookie})),
            (403, "permission_denied", "/v1/documents", carol,
             lambda: http.post("/v1/documents", headers={**carol.headers, **cookie},
                               files={"file": ("a.md", MARKER.encode(), "text/markdown")})),
            (404, "not_found", "/v1/documents/{doc_id}", bob,
             lambda: http.get("/v1/documents/nope", headers={**bob.headers, **cookie})),
            (413, "payload_too_large", "/v1/search", None,
             lambda: http.post("/v1/search", headers={**bob.headers, **cookie,
                               "Content-Type": "application/json"}, content=big)),
            (422, "invalid_input", "/v1/search", bob,
             lambda: http.post("/v1/search", headers={**bob.headers, **cookie},
                               json={"top_k": MARKER})),
            (429, "rate_limited", "/v1/me", dave,
             lambda: [http.get("/v1/me", headers=dave.headers) for _ in range(3)][-1]),
        ]  # fmt: skip
        _capture(capfd)
        for status, code, route, who, call in cases:
            response = call()
            assert response.status_code == status, response.text
            log = _capture(capfd)
            for key in (bogus, bob.key, carol.key, dave.key):
                assert_clean(log, key)
            failed = [r for r in _records(log) if r["event"] == "api.request_failed"]
            assert len(failed) == 1, (status, log)
            line = failed[0]
            assert (line["status"], line["code"], line["route"]) == (status, code, route)
            level = "warning" if status in (401, 403, 429) else "info"
            assert line["level"] == level
            assert line["client"] == "testclient"
            assert line["reason"]
            assert len(line["reason"]) <= 300
            if who is None:
                assert "user" not in line
            else:
                assert (line["user"], line["key_id"]) == (users[who.key], who.key_id)


# --- the finding, replayed against a real server -------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_replay_cjk_upload_against_a_live_server_logs_no_secret(fmt: str, tmp_path: Path) -> None:
    """The probe's request (a 203-character CJK file name), documents whose bytes make the
    parser fail and an upload that fails unexpectedly (500), sent with the key in both headers
    and a cookie: the server log (stdout and stderr of ``deepwell serve``) holds no key, no
    cookie and no document text."""
    with live_server(tmp_path, DEEPWELL_LOG_FORMAT=fmt) as server:
        admin = server.admin_key()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            r = http.post(
                "/v1/keys",
                headers={"Authorization": f"Bearer {admin}"},
                json={"user": "probe", "role": "writer"},
            )
            assert r.status_code == 201, r.text
            writer = Client(http, r.json()["key"], r.json()["key_id"])
            headers = {
                "Authorization": f"Bearer {writer.key}",
                "X-API-Key": writer.key,
                "Cookie": f"session={COOKIE_SECRET}",
            }
            statuses = []
            for name, data, mime in (
                (CJK_NAME, f"# Probe\n\n{MARKER} {writer.key}\n".encode(), "text/markdown"),
                ("broken.docx", f"PK\x03\x04{MARKER}{writer.key}".encode(), "application/zip"),
                ("broken.pdf", f"%PDF-1.7\n{MARKER} {writer.key}\n".encode(), "application/pdf"),
            ):
                r = http.post("/v1/documents", headers=headers, files={"file": (name, data, mime)})
                statuses.append(r.status_code)
                assert writer.key not in r.text
                if r.status_code == 202:
                    writer.wait_job(r.json()["job_id"])
            # An unexpected error where the upload is stored: the uploads folder is a file.
            uploads = tmp_path / "data" / "uploads"
            shutil.rmtree(uploads, ignore_errors=True)
            uploads.write_text("not a folder")
            r = http.post(
                "/v1/documents",
                headers=headers,
                files={"file": ("notes.md", f"# Notes\n\n{MARKER}\n".encode(), "text/markdown")},
            )
            assert r.status_code == 500, r.text
            statuses.append(500)
            # uvicorn closes the connection after an unhandled error: a new one for the 401.
            bogus = httpx.get(f"{server.url}/v1/me", headers={"X-API-Key": "dw_" + "Q" * 43})
            assert bogus.status_code == 401
            statuses.append(401)
    log = server.log.read_text(errors="replace")
    assert_clean(log, writer.key)
    assert log.count(admin) == 1  # the start-up notice that shows the first key once, by design
    lines = log.count("\n")
    failed = log.count("api.request_failed")
    assert failed == sum(status >= 400 for status in statuses), log[-3000:]
    assert "Traceback" in log  # the 500 was logged, with a traceback (and no locals)
    print(f"\n{fmt}: statuses {statuses}, {lines} log lines, {failed} api.request_failed")


def test_logs_are_safe_before_logging_is_configured(tmp_path: Path) -> None:
    """An app embedded by another server (``uvicorn --factory``), a library user or a test
    never calls configure_logging: structlog's own defaults rendered rich tracebacks with
    local variables there. Run in a fresh interpreter, where nothing configured structlog."""
    script = tmp_path / "unconfigured.py"
    script.write_text(
        "import core\n"
        "from core.logging import get_logger\n"
        "def f():\n"
        f"    secret = {KEY!r}\n"
        "    raise RuntimeError('boom')\n"
        "try:\n"
        "    f()\n"
        "except RuntimeError:\n"
        "    get_logger('x').error('failed', exc_info=True)\n"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    text = out.stdout + out.stderr
    assert "RuntimeError: boom" in text
    assert KEY[VISIBLE_CHARS:] not in text
    assert "secret =" not in text  # no local variables
