"""Load on the HTTP service: throughput and latency of ``/v1/search`` and ``/v1/answer``.

Run from the repository root: ``.venv/bin/python -m bench.api_load [--clients N]
[--seconds S] [--docs D]``.

It starts ``deepwell serve`` on a free loopback port in a throwaway data directory
(extractive answers, so no LLM is in the measurement; rate limit off), takes the
first admin key the server prints, creates a writer key, uploads ``--docs`` small
Markdown documents through ``POST /v1/documents`` and waits for their ingest jobs.
Then, per route, ``--clients`` concurrent clients (httpx, asyncio, one keep-alive
connection each) send requests back to back for ``--seconds``: first ``/healthz``
(the baseline: HTTP, routing and JSON, no auth, no retrieval), then ``/v1/search``
and ``/v1/answer`` with questions drawn from the corpus. It prints requests per
second, p50/p95/p99 latency, errors, and each route's throughput as a share of the
baseline. Client and server share the machine's cores: on 2 cores the numbers are
a floor, not a capacity plan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from testkit import ServerError, deepwell_serve, serve_env

TOPICS = [
    ("storage", "The storage service keeps customer files in {n} regions and bills per gigabyte."),
    ("billing", "Invoices for account {n} are sent on the first working day of each month."),
    ("security", "Access badges for building {n} are renewed every {m} months by facilities."),
    ("travel", "Travel to site {n} needs approval from a director at least {m} days ahead."),
    ("hiring", "Team {n} plans to hire {m} engineers in the next quarter, mostly in Dublin."),
    ("outage", "Incident {n} took the cold storage tier down for {m} minutes last week."),
]


@dataclass
class Stats:
    route: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def server_env(root: Path) -> dict[str, str]:
    """Extractive answers, rate limits off, quiet logs, one ingest worker."""
    return serve_env(
        root / "data",
        DEEPWELL_LLM__BACKEND="extractive",
        DEEPWELL_API__RATE_LIMIT_PER_MINUTE="0",
        DEEPWELL_API__ANONYMOUS_RATE_LIMIT_PER_MINUTE="0",
        DEEPWELL_LOG_LEVEL="warning",
        DEEPWELL_INGEST__WORKERS="1",
    )


def corpus(n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """``n`` documents: (file name, Markdown text, a question it answers)."""
    docs = []
    for i in range(n):
        topic, template = TOPICS[i % len(TOPICS)]
        lines = [template.format(n=i + j, m=rng.randint(2, 30)) for j in range(6)]
        text = f"# {topic.title()} note {i}\n\n" + "\n\n".join(lines) + "\n"
        docs.append((f"{topic}-{i}.md", text, f"What does the {topic} note {i} say?"))
    return docs


def load_corpus(url: str, key: str, docs: list[tuple[str, str, str]]) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    jobs = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for name, text, _ in docs:
            r = client.post("/v1/documents", files={"file": (name, text.encode())})
            r.raise_for_status()
            jobs.append(r.json()["job_id"])
        for job in jobs:
            while (status := client.get(f"/v1/jobs/{job}").json()["status"]) in (
                "queued",
                "running",
            ):
                time.sleep(0.2)
            if status != "done":
                raise SystemExit(f"ingest job {job} ended {status}")
    return time.perf_counter() - started


async def hammer(
    url: str,
    key: str,
    route: str,
    bodies: list[dict[str, Any]],
    clients: int,
    seconds: float,
) -> Stats:
    stats = Stats(route)
    headers = {"Authorization": f"Bearer {key}"}
    stop = time.perf_counter() + seconds

    async def one(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    if route == "/healthz":
                        r = await client.get(route)
                    else:
                        r = await client.post(route, json=rng.choice(bodies))
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    stats.latencies.append(time.perf_counter() - t)
                else:
                    stats.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    stats.seconds = time.perf_counter() - started
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Duration per route.")
    parser.add_argument("--docs", type=int, default=30, help="Documents in the corpus.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="deepwell-load-"))
    try:
        with deepwell_serve(root, server_env(root), ready_path="/readyz") as served:
            run(served.url, served.admin_key(), args, rng)
    except ServerError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(url: str, admin: str, args: argparse.Namespace, rng: random.Random) -> None:
    """Create a writer key, load the corpus, hammer each route, print the table."""
    r = httpx.post(
        f"{url}/v1/keys",
        headers={"Authorization": f"Bearer {admin}"},
        json={"user": "bench", "role": "writer", "name": "bench.api_load"},
    )
    r.raise_for_status()
    key = r.json()["key"]
    docs = corpus(args.docs, rng)
    ingest_s = load_corpus(url, key, docs)
    print(f"corpus: {len(docs)} documents uploaded and ingested in {ingest_s:.1f} s")
    questions = [q for _, _, q in docs]
    plans: list[tuple[str, list[dict[str, Any]]]] = [
        ("/healthz", []),
        ("/v1/search", [{"query": q, "limit": 10} for q in questions]),
        ("/v1/answer", [{"question": q} for q in questions]),
    ]
    results = []
    for route, bodies in plans:
        # One short warm-up pass so connection set-up and first-call costs stay out.
        asyncio.run(hammer(url, key, route, bodies, args.clients, 1.0))
        results.append(asyncio.run(hammer(url, key, route, bodies, args.clients, args.seconds)))
    base = results[0].rps or float("nan")
    print(
        f"\n{args.clients} clients, {args.seconds:g} s per route, cores: {os.cpu_count()}, "
        "client and server on the same machine\n"
    )
    head = f"{'route':<12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
    print(head + f"{'requests':>9} {'errors':>7} {'vs /healthz':>12}")
    for s in results:
        print(
            f"{s.route:<12} {s.rps:8.1f} {s.pct(0.50):8.1f} {s.pct(0.95):8.1f} "
            f"{s.pct(0.99):8.1f} {len(s.latencies):9d} {s.errors:7d} {s.rps / base:11.2f}x"
        )
    if results[1].latencies:
        mean = statistics.fmean(results[1].latencies) * 1000
        print(f"\nmean /v1/search latency {mean:.1f} ms")


if __name__ == "__main__":
    main()
