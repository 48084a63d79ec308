"""Fixtures of the vector-index contract suite, thin wrappers over ``testkit.index_contract``.

Every contract test takes the ``backend`` fixture, parametrized over the embedded
engine (``edge``), qdrant-client's local mode (``local``) and a live Qdrant server
(``server``: marked ``qdrant_server``, skipped unless ``QDRANT_URL`` is set).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.index import IndexPoint, VectorIndex
from testkit.index_contract import BACKEND_KINDS, DIM, Backend, corpus

#: Each kind of :data:`BACKEND_KINDS`; the live server's tests are marked ``qdrant_server``.
BACKENDS = [
    pytest.param(kind, marks=pytest.mark.qdrant_server) if kind == "server" else kind
    for kind in BACKEND_KINDS
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """One backend kind, at a fresh location."""
    kind: str = request.param
    url = None
    if kind == "server":
        url = os.environ.get("QDRANT_URL")
        if not url:
            pytest.skip("live Qdrant tests need QDRANT_URL (e.g. http://127.0.0.1:6333)")
    made = Backend(kind, tmp_path, f"deepwell-test-{uuid.uuid4().hex[:12]}", url)
    yield made
    made.teardown()


@pytest.fixture
def index(backend: Backend) -> VectorIndex:
    """An open index with an empty collection of dimension :data:`DIM`."""
    opened = backend.open()
    opened.ensure_collection(DIM)
    return opened


@pytest.fixture
def loaded(index: VectorIndex) -> tuple[VectorIndex, list[IndexPoint]]:
    """The index with :func:`corpus` upserted."""
    points = corpus()
    index.upsert(points)
    return index, points
