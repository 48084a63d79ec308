"""Simulated ingest throughput of N Celery workers (1..64), next to the measured points.

Run: ``.venv/bin/python -m bench.queue_sim [--measured FILE] [--docs N] [--shards 1,4]``
after ``python -m bench.queue_throughput`` (which writes FILE).

A discrete-event simulation of the queue. N workers take documents in order; each
document costs its measured stage seconds from the N=1 run (cycled over a corpus of
``--docs``) in three steps, as the task runs them:

1. parse + chunk + clean: one thread, so at most one core;
2. embed: onnxruntime on ``T`` threads (the N=1 run's ``threads_per_worker``), so
   ``embed_s × T`` core-seconds at up to ``T`` cores;
3. the index write, serialized on one writer per shard (``S`` shards, document ``i``
   on shard ``i % S``); the worker waits for it.

Steps 1-2 of all busy workers share ``--cores`` cores (processor sharing, water-filled
under each step's thread cap, re-evaluated at every event). ``inf`` cores means one
machine per worker (each as fast as the N=1 run). The write cost is the measured
per-worker embedded write unless ``--write-s`` sets one (e.g. a Qdrant server's upsert
latency per document).

Printed with the curve: the CPU ceiling ``cores / core_s`` docs/s and the writer
ceiling ``S / write_s`` docs/s; the curve flattens at the lower of the two.
"""

from __future__ import annotations

import argparse
import heapq
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COUNTS = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class Doc:
    parse_s: float  # parse + chunk + clean, one core
    embed_core_s: float  # embed × threads
    threads: int
    write_s: float

    @property
    def core_s(self) -> float:
        return self.parse_s + self.embed_core_s


def _share(caps: dict[int, float], cores: float) -> dict[int, float]:
    """Water-filling: ``cores`` split evenly among workers, none above its cap."""
    rates: dict[int, float] = {}
    left = dict(caps)
    pool = cores
    while left:
        even = pool / len(left)
        capped = {w: c for w, c in left.items() if c <= even}
        if not capped:
            rates |= dict.fromkeys(left, even)
            break
        for w, c in capped.items():
            rates[w] = c
            pool -= c
            del left[w]
    return rates


def simulate(docs: list[Doc], workers: int, cores: float, shards: int) -> float:
    """Docs/s of ``workers`` workers over ``docs`` on ``cores`` (may be inf) and ``shards``."""
    # worker → [core-seconds left in this step, step (0 parse, 1 embed), doc]
    busy: dict[int, list[Any]] = {}
    shard_free = [0.0] * shards
    writes: list[tuple[float, int]] = []  # (write done at, worker)
    now, nxt, done = 0.0, 0, 0

    def take(w: int) -> None:
        nonlocal nxt
        if nxt < len(docs):
            busy[w] = [docs[nxt].parse_s, 0, nxt]
            nxt += 1

    def cap(w: int) -> float:
        return 1.0 if busy[w][1] == 0 else float(docs[busy[w][2]].threads)

    for w in range(workers):
        take(w)
    while done < len(docs):
        rates = _share({w: cap(w) for w in busy}, cores) if busy else {}
        t_cpu = min((now + busy[w][0] / rates[w] for w in busy), default=float("inf"))
        t_write = writes[0][0] if writes else float("inf")
        t = min(t_cpu, t_write)
        for w, state in busy.items():
            state[0] -= (t - now) * rates[w]
        now = t
        for w in [w for w, s in busy.items() if s[0] <= 1e-9]:
            _, step, i = busy[w]
            if step == 0 and docs[i].embed_core_s > 0:
                busy[w] = [docs[i].embed_core_s, 1, i]
                continue
            del busy[w]
            shard = i % shards
            shard_free[shard] = max(now, shard_free[shard]) + docs[i].write_s
            heapq.heappush(writes, (shard_free[shard], w))
        while writes and writes[0][0] <= now + 1e-12:
            _, w = heapq.heappop(writes)
            done += 1
            take(w)
    return len(docs) / now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--measured", type=Path, default=Path(".deepwell/bench/queue_throughput.json")
    )
    parser.add_argument("--docs", type=int, default=2000, help="simulated corpus size")
    parser.add_argument("--cores", type=float, help="CPU cores (default: the measured machine's)")
    parser.add_argument("--shards", default="1,4", help="index writer shards to simulate")
    parser.add_argument("--write-s", type=float, help="per-document write seconds (override)")
    args = parser.parse_args(argv)

    data: dict[str, Any] = json.loads(args.measured.read_text())
    runs = {r["workers"]: r for r in data["runs"]}
    base = runs[min(runs)]
    threads = int(base["threads_per_worker"])
    sample = [
        Doc(
            parse_s=d["parse"] + d["chunk"] + d["clean"],
            embed_core_s=d["embed"] * threads,
            threads=threads,
            write_s=args.write_s if args.write_s is not None else d["write"],
        )
        for d in base["per_doc"]
    ]
    docs = [sample[i % len(sample)] for i in range(args.docs)]
    cores = args.cores or float(data["cores"])
    core_s = sum(d.core_s for d in sample) / len(sample)
    write_s = sum(d.write_s for d in sample) / len(sample)
    shard_counts = [int(s) for s in args.shards.split(",")]
    print(
        f"from the N={base['workers']} run ({data['corpus']}): per document "
        f"{core_s:.3f} core-s (parse+chunk+clean, embed×{threads} threads), "
        f"write {write_s:.4f} s; simulated corpus {args.docs} docs"
    )
    print(
        f"ceilings: CPU {cores:g} cores / {core_s:.3f} = {cores / core_s:.2f} docs/s; "
        + ", ".join(f"writer ×{s} = {s / write_s:.1f} docs/s" for s in shard_counts)
    )
    cols = [(cores, s) for s in shard_counts] + [(float("inf"), s) for s in shard_counts]
    head = " ".join(f"{f'{c:g}c S={s}':>11}" for c, s in cols)
    print(f"{'N':>3} {head} {'measured':>9}   docs/s ('inf c': a machine per worker)")
    curves: dict[tuple[float, int], list[float]] = {c: [] for c in cols}
    for n in COUNTS:
        row = []
        for c in cols:
            tput = simulate(docs, n, c[0], c[1])
            curves[c].append(tput)
            row.append(f"{tput:>11.2f}")
        m = f"{runs[n]['docs_per_s']:>9.2f}" if n in runs else f"{'':>9}"
        print(f"{n:>3} {' '.join(row)} {m}")
    for c, values in curves.items():
        ceiling = min(c[0] / core_s, c[1] / write_s)
        bound = "CPU" if c[0] / core_s < c[1] / write_s else "writer"
        knee = next((n for n, v in zip(COUNTS, values, strict=True) if v >= 0.9 * ceiling), None)
        if knee is not None:
            print(
                f"{c[0]:g} cores, {c[1]} shard(s): {bound}-bound, ≥90% of {ceiling:.2f} docs/s "
                f"from N={knee}"
            )
        else:  # a worker alternates compute and write: demand meets the writer's capacity here
            cycle = sum(d.parse_s + d.embed_core_s / d.threads + d.write_s for d in sample)
            sat = c[1] * cycle / len(sample) / write_s
            print(
                f"{c[0]:g} cores, {c[1]} shard(s): {values[-1]:.2f} docs/s at N={COUNTS[-1]}, "
                f"still rising; demand reaches the {bound}'s {ceiling:.1f} docs/s at N≈{sat:.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
