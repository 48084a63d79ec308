"""Small types shared by the route modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time deepwell stores is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime rendered with its UTC offset (RFC 3339 ``date-time``)."""
