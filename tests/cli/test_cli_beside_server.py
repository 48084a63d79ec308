"""The CLI beside a running ``deepwell serve`` on the same data directory: ``ingest``,
``documents list``, ``search``, ``ask`` and ``corpus report`` go through its API (found by
``<data_dir>/server.json``) with an API key, and work on the store again once it stops;
``deepwell login`` stores a key; no key, a wrong key or a reader's key get a message
saying what to do."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.client import (
    SERVER_FILE,
    client_url,
    remove_server_file,
    running_server,
    stored_key,
    write_server_file,
)
from testkit import Served, deepwell_serve, serve_env

QUESTION = "How much does hot storage cost?"
DOCS = {
    "storage.md": "# Storage service\n\nHot storage costs 2 cents per gigabyte and month; "
    "cold storage costs 4 tenths of a cent.\n",
    "holidays.md": "# Holidays\n\nEmployees get 27 days of paid holiday a year, plus public "
    "holidays.\n",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("beside")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text)
    return root


def _env(root: Path, **variables: str) -> dict[str, str]:
    """A child's environment: the extractive answerer, this data directory, a config
    directory of its own (no stored key from the outside), wide tables."""
    return serve_env(
        root / "data",
        DEEPWELL_LLM__BACKEND="extractive",
        DEEPWELL_INGEST__WORKERS="1",
        XDG_CONFIG_HOME=str(root / "config"),
        COLUMNS="250",
        **variables,
    )


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[Served]:
    with deepwell_serve(root, _env(root, DEEPWELL_LOG_FORMAT="json"), ready_path="/readyz") as srv:
        yield srv


def deepwell(
    root: Path, *args: str, key: str | None = None, stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``deepwell ARGS`` in a child process on ``root``'s data directory."""
    env = _env(root, **({"DEEPWELL_API_KEY": key} if key else {}))
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=root,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_serve_says_where_it_listens(server: Served, root: Path) -> None:
    record = json.loads((root / "data" / SERVER_FILE).read_text())
    assert record == {"url": server.url, "pid": server.proc.pid}


def test_no_key_says_what_to_do(server: Served, root: Path) -> None:
    proc = deepwell(root, "documents", "list")
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert f"a deepwell server answers for this at {server.url}" in message
    assert "Run `deepwell login` once" in message
    assert "or set DEEPWELL_API_KEY" in message
    assert "printed by `deepwell serve` when it first started" in message
    assert "Traceback" not in proc.stderr


def test_ingest_list_search_ask_report_through_the_server(server: Served, root: Path) -> None:
    key = server.admin_key()
    out = ok(deepwell(root, "ingest", "docs", "--acl", "*", key=key))
    assert "ingest summary (server)" in out
    assert "indexed      │ 2" in out

    listed = ok(deepwell(root, "documents", "list", key=key))
    for name in DOCS:
        assert f"upload://default/admin/{name}" in listed
    assert listed.count("indexed") == 2

    found = ok(deepwell(root, "search", "hot storage price", key=key))
    assert "storage.md" in found
    assert "hybrid search" in found

    answer = deepwell(root, "ask", QUESTION, key=key)
    ok(answer)
    assert "reading 2 passages from" in answer.stderr
    assert "2 cents" in answer.stdout
    assert "[1] storage.md · Storage service — upload://default/admin/storage.md" in answer.stdout

    report = json.loads(ok(deepwell(root, "corpus", "report", "--json", key=key)))
    assert (report["documents"], report["indexed"], report["chunks"]) == (2, 2, 2)
    assert set(report["by_type"]) == {"md"}
    table = ok(deepwell(root, "corpus", "report", key=key))
    assert "by source" in table
    assert "upload://default" in table


def test_login_stores_the_key_for_the_server(server: Served, root: Path) -> None:
    wrong = deepwell(root, "login", stdin="dw_" + "x" * 43 + "\n")
    assert wrong.returncode == 1
    assert f"the server at {server.url} does not accept this key" in " ".join(wrong.stderr.split())

    proc = deepwell(root, "login", stdin=server.admin_key() + "\n")
    assert f"signed in to {server.url} as 'admin' (role admin" in ok(proc)
    path = root / "config" / "deepwell" / "credentials.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # With no DEEPWELL_API_KEY, the stored key is used.
    assert "upload://default/admin/storage.md" in ok(deepwell(root, "documents", "list"))


def test_a_reader_hears_what_it_may_not_do(server: Served, root: Path) -> None:
    # Keys live in the database, so the operator's `keys create` works beside the server.
    created = json.loads(ok(deepwell(root, "keys", "create", "--user", "rita", "--json")))
    proc = deepwell(root, "corpus", "report", key=created["key"])
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert "not allowed: the corpus report needs the admin role; this key has the reader" in message
    refused = deepwell(root, "search", "storage", "--as", "bob", key=created["key"])
    assert refused.returncode == 1
    assert "through a server the API key decides" in " ".join(refused.stderr.split())


def test_documents_and_keys_through_the_api(server: Served, root: Path) -> None:
    admin = server.admin_key()
    hits = json.loads(ok(deepwell(root, "search", "hot storage", "--json", key=admin)))
    doc_id = hits["results"][0]["doc_id"]
    shown = json.loads(ok(deepwell(root, "documents", "show", doc_id, key=admin)))
    assert (shown["filename"], shown["chunk_count"]) == ("storage.md", 1)
    missing = deepwell(root, "documents", "delete", "no-such-doc", key=admin)
    assert (missing.returncode, missing.stderr.strip()) == (1, "no document no-such-doc")

    # keys --url: through the API, as the admin (its tenant, api.key_delegation)
    url = ["--url", server.url]
    created = deepwell(root, "keys", "create", *url, "--user", "nora", "--json", key=admin)
    record = json.loads(ok(created))
    listed = json.loads(ok(deepwell(root, "keys", "list", *url, "--json", key=admin)))
    assert record["key_id"] in {k["key_id"] for k in listed}
    assert "storage.md" in ok(deepwell(root, "documents", "list", key=record["key"]))
    revoked = ok(deepwell(root, "keys", "revoke", *url, record["prefix"], key=admin))
    assert f"revoked {record['key_id']}" in revoked
    refused = deepwell(root, "documents", "list", key=record["key"])
    assert refused.returncode == 1
    assert "rejected the API key from DEEPWELL_API_KEY" in " ".join(refused.stderr.split())


def test_without_the_server_the_commands_open_the_store(server: Served, root: Path) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=60)
    assert not (root / "data" / SERVER_FILE).exists()
    # SIGTERM closes the store too: the job queue stops, the index is flushed and closed,
    # SQLite's write-ahead log is folded back (uvicorn re-raises the signal after its own
    # shutdown, so that is where deepwell closes its services).
    assert "index.closed" in server.log_tail(6000)
    assert not list((root / "data").glob("*.db-wal"))

    listed = ok(deepwell(root, "documents", "list"))
    assert listed.count("indexed") == 2
    assert "storage.md" in ok(deepwell(root, "search", "hot storage price"))
    answer = ok(deepwell(root, "ask", QUESTION))
    assert "2 cents" in answer
    report = json.loads(ok(deepwell(root, "corpus", "report", "--json")))
    assert report["documents"] == 2


# --- the pieces, without a server --------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_server_file_is_ignored(tmp_path: Path) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:9", pid=_dead_pid())
    assert running_server(tmp_path) is None
    write_server_file(tmp_path, "http://127.0.0.1:9")  # this process: alive
    assert running_server(tmp_path) is not None


def test_only_its_own_server_file_is_removed(tmp_path: Path) -> None:
    write_server_file(tmp_path, "http://127.0.0.1:9", pid=os.getppid())
    remove_server_file(tmp_path)  # names another process: stays
    assert (tmp_path / SERVER_FILE).exists()
    remove_server_file(tmp_path, pid=os.getppid())
    assert not (tmp_path / SERVER_FILE).exists()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
    ],
)
def test_client_url_of_a_bind_address(host: str, url: str) -> None:
    assert client_url(host, 8000) == url


def test_stored_keys_are_kept_per_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    from cli.client import store_key

    store_key("http://a:1/", "dw_a")
    store_key("http://b:2", "dw_b")
    store_key("http://a:1", "dw_a2")
    assert (stored_key("http://a:1"), stored_key("http://b:2/")) == ("dw_a2", "dw_b")
    assert stored_key("http://c:3") is None
