"""What only a live Qdrant server shows: payload index schema, cluster parameters, optimize.

The whole contract suite also runs against the server (the ``server`` parameter of
its ``backend`` fixture); both need ``QDRANT_URL``, e.g. ``http://127.0.0.1:6333``.
Run them alone with ``pytest -m qdrant_server``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from retrieval.index import QdrantClientIndex
from testkit.index_contract import DIM, corpus

pytestmark = pytest.mark.qdrant_server


@pytest.fixture
def server_url() -> str:
    url = os.environ.get("QDRANT_URL")
    if not url:
        pytest.skip("live Qdrant tests need QDRANT_URL (e.g. http://127.0.0.1:6333)")
    return url


@pytest.fixture
def collection(server_url: str) -> Iterator[str]:
    name = f"deepwell-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = QdrantClient(url=server_url)
    client.delete_collection(name)
    client.close()


def test_collection_layout_on_the_server(server_url: str, collection: str) -> None:
    client = QdrantClient(url=server_url)
    index = QdrantClientIndex(client, collection, shards=2, write_consistency=1)
    try:
        assert index.local is False
        index.ensure_collection(DIM)
        index.ensure_collection(DIM)
        info = client.get_collection(collection)
        assert info.config.params.shard_number == 2
        schema = info.payload_schema
        assert sorted(schema) == ["acl", "doc_id", "source_uri", "tenant"]
        assert all(s.data_type == qm.PayloadSchemaType.KEYWORD for s in schema.values())
        tenant = schema["tenant"].params
        assert isinstance(tenant, qm.KeywordIndexParams)
        assert tenant.is_tenant is True
    finally:
        index.close()


def test_optimize_waits_until_the_collection_is_green(server_url: str, collection: str) -> None:
    with QdrantClientIndex.connect(collection, url=server_url) as index:
        index.ensure_collection(DIM)
        index.upsert(corpus())
        index.optimize()
        facts = index.describe()
        assert facts["status"] == "green"
        assert facts["points"] == len(corpus())
