"""Exporting points, copying an index between backends, and the server adapter's settings.

The copy runs embedded (qdrant-edge) → qdrant-client local mode (``path=``) and back,
and against a live server when ``QDRANT_URL`` is set; the same query set must rank
identically on both sides. Collection parameters, the tenant index and retries are
checked on what the adapter sends to the client.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from qdrant_client.http.exceptions import UnexpectedResponse
from typer.testing import CliRunner

from core import BackendUnavailableError, IndexBackendError
from retrieval.index import (
    EdgeIndex,
    IndexPoint,
    QdrantClientIndex,
    VectorIndex,
    encode_documents,
)
from retrieval.index.transfer import copy_points, sample_queries, verify_copy
from testkit.index_contract import DIM


def test_export_returns_every_point_with_its_vectors(
    loaded: tuple[VectorIndex, list[IndexPoint]],
) -> None:
    index, points = loaded
    exported = {p.id: p for p in index.export(batch=5)}  # several pages
    assert set(exported) == {p.id for p in points}
    for p in points:
        got = exported[p.id]
        assert got.payload == p.payload
        assert got.sparse.indices == p.sparse.indices
        np.testing.assert_allclose(got.sparse.values, p.sparse.values, rtol=1e-6)
        np.testing.assert_allclose(got.dense, p.dense, atol=1e-6)  # unit vectors stay as given


def _many(n: int, dim: int = DIM, seed: int = 3) -> list[IndexPoint]:
    rng = np.random.default_rng(seed)
    # A large vocabulary and varied lengths: few lexical ties, many distinct rankings.
    texts = [
        " ".join(f"w{w}" for w in rng.integers(0, 5000, size=rng.integers(5, 30))) for _ in range(n)
    ]
    points = []
    for i, sparse in enumerate(encode_documents(texts)):
        vec = rng.normal(size=dim)
        points.append(
            IndexPoint(
                str(uuid.UUID(int=i + 1)),
                [float(x) for x in vec / np.linalg.norm(vec)],
                sparse,
                {"doc_id": f"doc-{i // 4}", "tenant": "acme", "acl": ["*"], "text": texts[i]},
            )
        )
    return points


def _target(kind: str, root: Path) -> VectorIndex:
    if kind == "local":
        return QdrantClientIndex.connect("copy", path=root / "qdrant-local")
    url = os.environ.get("QDRANT_URL")
    if not url:
        pytest.skip("live Qdrant tests need QDRANT_URL (e.g. http://127.0.0.1:6333)")
    return QdrantClientIndex.connect(f"deepwell-copy-{uuid.uuid4().hex[:12]}", url=url)


@pytest.mark.parametrize("kind", ["local", pytest.param("server", marks=pytest.mark.qdrant_server)])
def test_embedded_to_server_and_back_ranks_identically(tmp_path: Path, kind: str) -> None:
    points = _many(700)
    with EdgeIndex(tmp_path / "edge", "src") as source:
        source.ensure_collection(DIM)
        source.upsert(points)
        source.optimize()
        target = _target(kind, tmp_path)
        try:
            target.ensure_collection(DIM)
            batches: list[int] = []
            assert copy_points(source, target, batch=256, on_batch=batches.append) == 700
            assert batches == [256, 256, 188]
            queries = sample_queries(source, 15)
            assert len(queries) == 15
            report = verify_copy(source, target, queries, k=10)
            assert report.ok, report.mismatches
            assert (report.source_count, report.target_count) == (700, 700)

            # ... and back into a fresh embedded index.
            with EdgeIndex(tmp_path / "edge-back", "back") as back:
                back.ensure_collection(DIM)
                assert copy_points(target, back, batch=100) == 700
                assert verify_copy(target, back, queries, k=10).ok

            # A copy that lost a point is caught.
            target.delete([points[0].id])
            broken = verify_copy(source, target, queries, k=10)
            assert not broken.ok
            assert broken.target_count == 699
        finally:
            if kind == "server":
                target.client.delete_collection(target.collection)  # type: ignore[attr-defined]
            target.close()


def test_cli_index_migrate_to_local_mode(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An embedded collection past the size warning moves, verified, with the CLI."""
    from cli import app
    from core import Settings
    from retrieval.index import index_warnings

    monkeypatch.setenv("DEEPWELL_INDEX__EMBEDDED_WARN_POINTS", "200")
    data = clean_env / "data"
    with EdgeIndex(data / "index", "deepwell") as source:
        source.ensure_collection(DIM)
        source.upsert(_many(300))
        (warning,) = index_warnings(Settings(), source.describe())
        assert "deepwell index migrate --to server" in warning
    dest = clean_env / "server-local"
    result = CliRunner().invoke(
        app, ["index", "migrate", "--to", "server", "--path", str(dest), "--queries", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "copied 300 points" in result.output
    assert "verified" in result.output
    with QdrantClientIndex.connect("deepwell", path=dest) as copied:
        assert copied.count() == 300


# --- the server adapter: what it sends ---------------------------------------------------


class Spy:
    """Wraps a real (local-mode) client, recording calls and failing the first few."""

    def __init__(self, client: Any, fail: dict[str, list[Exception]] | None = None) -> None:
        self._client = client
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail = fail or {}

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if self.fail.get(name):
                raise self.fail[name].pop(0)
            return real(*args, **kwargs)

        return call


def _spied(tmp_path: Path, **options: Any) -> tuple[QdrantClientIndex, Spy]:
    index = QdrantClientIndex.connect("spied", path=tmp_path / "q", **options)
    spy = Spy(index.client)
    index.client = spy  # type: ignore[assignment]
    return index, spy


def test_collection_is_created_with_the_cluster_settings_and_tenant_index(tmp_path: Path) -> None:
    index, spy = _spied(tmp_path, shards=6, replication_factor=2, write_consistency=2)
    index.local = False  # send payload indexes as to a server (local mode accepts and ignores)
    with index:
        index.ensure_collection(DIM)
    created = [kw for name, _, kw in spy.calls if name == "create_collection"]
    assert len(created) == 1
    assert created[0]["shard_number"] == 6
    assert created[0]["replication_factor"] == 2
    assert created[0]["write_consistency_factor"] == 2
    schemas = {
        args[1]: kw["field_schema"]
        for name, args, kw in spy.calls
        if name == "create_payload_index"
    }
    assert set(schemas) == {"acl", "doc_id", "source_uri", "tenant"}
    assert schemas["tenant"].is_tenant is True
    assert not schemas["acl"].is_tenant


def test_open_index_passes_the_index_settings(tmp_path: Path) -> None:
    from core import Settings
    from retrieval.index import open_index

    settings = Settings(
        data_dir=tmp_path,
        index={
            "backend": "qdrant",
            "local_path": str(tmp_path / "q"),
            "shard_number": 4,
            "replication_factor": 3,
            "write_consistency_factor": 2,
            "retries": 7,
            "retry_backoff_s": 0.25,
        },
    )
    with open_index(settings) as index:
        assert isinstance(index, QdrantClientIndex)
        assert (index.shards, index.replication_factor, index.write_consistency) == (4, 3, 2)
        assert (index.retries, index.retry_backoff_s) == (7, 0.25)


def test_transient_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    index, spy = _spied(tmp_path, retries=2, retry_backoff_s=0.01)
    with index:
        index.ensure_collection(DIM)
        spy.fail["count"] = [
            httpx.ConnectError("refused"),
            UnexpectedResponse(503, "Service Unavailable", b"", httpx.Headers()),
        ]
        assert index.count() == 0  # third attempt succeeds
        assert [n for n, _, _ in spy.calls].count("count") == 3

        spy.fail["count"] = [httpx.ConnectError("refused")] * 3
        with pytest.raises(BackendUnavailableError, match="after 3 attempts"):
            index.count()

        # A non-transient error is not retried.
        spy.fail["count"] = [UnexpectedResponse(400, "Bad Request", b"", httpx.Headers())]
        before = [n for n, _, _ in spy.calls].count("count")
        with pytest.raises(IndexBackendError):
            index.count()
        assert [n for n, _, _ in spy.calls].count("count") == before + 1


def test_same_ranking_tolerates_ties_and_float_noise_only() -> None:
    from retrieval.index import Hit
    from retrieval.index.transfer import same_ranking

    def hits(*pairs: tuple[str, float]) -> list[Hit]:
        return [Hit(i, s, {}) for i, s in pairs]

    base = hits(("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", 1.0), ("e", 1.0))
    assert same_ranking(
        base, hits(("a", 3.0000001), ("c", 2.0), ("b", 2.0), ("d", 1.0), ("e", 1.0))
    )
    assert same_ranking(base, hits(("a", 3.0), ("b", 2.0), ("c", 2.0), ("d", 1.0), ("x", 1.0)))
    assert not same_ranking(base, hits(("a", 3.0), ("b", 2.0), ("x", 2.0), ("d", 1.0), ("e", 1.0)))
    assert not same_ranking(base, hits(("a", 3.1), ("b", 2.0), ("c", 2.0), ("d", 1.0), ("e", 1.0)))
    assert not same_ranking(base, base[:4])
