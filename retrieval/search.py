"""Search: dense, lexical or hybrid retrieval of the chunks the caller may read.

One entry point, :meth:`Searcher.search`. It always builds the filter itself:
``all_of(access_filter(principal), filters.to_filter())``, and every index read
of the search (the ranked query, both queries of weighted fusion, the neighbour
fetch) carries it. What the engine returns is checked against the same rule in
Python before it leaves (:func:`retrieval.acl.can_read`), so an engine or filter
bug shows up as an error in the log rather than as a leak.

Stages, each timed: encode the query (dense model + BM25 sparse vector) → one
index query (hybrid: a dense and a sparse prefetch fused by the engine with RRF or
DBSF; or one ranking) → optional rerank → at most N hits per document → optional
neighbour expansion.

Steering (``search.steering``, :mod:`retrieval.steering`): when the question names an
issuer, a document type or a period that documents of the index match (their metadata was
read at ingest), ``filter`` ranks those documents' chunks first (a second query, restricted
to them and to what the caller may read) and fills up from the unrestricted ranking;
``boost`` multiplies their fused scores by ``search.steer_boost`` among a wider set of
candidates. Either way only documents the caller may read are considered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, get_args

from core import ConfigError, InvalidInputError, Principal, SearchSettings, Settings, get_logger
from retrieval.acl import access_filter, can_read
from retrieval.fusion import diversify, rrf_weights, weighted_rrf
from retrieval.index import (
    Bm25Encoder,
    Filter,
    Hit,
    MatchAny,
    SearchMode,
    SparseVector,
    VectorIndex,
)
from retrieval.index.base import prefetch_size
from retrieval.index.filters import all_of
from retrieval.index.sparse import default_encoder
from retrieval.neighbours import expand, neighbour_spans, spans_filter
from retrieval.rerank import CrossEncoderReranker, Reranker
from retrieval.search_filters import DOC_KEY, SearchFilters
from retrieval.steering import DocumentCatalog, Steering, choose_documents
from retrieval.types import RetrievedChunk

log = get_logger(__name__)

FusionMethod = Literal["rrf", "dbsf", "weighted_rrf"]
SteeringMode = Literal["off", "boost", "filter"]

MAX_QUERY_CHARS = 2000
MAX_NEIGHBOURS = 5
#: With a per-document cap, rank this many candidates per wanted hit (at least the minimum),
#: so the cap still leaves ``limit`` hits when a few documents dominate the ranking.
DIVERSITY_OVERFETCH = 5
MIN_DIVERSITY_CANDIDATES = 50
#: Boosting re-orders this many fused candidates at least, so matching documents' chunks
#: ranked below the limit can rise into it.
MIN_STEER_CANDIDATES = 50


class QueryEmbedder(Protocol):
    """What search needs of the dense model (``retrieval.embedding.DenseEmbedder`` is one)."""

    def embed_query(self, text: str) -> list[float]:
        """One normalized query vector, in the space the index was built with."""
        ...


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Chunks found for a query, best first, with where the time went (milliseconds).

    With neighbour expansion, ``chunks`` lists each hit's passage in document order
    (see :func:`retrieval.neighbours.expand`); ``neighbour_ids`` names the chunks that
    were added around hits rather than ranked (their ``score`` is 0.0).
    """

    query: str
    mode: SearchMode
    fusion: FusionMethod | None
    chunks: list[RetrievedChunk]
    timings: dict[str, float]
    neighbour_ids: frozenset[str] = field(default_factory=frozenset)
    steering: Steering | None = None  # the documents the question was steered to, and why

    @property
    def hits(self) -> list[RetrievedChunk]:
        """The ranked chunks only, without the neighbours expansion added."""
        return [c for c in self.chunks if c.id not in self.neighbour_ids]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One search's options, resolved against the settings and checked."""

    mode: SearchMode
    fusion: FusionMethod
    limit: int
    candidates: int
    neighbours: int
    max_per_document: int | None
    rerank: bool
    steering: SteeringMode


class Searcher:
    """Permission-aware search over one index; thread-safe, built once and shared.

    ``settings`` gives the defaults every call may override. A reranker is built from
    ``settings.rerank_model_path`` unless one is passed; raises :class:`ConfigError`
    when ``settings.rerank`` is on with neither.
    """

    def __init__(
        self,
        index: VectorIndex,
        embedder: QueryEmbedder,
        settings: SearchSettings | None = None,
        *,
        reranker: Reranker | None = None,
        sparse: Bm25Encoder | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings or SearchSettings()
        if reranker is None and self.settings.rerank_model_path is not None:
            reranker = CrossEncoderReranker(self.settings.rerank_model_path)
        if self.settings.rerank and reranker is None:
            raise ConfigError("search.rerank is on but no search.rerank_model_path is set")
        self.reranker = reranker
        # The same BM25 parameters ingest used (both default), or the caller's encoder.
        self.sparse = sparse or default_encoder()
        self.catalog = DocumentCatalog(index, self.settings.steer_refresh_s)

    @classmethod
    def from_settings(
        cls, settings: Settings, index: VectorIndex, embedder: QueryEmbedder
    ) -> Searcher:
        """A searcher with the ``search`` group of the settings."""
        return cls(index, embedder, settings.search)

    def warm_up(self) -> None:
        """Load the reranker now (the embedder is warmed by whoever built it)."""
        if isinstance(self.reranker, CrossEncoderReranker):
            self.reranker.warm_up()

    # --- the entry point ----------------------------------------------------------------

    def search(
        self,
        query: str,
        principal: Principal,
        *,
        filters: SearchFilters | None = None,
        limit: int | None = None,
        mode: SearchMode | None = None,
        fusion: FusionMethod | None = None,
        expand_neighbors: int | None = None,
        max_per_document: int | None = None,
        rerank: bool | None = None,
        steering: SteeringMode | None = None,
    ) -> SearchResult:
        """The chunks ``principal`` may read that best match ``query``, best first.

        ``None`` options take the settings' defaults. ``limit`` counts ranked hits
        (neighbours come on top); ``max_per_document`` 0 lifts the settings' cap;
        ``filters`` can only narrow what the principal may read; ``steering`` (off, boost,
        filter) overrides ``search.steering``.

        Raises :class:`InvalidInputError` for an empty or overlong query or options out
        of range, :class:`ConfigError` when reranking is asked for without a reranker,
        and the index's errors (:class:`IndexBackendError`, :class:`BackendUnavailableError`).
        """
        started = time.perf_counter()
        text = _check_query(query)
        plan = self._plan(
            limit=limit,
            mode=mode,
            fusion=fusion,
            neighbours=expand_neighbors,
            max_per_document=max_per_document,
            rerank=rerank,
            steering=steering,
        )
        flt = all_of(access_filter(principal), filters.to_filter() if filters else None)
        assert flt is not None  # the access filter is always there
        timings = dict.fromkeys(("embed_ms", "index_ms", "rerank_ms", "expand_ms"), 0.0)

        t = time.perf_counter()
        dense = self.embedder.embed_query(text) if plan.mode != "lexical" else None
        sparse = self.sparse.encode_query(text) if plan.mode != "dense" else None
        timings["embed_ms"] = _ms(t)

        t = time.perf_counter()  # choosing the documents to steer to counts as index time
        steer = None
        if plan.steering != "off":
            steer = choose_documents(text, self.catalog.readable(principal))
        if steer is None:
            hits, similarity = self._ranked(plan, dense, sparse, flt)
        else:
            hits, similarity = self._steered(plan, dense, sparse, flt, steer)
        chunks = [
            RetrievedChunk.from_hit(h, dense_score=similarity.get(h.id))
            for h in self._readable(principal, hits)
        ]
        timings["index_ms"] = _ms(t)

        if plan.rerank and chunks:
            assert self.reranker is not None
            t = time.perf_counter()
            chunks = self.reranker.rerank(text, chunks)
            timings["rerank_ms"] = _ms(t)

        chunks = diversify(chunks, plan.max_per_document, plan.limit)

        neighbour_ids: frozenset[str] = frozenset()
        if plan.neighbours and chunks:
            t = time.perf_counter()
            expanded = self._expand(chunks, plan.neighbours, flt, principal)
            neighbour_ids = frozenset(c.id for c in expanded) - {c.id for c in chunks}
            chunks = expanded
            timings["expand_ms"] = _ms(t)

        timings["total_ms"] = _ms(started)
        log.debug(
            "search.done",
            mode=plan.mode,
            fusion=plan.fusion,
            hits=len(chunks) - len(neighbour_ids),
            neighbours=len(neighbour_ids),
            steered_to=len(steer.doc_ids) if steer else 0,
            **{k: round(v, 2) for k, v in timings.items()},
        )
        return SearchResult(
            query=text,
            mode=plan.mode,
            fusion=plan.fusion if plan.mode == "hybrid" else None,
            chunks=chunks,
            timings=timings,
            neighbour_ids=neighbour_ids,
            steering=steer,
        )

    # --- stages -------------------------------------------------------------------------

    def _plan(
        self,
        *,
        limit: int | None,
        mode: SearchMode | None,
        fusion: FusionMethod | None,
        neighbours: int | None,
        max_per_document: int | None,
        rerank: bool | None,
        steering: SteeringMode | None = None,
    ) -> _Plan:
        cfg = self.settings
        mode = mode or cfg.mode
        fusion = fusion or cfg.fusion
        limit = cfg.top_k if limit is None else limit
        neighbours = cfg.expand_neighbors if neighbours is None else neighbours
        cap = cfg.max_per_document if max_per_document is None else (max_per_document or None)
        rerank = cfg.rerank if rerank is None else rerank
        steering = steering or cfg.steering
        if mode not in get_args(SearchMode):
            raise InvalidInputError(f"unknown search mode {mode!r}; use hybrid, dense or lexical")
        if fusion not in get_args(FusionMethod):
            raise InvalidInputError(f"unknown fusion {fusion!r}; use rrf, dbsf or weighted_rrf")
        if not 1 <= limit <= cfg.max_limit:
            raise InvalidInputError(f"limit must lie in 1..{cfg.max_limit}, got {limit}")
        if not 0 <= neighbours <= MAX_NEIGHBOURS:
            raise InvalidInputError(
                f"expand_neighbors must lie in 0..{MAX_NEIGHBOURS}, got {neighbours}"
            )
        if cap is not None and cap < 1:
            raise InvalidInputError(f"max_per_document must not be negative, got {cap}")
        if steering not in get_args(SteeringMode):
            raise InvalidInputError(f"unknown steering {steering!r}; use off, boost or filter")
        if rerank and self.reranker is None:
            raise ConfigError("reranking asked for, but no reranker is configured")
        candidates = limit
        if cap is not None:
            candidates = max(candidates * DIVERSITY_OVERFETCH, MIN_DIVERSITY_CANDIDATES)
        if rerank:
            candidates = max(candidates, cfg.rerank_candidates)
        return _Plan(mode, fusion, limit, candidates, neighbours, cap, rerank, steering)

    def _ranked(
        self, plan: _Plan, dense: list[float] | None, sparse: SparseVector | None, flt: Filter
    ) -> tuple[list[Hit], dict[str, float]]:
        """The ranked candidates (one engine query, or two fused here for weighted RRF) and
        the dense similarity of those the dense ranking scored."""
        mode = plan.mode
        if sparse is not None and not sparse.indices:  # only stopwords: nothing to match
            if mode == "lexical":
                return [], {}
            mode, sparse = "dense", None
        if mode == "hybrid" and plan.fusion == "weighted_rrf":
            return self._weighted(plan, dense, sparse, flt)
        hits = self.index.query(
            dense=dense,
            sparse=sparse,
            flt=flt,
            limit=plan.candidates,
            mode=mode,
            fusion="dbsf" if plan.fusion == "dbsf" else "rrf",
            prefetch_limit=self.settings.prefetch_limit,
            rrf_k=self.settings.rrf_k,
        )
        return hits, {h.id: h.score for h in hits} if mode == "dense" else {}

    def _steered(
        self,
        plan: _Plan,
        dense: list[float] | None,
        sparse: SparseVector | None,
        flt: Filter,
        steer: Steering,
    ) -> tuple[list[Hit], dict[str, float]]:
        """The ranked candidates with the steered documents' chunks first (``filter``) or
        their scores multiplied by ``search.steer_boost`` (``boost``), as :meth:`_ranked`."""
        if plan.steering == "filter":
            only = all_of(flt, Filter(must=[MatchAny(DOC_KEY, sorted(steer.doc_ids))]))
            assert only is not None
            first, similarity = self._ranked(plan, dense, sparse, only)
            seen = {h.id for h in first}
            rest, more = self._ranked(plan, dense, sparse, flt)
            return first + [h for h in rest if h.id not in seen], more | similarity
        wide = replace(plan, candidates=max(plan.candidates, MIN_STEER_CANDIDATES))
        factor = self.settings.steer_boost
        hits, similarity = self._ranked(wide, dense, sparse, flt)
        boosted = [
            Hit(h.id, _boost(h.score, factor), h.payload)
            if h.payload.get(DOC_KEY) in steer.doc_ids
            else h
            for h in hits
        ]
        boosted.sort(key=lambda h: -h.score)  # stable: ties keep the fused order
        return boosted[: plan.candidates], similarity

    def _weighted(
        self, plan: _Plan, dense: list[float] | None, sparse: SparseVector | None, flt: Filter
    ) -> tuple[list[Hit], dict[str, float]]:
        # The index interface fuses without weights, so fetch both rankings and fuse here.
        size = prefetch_size(plan.candidates, self.settings.prefetch_limit)
        rankings: list[list[Hit]] = [
            self.index.query(dense=dense, sparse=None, flt=flt, limit=size, mode="dense"),
            self.index.query(dense=None, sparse=sparse, flt=flt, limit=size, mode="lexical"),
        ]
        fused = weighted_rrf(
            [[h.id for h in r] for r in rankings],
            rrf_weights(self.settings.dense_weight),
            k=self.settings.rrf_k,
        )
        by_id = {h.id: h for r in rankings for h in r}
        similarity = {h.id: h.score for h in rankings[0]}
        return [
            Hit(i, score, by_id[i].payload) for i, score in fused[: plan.candidates]
        ], similarity

    def _readable(self, principal: Principal, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` minus any the principal may not read (there should be none)."""
        allowed = [h for h in hits if can_read(principal, h.payload)]
        if len(allowed) != len(hits):
            # The engine returned what its filter should have excluded: keep it out, and say so.
            log.error(
                "search.acl_violation",
                dropped=len(hits) - len(allowed),
                backend=self.index.name,
                tenant=principal.tenant,
            )
        return allowed

    def _expand(
        self, hits: list[RetrievedChunk], n: int, flt: Filter, principal: Principal
    ) -> list[RetrievedChunk]:
        spans = neighbour_spans(hits, n)
        # The same filter as the ranked query: a neighbour is fetched only if readable.
        wanted = all_of(flt, spans_filter(spans))
        found = list(self.index.scroll(wanted, limit=sum(s.size for s in spans)))
        fetched = [RetrievedChunk.from_hit(h) for h in self._readable(principal, found)]
        return expand(hits, fetched, spans)


def _check_query(query: str) -> str:
    text = query.strip()
    if not text:
        raise InvalidInputError("the query is empty; type what you are looking for")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInputError(
            f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    return text


def _boost(score: float, factor: float) -> float:
    """``score`` moved up by ``factor``: multiplied when positive, divided when negative
    (a cosine similarity can be)."""
    return score * factor if score >= 0 else score / factor


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
