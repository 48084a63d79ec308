"""Document discovery: ids, hashes, ACL rules, globs, and the files that cannot be read."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import InvalidInputError
from ingest.sources import FileSource, FolderSource, bytes_source, doc_id_for, normalize_acl


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder other users can enter (pytest's own tmp folders are closed to them)."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    base.chmod(0o755)
    yield base
    for p in base.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(base)


def _tree(root: Path) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    (root / "top.md").write_text("# top")
    (root / "a" / "one.pdf").write_bytes(b"%PDF-1.4 fake")
    (root / "a" / "b" / "two.txt").write_text("two")
    (root / "a" / "b" / "draft.txt").write_text("draft")
    return root


def test_walk_is_recursive_sorted_and_hashed(tmp_path: Path) -> None:
    docs = list(FolderSource(_tree(tmp_path), "acme", ["group:staff"]))
    names = [d.metadata["relative_path"] for d in docs]
    assert names == ["top.md", "a/one.pdf", "a/b/draft.txt", "a/b/two.txt"]
    assert all(len(d.content_sha256) == 64 and not d.problem for d in docs)
    assert docs[0].doc_id == doc_id_for("acme", (tmp_path / "top.md").as_uri())


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    src = FolderSource(_tree(tmp_path), "t", ["*"], include=["**/*.txt"], exclude=["*draft*"])
    assert [d.filename for d in src] == ["two.txt"]


def test_doc_id_is_stable_and_tenant_scoped() -> None:
    assert doc_id_for("a", "file:///x") == doc_id_for("a", "file:///x")
    assert doc_id_for("a", "file:///x") != doc_id_for("b", "file:///x")


def test_sidecar_beats_folder_rule_beats_call(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "a" / ".deepwell-acl.json").write_text(json.dumps({"acl": ["group:eng"]}))
    (root / "a" / "b" / "two.txt.acl.json").write_text(
        json.dumps({"acl": ["user:ann"], "tenant": "other", "metadata": {"kind": "memo"}})
    )
    by_name = {d.filename: d for d in FolderSource(root, "acme", ["group:staff"])}
    assert by_name["top.md"].acl == ["group:staff"]
    assert by_name["one.pdf"].acl == ["group:eng"]
    assert by_name["draft.txt"].acl == ["group:eng"]  # inherited from a/
    assert by_name["two.txt"].acl == ["user:ann"]
    assert by_name["two.txt"].tenant == "other"
    assert by_name["two.txt"].metadata["kind"] == "memo"
    assert "two.txt.acl.json" not in by_name


def test_bad_rule_is_a_problem_of_that_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "top.md.acl.json").write_text("{not json")
    problems = {d.filename: d.problem for d in FolderSource(root, "t", ["*"])}
    assert "unreadable access rule" in (problems["top.md"] or "")
    assert problems["two.txt"] is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["group:a", "user:b", "*"], ["*", "group:a", "user:b"]),
        (["finance"], ["group:finance"]),
        (["group:a", "group:a", " "], ["group:a"]),
    ],
)
def test_normalize_acl(given: list[str], expected: list[str]) -> None:
    assert normalize_acl(given) == expected


@pytest.mark.parametrize("bad", ["role:x", "group:", "user: "])
def test_invalid_acl_entries(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid ACL entry"):
        normalize_acl([bad])


def test_symlink_loop_and_broken_link_are_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    docs = list(FolderSource(root, "t", ["*"]))
    problems = [d.problem for d in docs if d.problem]
    assert any("symlink loop" in p for p in problems)
    assert any("broken symlink" in p for p in problems)
    assert len([d for d in docs if not d.problem]) == 4  # every real file once


def test_oversized_file_is_refused_without_reading(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"x" * 5000)
    [doc] = FolderSource(tmp_path, "t", ["*"], max_bytes=1000)
    assert "too large" in (doc.problem or "")
    assert doc.content_sha256 == ""


def test_explicit_files_and_missing_path(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    docs = list(FileSource([root / "top.md", root / "a"], "t", ["*"]))
    assert [d.filename for d in docs] == ["top.md", "one.pdf", "draft.txt", "two.txt"]
    with pytest.raises(InvalidInputError, match="no such file"):
        list(FolderSource(root / "nope", "t", ["*"]))


def test_bytes_source() -> None:
    doc = bytes_source(b"hello", filename="x.txt", tenant="t", acl=["finance"])
    assert doc.source_uri == "upload://t/x.txt"
    assert doc.acl == ["group:finance"]
    with pytest.raises(InvalidInputError):
        bytes_source(b"x", filename="../etc/passwd", tenant="t", acl=[])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_unreadable_files_and_folders_as_an_unprivileged_user(open_tmp: Path) -> None:
    """Permissions are real only for a non-root user: walk the tree as 'nobody'."""
    base = open_tmp
    root = base / "tree"
    _tree(root)
    (root / "secret.txt").write_text("secret")
    (root / "secret.txt").chmod(0o000)
    (root / "a" / "b").chmod(0o000)
    for path in [base, root, root / "a"]:
        path.chmod(0o755)
    for f in [root / "top.md", root / "a" / "one.pdf"]:
        f.chmod(0o644)
    # Forked rather than run as a new interpreter: 'nobody' cannot reach the venv's python.
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, walk, report, exit without running pytest's teardown
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            try:
                found = [[d.filename, d.problem] for d in FolderSource(root, "t", ["*"])]
            except Exception as exc:
                found = [["error", repr(exc)]]
            os.write(write_fd, json.dumps(found).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        result = dict(json.loads(pipe.read()))
    os.waitpid(pid, 0)
    assert "error" not in result, result
    assert result["top.md"] is None
    assert "permission denied" in result["secret.txt"]
    assert "permission denied" in result["b"]
