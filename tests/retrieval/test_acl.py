"""The access rule: the filter search sends to the engine and the same rule in Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from search_testkit import BACKENDS, HashEmbedder, loaded_index, payload

from core import Principal
from retrieval.acl import access_filter, can_read
from retrieval.index import Filter, MatchAny, MatchValue

ANN = Principal(user="ann", groups=("finance", "legal"), tenant="acme")


def test_access_filter_pins_tenant_and_needs_one_shared_token() -> None:
    assert access_filter(ANN) == Filter(
        must=[
            MatchValue("tenant", "acme"),
            MatchAny("acl", ["user:ann", "group:finance", "group:legal", "*"]),
        ]
    )


def test_admin_role_gets_no_wider_filter() -> None:
    admin = Principal(user="ann", groups=("finance", "legal"), tenant="acme", role="admin")
    assert access_filter(admin) == access_filter(ANN)


@pytest.mark.parametrize(
    ("doc", "visible"),
    [
        ({"tenant": "acme", "acl": ["*"]}, True),
        ({"tenant": "acme", "acl": ["user:ann"]}, True),
        ({"tenant": "acme", "acl": ["group:legal", "user:bob"]}, True),
        ({"tenant": "acme", "acl": ["user:bob", "group:ops"]}, False),
        ({"tenant": "acme", "acl": []}, False),
        ({"tenant": "globex", "acl": ["*"]}, False),  # public, but another tenant's
        ({"tenant": "globex", "acl": ["user:ann"]}, False),
        ({"acl": ["*"]}, False),  # no tenant: never readable
        ({"tenant": "acme"}, False),  # no acl: never readable
        ({"tenant": "acme", "acl": "user:ann"}, True),  # a scalar matches like a list
        ({"tenant": "acme", "acl": [None, 3, "group:finance"]}, True),
        ({"tenant": "acme", "acl": {"user:ann": 1}}, False),  # malformed
        ({"tenant": "acme", "acl": ["ann", "finance", "user:annie", "USER:ANN"]}, False),
    ],
)
def test_can_read(doc: dict[str, Any], visible: bool) -> None:
    assert can_read(ANN, doc) is visible


@pytest.mark.parametrize("kind", BACKENDS)
def test_engine_filter_and_python_rule_agree(kind: str, tmp_path: Path) -> None:
    """Each backend selects exactly the points ``can_read`` allows, for several principals."""
    acls = [["*"], ["user:ann"], ["group:legal"], ["user:bob"], ["group:ops", "user:cy"], []]
    docs = [
        payload(f"d{i}", 0, f"text {i}", tenant=tenant, acl=acl)
        for i, (tenant, acl) in enumerate((t, a) for t in ("acme", "globex") for a in acls)
    ]
    principals = [
        ANN,
        Principal(user="bob", tenant="acme"),
        Principal(user="cy", groups=("ops",), tenant="globex", role="admin"),
        Principal(user="nobody", tenant="initech"),
    ]
    with loaded_index(kind, tmp_path, docs, HashEmbedder()) as index:
        for who in principals:
            found = {h.payload["doc_id"] for h in index.scroll(access_filter(who))}
            assert found == {d["doc_id"] for d in docs if can_read(who, d)}, who
