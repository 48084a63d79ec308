"""Prometheus metrics: requests by route template and status, latency, ingest counters, index size.

Each app has its own registry (no global state, so tests can build many apps).
``GET /metrics`` serves it in the Prometheus text format, unauthenticated like
the health routes: it carries counts and timings, never document text or keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "deepwell_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "deepwell_http_request_duration_seconds",
            "Time from request to the end of the response (streams included), by route.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingest_documents = Counter(
            "deepwell_ingest_documents_total",
            "Documents processed by API ingest jobs, by outcome.",
            ("status",),
            registry=self.registry,
        )
        self.ingest_chunks = Counter(
            "deepwell_ingest_chunks_total",
            "Chunks written by API ingest jobs.",
            registry=self.registry,
        )
        self.ingest_failures = Counter(
            "deepwell_ingest_failures_total",
            "Documents that failed in API ingest jobs.",
            registry=self.registry,
        )
        self.index_points = Gauge(
            "deepwell_index_points",
            "Points (chunks) in the vector index.",
            registry=self.registry,
        )
        self.jobs_queued = Gauge(
            "deepwell_ingest_jobs_queued",
            "Ingest jobs waiting for the worker.",
            registry=self.registry,
        )

    def watch_index(self, count: Callable[[], int]) -> None:
        """Read the index size at every scrape."""
        self.index_points.set_function(lambda: float(count()))

    def watch_queue(self, queued: Callable[[], int]) -> None:
        self.jobs_queued.set_function(lambda: float(queued()))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (``/v1/jobs/{job_id}``).

    ``metrics`` finds the app's collectors for a request (they are built in the lifespan).

    Requests that match no route are counted as ``unmatched``, so scanning for paths
    cannot grow the label set.
    """

    def __init__(self, app: ASGIApp, metrics: Callable[[Scope], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics(scope) if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _template(scope)
            method = str(scope["method"])
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Before routing (e.g. a 413 sent by the body limit): find the template ourselves.
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match == Match.FULL and isinstance(getattr(candidate, "path", None), str):
            return str(candidate.path)
    return "unmatched"
