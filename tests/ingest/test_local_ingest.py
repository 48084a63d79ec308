"""Local paths to source documents, the step `deepwell ingest` and `--ingest-missing` share."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import InvalidInputError, Settings
from ingest.local import collect_documents


def _tree(root: Path) -> Path:
    (root / "a").mkdir(parents=True)
    (root / "top.md").write_text("# top")
    (root / "a" / "one.txt").write_text("one")
    (root / "a" / "draft.txt").write_text("draft")
    return root


def _settings(tmp: Path, **ingest: object) -> Settings:
    return Settings(data_dir=tmp / "data", ingest=ingest)


def test_defaults_come_from_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, default_acl=["finance"], default_tenant="acme")
    docs = collect_documents(settings, [_tree(tmp_path / "docs")])
    assert sorted(d.filename for d in docs) == ["draft.txt", "one.txt", "top.md"]
    assert {d.tenant for d in docs} == {"acme"}
    assert all(d.acl == ["group:finance"] for d in docs)


def test_explicit_acl_tenant_and_globs(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    settings = _settings(tmp_path, default_acl=["finance"])
    docs = collect_documents(
        settings, [root], acl=["*"], tenant="t1", include=["a/*"], exclude=["*draft*"]
    )
    assert [(d.filename, d.tenant, d.acl) for d in docs] == [("one.txt", "t1", ["*"])]


def test_files_and_folders_together(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    docs = collect_documents(_settings(tmp_path), [root / "top.md", root / "a"], acl=["user:x"])
    assert sorted(d.filename for d in docs) == ["draft.txt", "one.txt", "top.md"]


def test_too_large_file_is_kept_with_its_problem(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    (root / "big.txt").write_bytes(b"x" * 2_000)
    settings = _settings(tmp_path, max_file_mb=0.001)
    docs = collect_documents(settings, [root / "big.txt"], acl=["*"])
    assert len(docs) == 1
    assert docs[0].problem


def test_nothing_matched_is_empty(tmp_path: Path) -> None:
    root = _tree(tmp_path / "docs")
    assert collect_documents(_settings(tmp_path), [root], acl=["*"], include=["*.pdf"]) == []


def test_invalid_acl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        collect_documents(_settings(tmp_path), [_tree(tmp_path / "docs")], acl=["role:x"])
