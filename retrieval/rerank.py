"""Reranking: stages that reorder fused candidates by a finer relevance signal.

:class:`Reranker` is the interface search calls; :class:`CrossEncoderReranker` is
the implementation for a sentence-transformers cross-encoder in a local directory.
No cross-encoder weights ship with deepwell, so reranking is off unless
``search.rerank_model_path`` names one; nothing is ever downloaded.

:func:`rescore_for_answer` is the answer path's second stage (``llm.context_rescore``):
a pure function that puts the table passages whose row labels name what the question
asks about ahead of the prose that merely discusses it, and, for a question about a
measure, passages without numbers behind those with them, so the passages holding the
figures fit a small context budget.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from core import ConfigError, ModelError, get_logger
from retrieval.tables import is_value, read_table
from retrieval.types import RetrievedChunk
from retrieval.windows import stems

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

log = get_logger(__name__)


@runtime_checkable
class Reranker(Protocol):
    """Reorders candidates for a query, best first; may drop none and add none."""

    def rerank(self, query: str, chunks: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        """The same chunks, best first, each ``score`` set to the reranker's score."""
        ...


def rerank_input(chunk: RetrievedChunk) -> str:
    """What the cross-encoder reads of a chunk: title and heading path, then the text.

    The same shape the embedders read at ingest, so filings keep their company and
    period in view.
    """
    head = " > ".join(s for s in [chunk.title, *chunk.section] if s)
    return f"{head}\n{chunk.text}" if head else chunk.text


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from a local directory, offline.

    Raises :class:`ConfigError` at construction when ``model_path`` is not a model
    directory, so a misconfigured server refuses to start instead of failing its
    first search. The model itself loads in :meth:`warm_up` (or on first use).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"search.rerank_model_path {path}: no such directory. Point it at a local "
                "sentence-transformers cross-encoder (none ships with deepwell), or turn "
                "search.rerank off"
            )
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"search.rerank_model_path {path}: not a model directory (no config.json); "
                "it must hold a sentence-transformers / transformers cross-encoder"
            )
        self.model_path = path
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model (idempotent, thread-safe); raises :class:`ModelError` if it cannot."""
        with self._lock:
            if self._model is not None:
                return
            from sentence_transformers import CrossEncoder

            try:
                self._model = CrossEncoder(
                    str(self.model_path),
                    device=self.device,
                    local_files_only=True,
                    max_length=self.max_length,
                )
            except (OSError, ValueError) as exc:
                msg = f"cannot load cross-encoder from {self.model_path}: {exc}"
                raise ModelError(msg) from exc
            log.info("rerank.loaded", path=str(self.model_path), device=self.device)

    def rerank(self, query: str, chunks: Sequence[RetrievedChunk]) -> list[RetrievedChunk]:
        """The chunks ordered by cross-encoder score (ties keep their fused order)."""
        if not chunks:
            return []
        self.warm_up()
        assert self._model is not None
        raw = self._model.predict(
            [(query, rerank_input(c)) for c in chunks],
            batch_size=self.batch_size,
            show_progress_bar=False,
        )
        scores = np.asarray(raw, dtype=np.float32)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.shape != (len(chunks),):
            raise ModelError(
                f"cross-encoder at {self.model_path} gives scores of shape {scores.shape}; "
                "a reranker must give one relevance score per pair (num_labels=1)"
            )
        rescored = [
            dataclasses.replace(c, score=float(s)) for c, s in zip(chunks, scores, strict=True)
        ]
        return sorted(rescored, key=lambda c: -c.score)


#: The rank constant of :func:`rescore_for_answer` (a passage at rank r scores 1/(k + r)).
RESCORE_K = 10
#: The weight of a table whose row labels name what the question asks about.
NAMED_ROW_WEIGHT = 3.0
#: The weight of a passage without an amount when the question asks for one.
NO_AMOUNT_WEIGHT = 0.5

# A question about a measure: an amount, a count, a rate, a financial line item.
_ASKS_FOR_AMOUNT = re.compile(
    r"\bhow (?:much|many|large|big|high|low)\b|\b(?:amount|number|value|level|size|figure|"
    r"scale|magnitude|total|revenues?|sales|income|earnings|expen[sd]\w*|costs?|spen[dt]\w*|"
    r"allocat\w*|invest\w*|margins?|rates?|percent\w*|ratio|growth|grew|profits?|loss(?:es)?|"
    r"cash|debt|inventor\w*|dividends?|prices?|capital expenditures?|headcount|backlog|"
    r"repurchase\w*|buybacks?)\b",
    re.IGNORECASE,
)
# A number standing alone (not inside "10-Q" or "1A"), and a year.
_NUMBER = re.compile(r"(?<![\w-])\d[\d,.]*(?![\w-])")
_YEAR = re.compile(r"(?:19|20)\d\d")


def asks_for_amount(question: str) -> bool:
    """Whether ``question`` asks about a measure ("how much", "revenue", "tax rate", ...)."""
    return _ASKS_FOR_AMOUNT.search(question) is not None


def states_an_amount(text: str) -> bool:
    """Whether ``text`` states a number other than a year: "2 cents", "$1,875", "16%" (a
    number inside a word, "10-Q", "Item 1A", is none)."""
    return any(not _YEAR.fullmatch(n.rstrip(".,")) for n in _NUMBER.findall(text))


def names_a_row(question: str, chunk: RetrievedChunk) -> bool:
    """Whether ``chunk`` is a table with amounts and a row whose label shares a content word
    with the question (:func:`retrieval.windows.stems`).

    "What did Apple spend on research and development?" names the row "Research and
    development | $7,442 | $6,797" of an operating-expenses table.
    """
    return _names_a_row(stems(question), chunk)


def _names_a_row(wanted: set[str], chunk: RetrievedChunk) -> bool:
    if not chunk.is_table:
        return False
    table = read_table(chunk.text)
    if table is None:
        return False
    return any(
        len(row) > 1 and any(is_value(c) for c in row[1:]) and bool(stems(row[0]) & wanted)
        for row in table.rows
    )


def rescore_for_answer(
    question: str, chunks: Sequence[RetrievedChunk], *, k: int = RESCORE_K
) -> list[RetrievedChunk]:
    """The candidates reordered for the answer's context, best first.

    Each passage scores ``1 / (k + rank)`` from its retrieval rank, times a weight: a table
    with amounts whose row labels share a content word with the question
    (:func:`names_a_row`) weighs :data:`NAMED_ROW_WEIGHT`; when the question asks about a
    measure (:func:`asks_for_amount`), a passage that states no amount
    (:func:`states_an_amount`) weighs :data:`NO_AMOUNT_WEIGHT`; the rest 1. Ties keep the
    retrieval order; nothing is dropped or added, and each chunk's own ``score`` is left as
    search gave it.

    Why: retrieval ranks prose that talks about a measure ("R&D expense grew, driven by
    headcount", a risk factor about investing in research) above the table row that states
    it. On the 118 SEC 10-Q figure questions (``bench/retrieval.py``, top 20 re-scored,
    windows), the reference figure reached a 400-token context for 51 with named tables
    weighing 2 and nothing else, 58 with these weights (51-58 for weights 2-4 and 0.5-1,
    k 10-20, top 20 or 40), nearly as many as 600 tokens held before (62).
    """
    wanted = stems(question)
    amounts = asks_for_amount(question)

    def weight(chunk: RetrievedChunk) -> float:
        if _names_a_row(wanted, chunk):
            return NAMED_ROW_WEIGHT
        if amounts and not states_an_amount(chunk.text):
            return NO_AMOUNT_WEIGHT
        return 1.0

    keyed = [(weight(c) / (k + rank), rank, c) for rank, c in enumerate(chunks)]
    keyed.sort(key=lambda item: (-item[0], item[1]))
    return [c for _, _, c in keyed]
