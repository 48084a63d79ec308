"""What only the embedded engine needs: exclusive locking, crash durability, its layout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import qdrant_edge as qe

from core import IndexBackendError
from retrieval.index import EdgeIndex
from testkit.index_contract import DIM, corpus

REPO = Path(__file__).resolve().parents[3]


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_second_open_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path, "c")
    with pytest.raises(IndexBackendError, match="in use by another process"):
        EdgeIndex(tmp_path, "c")
    first.close()
    EdgeIndex(tmp_path, "c").close()


def test_another_process_holding_the_index_is_reported(tmp_path: Path) -> None:
    holder = _python(
        f"""
        import sys, core
        from retrieval.index import EdgeIndex
        index = EdgeIndex({str(tmp_path)!r}, "c")
        index.ensure_collection({DIM})
        print("ready", flush=True)
        sys.stdin.read()
        index.close()
        """
    )
    try:
        assert holder.stdout is not None
        lines = iter(holder.stdout.readline, "")
        assert "ready" in (line.strip() for line in lines)  # unconfigured logs go to stdout
        with pytest.raises(IndexBackendError) as caught:
            EdgeIndex(tmp_path, "c")
        message = str(caught.value)
        assert "in use by another process" in message
        assert f"pid {holder.pid}" in message
        assert "deepwell server running" in message
    finally:
        holder.communicate(input="", timeout=30)
    assert holder.returncode == 0
    with EdgeIndex(tmp_path, "c") as index:  # released when the holder closed it
        assert index.count() == 0


def test_the_engine_lock_is_mapped_when_our_lock_is_bypassed(tmp_path: Path) -> None:
    with EdgeIndex(tmp_path, "c") as index:
        index.ensure_collection(DIM)
    raw = qe.EdgeShard.load(str(tmp_path / "c"))  # holds the WAL lock, not ours
    try:
        index = EdgeIndex(tmp_path, "c")
        with pytest.raises(IndexBackendError, match="in use by another process"):
            index.count()
        index.close()
    finally:
        raw.close()


def test_writes_survive_a_crash_without_close(tmp_path: Path) -> None:
    writer = _python(
        f"""
        import os, core
        from testkit.index_contract import corpus
        from retrieval.index import EdgeIndex
        index = EdgeIndex({str(tmp_path)!r}, "c")
        index.ensure_collection({DIM})
        index.upsert(corpus())
        os._exit(0)  # no close, no flush: only the write-ahead log has the points
        """
    )
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    with EdgeIndex(tmp_path, "c") as index:
        assert index.count() == len(corpus())
        assert index.retrieve([corpus()[4].id])[0].payload == corpus()[4].payload


def test_closed_index_refuses_calls_and_close_is_idempotent(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path, "c")
    index.ensure_collection(DIM)
    index.close()
    index.close()
    with pytest.raises(IndexBackendError, match="closed"):
        index.count()
    with pytest.raises(IndexBackendError, match="closed"):
        index.ensure_collection(DIM)


def test_layout_and_payload_indexes(tmp_path: Path) -> None:
    with EdgeIndex(tmp_path / "idx", "deepwell") as index:
        assert index.describe() == {
            "backend": "qdrant-edge",
            "collection": "deepwell",
            "path": str(tmp_path / "idx" / "deepwell"),
            "exists": False,
            "points": 0,
        }
        index.ensure_collection(DIM)
        index.upsert(corpus())
        facts = index.describe()
        assert facts["points"] == len(corpus())
        assert facts["payload_indexes"] == ["acl", "doc_id", "source_uri", "tenant"]
    assert (tmp_path / "idx" / ".deepwell.lock").is_file()
    shard = qe.EdgeShard.load(str(tmp_path / "idx" / "deepwell"))
    try:
        schema = shard.info().payload_schema
        assert schema["acl"].data_type == qe.PayloadSchemaType.Keyword
        assert schema["acl"].points == len(corpus())
        tenant = schema["tenant"].params
        assert isinstance(tenant, qe.KeywordIndexParams)
        assert tenant.is_tenant is True
    finally:
        shard.close()
