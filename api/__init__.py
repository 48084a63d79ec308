"""The service edge: the HTTP API (routes, auth, limits, error map, app factory, lifespan
services, static files). Only the ``cli`` package imports it, through these names.

Each name is imported from its module on first use, so ``deepwell --help`` loads no web
framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import lazy_exports

if TYPE_CHECKING:
    from api.app import create_app, is_loopback
    from api.auth import KeyStore
    from api.security import uvicorn_options
    from api.services import Services

#: Where each public name lives. Imported on first use.
_EXPORTS = {
    "create_app": "api.app",
    "is_loopback": "api.app",
    "Services": "api.services",
    "KeyStore": "api.auth",
    "uvicorn_options": "api.security",
}

__all__ = [
    "KeyStore",
    "Services",
    "create_app",
    "is_loopback",
    "uvicorn_options",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
