"""The service edge: the HTTP API (routes, auth, limits, error map, app factory, lifespan
services, static files). Only the ``cli`` package imports it.

``create_app`` is imported lazily so that ``deepwell --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    raise AttributeError(name)
