"""A small, typed, backend-neutral filter language over point payloads.

Callers build a :class:`Filter` out of conditions; each backend turns it into its
engine's filter with :func:`to_qdrant` (qdrant-client models) or :func:`to_edge`
(qdrant-edge). Both are pure functions.

Only what both engines evaluate identically is offered. Booleans are refused as
match values: qdrant-edge 0.9.0 turns ``True`` into the integer 1, so a match on a
boolean payload never hits there while qdrant-client's does — store flags as
strings or integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias

import qdrant_edge as qe
from qdrant_client import models as qm

from core import InvalidInputError

MatchScalar = str | int


def _check_scalar(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(
            f"filter on {key!r}: match values must be str or int, got {type(value).__name__} "
            "(booleans are not matched alike by every backend; store them as str or int)"
        )


@dataclass(frozen=True, slots=True)
class MatchValue:
    """The payload value at ``key`` equals ``value`` (for a list payload: contains it)."""

    key: str
    value: MatchScalar

    def __post_init__(self) -> None:
        _check_scalar(self.key, self.value)


@dataclass(frozen=True, slots=True)
class MatchAny:
    """The payload value at ``key`` is (or, for a list, shares) one of ``values``.

    Empty ``values`` match nothing, which is what an ACL filter for a caller with
    no tokens must do.
    """

    key: str
    values: tuple[str, ...] | tuple[int, ...]

    def __init__(self, key: str, values: Sequence[str] | Sequence[int]) -> None:
        for value in values:
            _check_scalar(key, value)
        if len({type(v) for v in values}) > 1:
            raise InvalidInputError(f"filter on {key!r}: mixes str and int values")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "values", tuple(values))


@dataclass(frozen=True, slots=True)
class MatchPrefix:
    """The string at ``key`` starts with ``prefix`` (case-sensitive; for a list: one does).

    Both engines evaluate it alike, and use the keyword index where ``key`` has one
    (``source_uri`` does). An empty prefix is refused: it would match every string.
    """

    key: str
    prefix: str

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not self.prefix:
            raise InvalidInputError(f"prefix filter on {self.key!r} needs a non-empty string")


@dataclass(frozen=True, slots=True)
class Range:
    """A number at ``key`` lies within the given bounds (unset bounds are open)."""

    key: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def __post_init__(self) -> None:
        if self.gte is None and self.gt is None and self.lte is None and self.lt is None:
            raise InvalidInputError(f"range filter on {self.key!r} has no bound")


def _rfc3339(key: str, value: datetime | str | None) -> str | None:
    """Normalize a bound to an RFC 3339 string; naive datetimes are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(f"filter on {key!r}: {value!r} is not ISO 8601") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class DatetimeRange:
    """An ISO 8601 timestamp string at ``key`` lies within the bounds (compared as instants)."""

    key: str
    gte: str | None = None
    gt: str | None = None
    lte: str | None = None
    lt: str | None = None

    def __init__(
        self,
        key: str,
        *,
        gte: datetime | str | None = None,
        gt: datetime | str | None = None,
        lte: datetime | str | None = None,
        lt: datetime | str | None = None,
    ) -> None:
        if gte is None and gt is None and lte is None and lt is None:
            raise InvalidInputError(f"datetime range filter on {key!r} has no bound")
        object.__setattr__(self, "key", key)
        for name, bound in (("gte", gte), ("gt", gt), ("lte", lte), ("lt", lt)):
            object.__setattr__(self, name, _rfc3339(key, bound))


@dataclass(frozen=True, slots=True)
class IsEmpty:
    """``key`` is missing, null, or an empty list."""

    key: str


@dataclass(frozen=True, slots=True)
class HasId:
    """The point's id is one of ``ids``."""

    ids: tuple[str, ...]

    def __init__(self, ids: Sequence[str]) -> None:
        object.__setattr__(self, "ids", tuple(ids))


@dataclass(frozen=True, slots=True)
class Filter:
    """All of ``must``, at least one of ``should`` (if any), none of ``must_not``.

    Filters nest: a :class:`Filter` is itself a condition.
    """

    must: tuple[Condition, ...] = field(default=())
    should: tuple[Condition, ...] = field(default=())
    must_not: tuple[Condition, ...] = field(default=())

    def __init__(
        self,
        must: Sequence[Condition] = (),
        should: Sequence[Condition] = (),
        must_not: Sequence[Condition] = (),
    ) -> None:
        object.__setattr__(self, "must", tuple(must))
        object.__setattr__(self, "should", tuple(should))
        object.__setattr__(self, "must_not", tuple(must_not))


Condition: TypeAlias = (
    MatchValue | MatchAny | MatchPrefix | Range | DatetimeRange | IsEmpty | HasId | Filter
)


def all_of(*filters: Filter | None) -> Filter | None:
    """One filter requiring every given filter; None when none is given.

    This is how a caller's filter and the access-control filter are combined.
    """
    present = [f for f in filters if f is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return Filter(must=present)


# --- qdrant-client -------------------------------------------------------------------


def to_qdrant(flt: Filter) -> qm.Filter:
    """The qdrant-client ``models.Filter`` equivalent to ``flt``."""
    return qm.Filter(
        must=[_qdrant_condition(c) for c in flt.must] or None,
        should=[_qdrant_condition(c) for c in flt.should] or None,
        must_not=[_qdrant_condition(c) for c in flt.must_not] or None,
    )


def _values(values: tuple[str, ...] | tuple[int, ...]) -> list[str] | list[int]:
    # MatchAny guarantees one type; spelled out so the list keeps it.
    if all(isinstance(v, str) for v in values):
        return [str(v) for v in values]
    return [int(v) for v in values]


def _qdrant_condition(cond: Condition) -> qm.Condition:  # noqa: PLR0911  (one return per kind)
    match cond:
        case MatchValue(key=key, value=value):
            return qm.FieldCondition(key=key, match=qm.MatchValue(value=value))
        case MatchAny(key=key, values=values):
            return qm.FieldCondition(key=key, match=qm.MatchAny(any=_values(values)))
        case MatchPrefix(key=key, prefix=prefix):
            return qm.FieldCondition(key=key, match=qm.MatchPrefix(prefix=prefix))
        case Range(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            return qm.FieldCondition(key=key, range=qm.Range(gte=gte, gt=gt, lte=lte, lt=lt))
        case DatetimeRange(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            return qm.FieldCondition(
                key=key, range=qm.DatetimeRange(gte=gte, gt=gt, lte=lte, lt=lt)
            )
        case IsEmpty(key=key):
            return qm.IsEmptyCondition(is_empty=qm.PayloadField(key=key))
        case HasId(ids=ids):
            return qm.HasIdCondition(has_id=list(ids))
        case Filter():
            return to_qdrant(cond)
    raise InvalidInputError(f"not a filter condition: {cond!r}")


# --- qdrant-edge ---------------------------------------------------------------------


def to_edge(flt: Filter) -> qe.Filter:
    """The qdrant-edge ``Filter`` equivalent to ``flt``."""
    return qe.Filter(
        must=[_edge_condition(c) for c in flt.must] or None,
        should=[_edge_condition(c) for c in flt.should] or None,
        must_not=[_edge_condition(c) for c in flt.must_not] or None,
    )


def _edge_condition(cond: Condition) -> qe.ConditionType:  # noqa: PLR0911  (one return per kind)
    match cond:
        case MatchValue(key=key, value=value):
            return qe.FieldCondition(key, match=qe.MatchValue(value))
        case MatchAny(key=key, values=values):
            return qe.FieldCondition(key, match=qe.MatchAny(_values(values)))
        case MatchPrefix(key=key, prefix=prefix):
            return qe.FieldCondition(key, match=qe.MatchPrefix(prefix))
        case Range(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            return qe.FieldCondition(key, range=qe.RangeFloat(gte=gte, gt=gt, lte=lte, lt=lt))
        case DatetimeRange(key=key, gte=gte, gt=gt, lte=lte, lt=lt):
            return qe.FieldCondition(key, range=qe.RangeDateTime(gte=gte, gt=gt, lte=lte, lt=lt))
        case IsEmpty(key=key):
            return qe.IsEmptyCondition(key)
        case HasId(ids=ids):
            point_ids: set[qe.PointId] = set(ids)
            return qe.HasIdCondition(point_ids)
        case Filter():
            return to_edge(cond)
    raise InvalidInputError(f"not a filter condition: {cond!r}")
