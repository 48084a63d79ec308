"""One way to choose a backend by name: index, embedder, LLM and job queue alike.

Each front-door function looks ``<group>.backend`` up in its registry; a name nobody
registered is a :class:`core.ConfigError` that lists the names that work, and those are
exactly the names the settings accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlalchemy import create_engine

from core import ConfigError, ResolvedModel, Settings
from ingest import make_job_queue
from retrieval import get_llm, make_embedder, open_index


def _no_ingestor() -> Any:
    raise AssertionError("no ingestor is built while choosing the queue")


def _index(settings: Settings, tmp: Path) -> object:
    return open_index(settings)


def _embedder(settings: Settings, tmp: Path) -> object:
    return make_embedder(settings, ResolvedModel("m", "embedding", tmp))


def _llm(settings: Settings, tmp: Path) -> object:
    return get_llm(settings)


def _queue(settings: Settings, tmp: Path) -> object:
    return make_job_queue(settings, create_engine("sqlite://"), _no_ingestor)


BUILDERS: dict[str, Callable[[Settings, Path], object]] = {
    "index": _index,
    "embedding": _embedder,
    "llm": _llm,
    "queue": _queue,
}


@pytest.mark.parametrize("group", sorted(BUILDERS))
def test_an_unknown_backend_name_is_a_config_error_listing_the_valid_ones(
    group: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    getattr(settings, group).backend = "nope"  # settings assigned after validation
    with pytest.raises(ConfigError) as failed:
        BUILDERS[group](settings, tmp_path)
    message = str(failed.value)
    assert message.startswith(f"unknown {group}.backend 'nope'; valid names: "), message
    listed = re.findall(r"'([^']+)'", message.partition("valid names: ")[2])
    accepted = get_args(type(getattr(settings, group)).model_fields["backend"].annotation)
    assert sorted(listed) == sorted(accepted)
