"""The service edge: the HTTP API (routes, auth, limits, error map, app factory, lifespan
services, static files). Only the ``cli`` package imports it, through these names.

Each name is imported from its module on first use, so ``deepwell --help`` loads no web
framework.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app, is_loopback
    from api.auth import KeyStore
    from api.security import uvicorn_options
    from api.services import Services

#: Where each public name lives. Imported on first use.
_EXPORTS: dict[str, tuple[str, str]] = {
    "create_app": ("api.app", "create_app"),
    "is_loopback": ("api.app", "is_loopback"),
    "Services": ("api.services", "Services"),
    "KeyStore": ("api.auth", "KeyStore"),
    "uvicorn_options": ("api.security", "uvicorn_options"),
}

__all__ = [
    "KeyStore",
    "Services",
    "create_app",
    "is_loopback",
    "uvicorn_options",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(import_module(module), attr)
    globals()[name] = value  # resolved once
    return value
