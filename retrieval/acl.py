"""Access control for reads: who may see which chunk, as an index filter and as a check.

A chunk is visible to a principal when both hold:

- its ``tenant`` is the principal's tenant, and
- its ``acl`` list shares at least one entry with the principal's tokens
  (``user:<id>``, ``group:<g>`` for each group, and ``"*"`` for public documents).

The ``admin`` role does not widen this: administration (deleting documents,
re-indexing, managing keys) is checked elsewhere, and reading someone's private
document is not part of it. An admin who must read a document needs a group that
grants it, like anyone else, so every read stays explainable by the ACL alone.

:func:`access_filter` is what every index read in ``retrieval/`` carries; it is
built inside search from the principal, never accepted from a caller.
:func:`can_read` is the same rule in plain Python, used to double-check what the
engine returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import Principal
from retrieval.index.filters import Filter, MatchAny, MatchValue

TENANT_KEY = "tenant"
ACL_KEY = "acl"


def access_filter(principal: Principal) -> Filter:
    """The index filter selecting exactly the chunks ``principal`` may read."""
    return Filter(
        must=[
            MatchValue(TENANT_KEY, principal.tenant),
            MatchAny(ACL_KEY, principal.acl_tokens),
        ]
    )


def can_read(principal: Principal, payload: Mapping[str, Any]) -> bool:
    """Whether a point with this payload is visible to ``principal`` (same rule as the filter).

    A malformed payload (no tenant, an ``acl`` that is not a list of strings) is
    never readable.
    """
    if payload.get(TENANT_KEY) != principal.tenant:
        return False
    acl = payload.get(ACL_KEY)
    if isinstance(acl, str):  # a scalar payload value matches like a one-element list
        acl = [acl]
    if not isinstance(acl, list):
        return False
    tokens = set(principal.acl_tokens)
    return any(isinstance(entry, str) and entry in tokens for entry in acl)
