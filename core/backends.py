"""Choosing a backend by name from settings: one registry per kind, one error for a bad name.

Each kind of backend (index, embedder, LLM, job queue) keeps a registry ``{name: factory}``
next to its front-door function (``retrieval.open_index``, ``retrieval.make_embedder``,
``retrieval.get_llm``, ``ingest.make_job_queue``), which looks the configured name up with
:func:`choose_backend` and calls the factory. So a new backend is one entry in one dict, and
a name nobody registered fails the same way everywhere, listing the names that work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from core.errors import ConfigError

Factory = TypeVar("Factory")


def choose_backend(setting: str, name: str, registry: Mapping[str, Factory]) -> Factory:
    """The factory ``registry`` holds for ``name``.

    :param setting: the setting that named it (``index.backend``), for the message.
    :param name: the configured backend name.
    :param registry: the kind's backends, by name.
    :returns: the registered factory.
    :raises ConfigError: no backend of that name; the message lists the valid names.
    """
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in sorted(registry))
        raise ConfigError(f"unknown {setting} {name!r}; valid names: {valid}") from None
