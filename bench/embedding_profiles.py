"""Embedding profiles side by side: torch fp32, ONNX fp32, ONNX int8 — speed and retrieval quality.

Run: ``.venv/bin/python -m bench.embedding_profiles [--data DIR] [--max-chunks N]``.

One run measures, on real chunk texts of the SEC 10-Q filings (pypdfium2 text
layer, line-aware windows of ~800 characters — about 150 word-pieces, inside
MiniLM's 256-token window):

1. chunks/s of (a) ``DenseEmbedder`` (sentence-transformers on torch, batch 32),
   (b) ``OnnxEmbedder`` fp32, (c) ``OnnxEmbedder`` int8 — both as configured by
   default (every core, one text per run) — and two int8 variants: (d) on one
   thread, (e) in length-sorted batches of 32.
   The machine is shared and noisy, so the profiles are timed interleaved on the
   same blocks of chunks, in rotating order. Each timing records how long our
   threads waited for a CPU (``/proc/self/task/*/schedstat``); the most disturbed
   timings are repeated (within a time budget) and the least disturbed kept. Ratios are
   over the same blocks; own CPU milliseconds per chunk are printed as the cost
   least affected by contention.
2. cosine between (a) and the ONNX vectors of the same chunks (and int8 batched
   against one at a time).
3. retrieval: document-level hit@5 of exact dense search over the chunk matrix for
   the 195 questions of ``qna_data.csv``, (a) against (c), and overlap@10 of the
   top-10 chunk ids; query-embedding latency of each.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core  # first: telemetry and hub downloads off
from core import Settings, configure_logging
from core.models import configured_embedding
from retrieval.embedding import DenseEmbedder
from retrieval.onnx_embedding import OnnxEmbedder

_ = core

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sec-10q"
WINDOW = 800
BLOCK = 200
Vectors = NDArray[np.float32]


@dataclass
class Chunk:
    doc: str
    text: str


def chunk_pdfs(docs: Path, window: int = WINDOW) -> tuple[list[Chunk], int, float]:
    """Line-aware ~``window``-character windows of every PDF's text layer, per file."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no type information

    started = time.perf_counter()
    chunks: list[Chunk] = []
    pages = 0
    for path in sorted(docs.glob("*.pdf")):
        pdf = pdfium.PdfDocument(path)
        try:
            lines: list[str] = []
            for page in pdf:
                pages += 1
                lines += page.get_textpage().get_text_range().splitlines()
        finally:
            pdf.close()
        buf = ""
        for raw in lines:
            line = raw.strip()
            while len(line) > window:  # a run-on line (rare): hard split
                chunks.append(Chunk(path.name, line[:window]))
                line = line[window:]
            if buf and len(buf) + 1 + len(line) > window:
                chunks.append(Chunk(path.name, buf))
                buf = ""
            buf = f"{buf}\n{line}" if buf else line
        if buf.strip():
            chunks.append(Chunk(path.name, buf))
    return chunks, pages, time.perf_counter() - started


def sample(chunks: list[Chunk], limit: int) -> list[Chunk]:
    """An evenly strided subset, so every document keeps its share of chunks."""
    if limit <= 0 or len(chunks) <= limit:
        return chunks
    picks = np.linspace(0, len(chunks) - 1, limit).round().astype(int)
    return [chunks[i] for i in picks]


def run_and_wait_seconds() -> tuple[float, float]:
    """CPU time of this process's threads, and their time runnable but waiting for a CPU.

    From ``/proc/self/task/*/schedstat``: waiting is what other processes (or too
    many threads of ours) cost us, the direct measure of a disturbed timing.
    """
    run = wait = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # a thread ended between listing and reading
            continue
        run, wait = run + int(fields[0]), wait + int(fields[1])
    return run / 1e9, wait / 1e9


@dataclass
class Run:
    """One timing of one block: wall and own CPU seconds, and the share of runnable time waited."""

    seconds: float
    cpu: float
    waited: float


@dataclass
class Profile:
    name: str
    label: str
    embed: Callable[[Sequence[str]], Vectors]
    query: Callable[[str], list[float]]
    every: int = 1  # time this profile on every n-th block only (secondary rows)
    runs: dict[int, Run] = field(default_factory=dict)
    vectors: dict[int, Vectors] = field(default_factory=dict)

    def total(self, attr: str) -> float:
        return float(sum(getattr(r, attr) for r in self.runs.values()))


def time_block(profile: Profile, block: int, texts: list[str]) -> Run:
    """Embed ``block``; keep this timing unless an earlier one was less disturbed."""
    (run0, wait0), wall = run_and_wait_seconds(), time.perf_counter()
    vecs = profile.embed(texts)
    seconds = time.perf_counter() - wall
    run1, wait1 = run_and_wait_seconds()
    ran, waited = run1 - run0, wait1 - wait0
    run = Run(seconds, ran, waited / max(ran + waited, 1e-9))
    kept = profile.runs.get(block)
    if kept is None or run.waited < kept.waited:
        profile.runs[block] = run
    profile.vectors[block] = vecs
    return run


def ratio(p: Profile, base: Profile, block: int) -> float:
    """How many times faster ``p`` embedded ``block`` than ``base``."""
    return base.runs[block].seconds / p.runs[block].seconds


def run_timings(
    profiles: list[Profile], blocks: dict[int, list[str]], budget_s: float, disturbed: float
) -> int:
    """Every block through every profile, rotating the order, then re-time disturbed timings.

    A timing is disturbed when our threads spent more than ``disturbed`` of their
    runnable time waiting for a CPU; the most disturbed are repeated, within
    ``budget_s`` seconds, and each profile keeps its least disturbed timing of each block.
    """
    for b, texts in blocks.items():
        due = [p for p in profiles if b % p.every == 0]
        shift = b % len(due)
        for p in due[shift:] + due[:shift]:
            time_block(p, b, texts)
        worst = max(p.runs[b].waited for p in due)
        print(f" block {b + 1}/{len(blocks)} waited {worst:.0%}", end=";", flush=True)
    print()
    tries: dict[tuple[str, int], int] = defaultdict(int)
    retimed, deadline = 0, time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        # Most disturbed first; at most two more tries each, so one noisy block cannot eat
        # the budget.
        candidates = [(p, b) for p in profiles for b in p.runs if tries[p.name, b] < 2]
        if not candidates:
            break
        p, b = max(candidates, key=lambda pb: pb[0].runs[pb[1]].waited)
        share = p.runs[b].waited
        if share <= disturbed:
            break
        run = time_block(p, b, blocks[b])
        tries[p.name, b] += 1
        retimed += 1
        print(f"  ({p.name}) block {b + 1}: waited {share:.0%}, again: {run.waited:.0%}")
    return retimed


def cosines(p: Profile, q: Profile) -> Vectors:
    """Row-wise cosine of two profiles' vectors on the blocks both embedded."""
    shared = sorted(set(p.vectors) & set(q.vectors))
    a = np.concatenate([p.vectors[b] for b in shared])
    b = np.concatenate([q.vectors[b] for b in shared])
    return np.asarray(np.einsum("ij,ij->i", a, b), dtype=np.float32)


def source_patterns(cell: str) -> list[str]:
    """``Source Docs`` holds one or more globs (``*AAPL*``, ``*2023 Q3 MSFT*``)."""
    return [p.strip().lower() for p in re.split(r"[,;\n]", cell) if p.strip()]


def retrieval_scores(
    matrix: Vectors, queries: Vectors, docs: list[str], patterns: list[list[str]]
) -> tuple[list[bool], NDArray[np.int64]]:
    """Document-level hit@5 per question, and each question's top-10 chunk ids."""
    scores = queries @ matrix.T
    top10 = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    hits = [
        any(fnmatch.fnmatch(docs[i].lower(), pat) for i in row[:5] for pat in pats)
        for row, pats in zip(top10, patterns, strict=True)
    ]
    return hits, top10


def query_vectors(profile: Profile, questions: list[str]) -> tuple[Vectors, float]:
    """One ``embed_query`` per question, as search does; returns vectors and p50 ms."""
    out, took = [], []
    for q in questions:
        started = time.perf_counter()
        out.append(profile.query(q))
        took.append((time.perf_counter() - started) * 1000)
    return np.asarray(out, dtype=np.float32), statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="sec-10q folder")
    parser.add_argument("--max-chunks", type=int, default=2000, help="0: every chunk")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    parser.add_argument(
        "--retime-budget", type=float, default=45.0, help="seconds for re-timing disturbed blocks"
    )
    parser.add_argument(
        "--disturbed", type=float, default=0.1, help="waited share that calls for a re-time"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="ONNX export cache")
    args = parser.parse_args()
    configure_logging("warning")

    all_chunks, pages, extract_s = chunk_pdfs(args.data / "docs")
    chunks = sample(all_chunks, args.max_chunks)
    texts = [c.text for c in chunks]
    print(
        f"corpus: {pages} pages -> {len(all_chunks)} chunks in {extract_s:.1f}s; "
        f"using {len(chunks)} (mean {np.mean([len(t) for t in texts]):.0f} chars) "
        f"from {len({c.doc for c in chunks})} files; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}"
    )

    model = configured_embedding(Settings())
    torch_emb = DenseEmbedder(model, batch_size=32)
    started = time.perf_counter()
    torch_emb.warm_up()
    print(f"torch model loaded in {time.perf_counter() - started:.1f}s")
    with tempfile.TemporaryDirectory(prefix="deepwell-onnx-") as tmp:
        cache = args.cache_dir or Path(tmp)
        profiles = [
            Profile("a", "torch fp32, batch 32", torch_emb.embed_documents, torch_emb.embed_query)
        ]
        # name, quantize, threads, batch size, every n-th block (secondary rows on half)
        for name, quantize, threads, batch, every in (
            ("b", False, args.threads, 1, 2),
            ("c", True, args.threads, 1, 1),
            ("d", True, 1, 1, 2),
            ("e", True, args.threads, 32, 2),
        ):
            emb = OnnxEmbedder(
                model, cache_dir=cache, quantize=quantize, threads=threads, batch_size=batch
            )
            started = time.perf_counter()
            emb.warm_up()
            label = f"onnx {emb.profile[5:]}, {emb.threads}t, batch {batch}"
            print(
                f"{label}: export (first of its kind) + load {time.perf_counter() - started:.1f}s"
            )
            profiles.append(Profile(name, label, emb.embed_documents, emb.embed_query, every))
        for p in profiles:  # first calls allocate; keep them out of the timings
            p.embed(texts[:8])
        blocks = {i: texts[s : s + BLOCK] for i, s in enumerate(range(0, len(texts), BLOCK))}
        print(f"timing {len(blocks)} blocks of {BLOCK} (b, d, e on every other block)")
        retimed = run_timings(profiles, blocks, args.retime_budget, args.disturbed)
        report_speed(profiles, blocks, retimed)

        named = {p.name: p for p in profiles}
        print("\ncosine between vectors of the same chunks")
        for x, y in (("a", "b"), ("a", "c"), ("a", "e"), ("c", "e")):
            cos = cosines(named[x], named[y])
            print(
                f"  ({x}) vs ({y}): mean {cos.mean():.5f}  min {cos.min():.5f}  "
                f"p1 {np.percentile(cos, 1):.5f}  (n={cos.size})"
            )
        base, fast = named["a"], named["c"]
        mat_a = np.concatenate([base.vectors[b] for b in blocks])
        mat_c = np.concatenate([fast.vectors[b] for b in blocks])
        report_retrieval(args.data / "qna_data.csv", chunks, base, fast, mat_a, mat_c)


def report_speed(profiles: list[Profile], blocks: dict[int, list[str]], retimed: int) -> None:
    base = profiles[0]
    print(
        f"\n{'profile':30s} {'chunks/s':>8s} {'vs (a)':>7s} {'per-block median (range)':>25s} "
        f"{'cpu/wall':>8s} {'cpu ms/chunk':>12s} {'waited':>6s}"
    )
    for p in profiles:
        n = sum(len(blocks[b]) for b in p.runs)
        same = sum(base.runs[b].seconds for b in p.runs) / p.total("seconds")
        per_block = [ratio(p, base, b) for b in p.runs]
        spread = f"{statistics.median(per_block):.2f}x ({min(per_block):.2f}-{max(per_block):.2f})"
        waited = statistics.mean(r.waited for r in p.runs.values())
        print(
            f"({p.name}) {p.label:26s} {n / p.total('seconds'):8.1f} {same:6.2f}x {spread:>25s} "
            f"{p.total('cpu') / p.total('seconds'):8.2f} {1000 * p.total('cpu') / n:12.1f} "
            f"{waited:6.0%}"
        )
    print(
        "vs (a): (a)'s time over this profile's time on the same blocks. cpu ms/chunk: own "
        "CPU time (what contention changes least). waited: share of our threads' runnable "
        f"time spent waiting for a CPU (mean of kept timings; {retimed} re-timed)."
    )


def report_retrieval(
    qna: Path, chunks: list[Chunk], base: Profile, fast: Profile, mat_a: Vectors, mat_c: Vectors
) -> None:
    with qna.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    questions = [r["Question"] for r in rows]
    patterns = [source_patterns(r["Source Docs"]) for r in rows]
    docs = [c.doc for c in chunks]
    q_a, p50_a = query_vectors(base, questions)
    q_c, p50_c = query_vectors(fast, questions)
    hits_a, top_a = retrieval_scores(mat_a, q_a, docs, patterns)
    hits_c, top_c = retrieval_scores(mat_c, q_c, docs, patterns)
    overlap = [len(set(a) & set(c)) / 10 for a, c in zip(top_a, top_c, strict=True)]
    cos_q = np.einsum("ij,ij->i", q_a, q_c)
    print(f"\nretrieval, {len(rows)} questions, exact cosine over {len(chunks)} chunks")
    print(f"  hit@5 (document level)  torch {np.mean(hits_a):.3f}   int8 {np.mean(hits_c):.3f}")
    by_type: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for row, a, c in zip(rows, hits_a, hits_c, strict=True):
        by_type[row["Question Type"]].append((a, c))
    for kind, pairs in sorted(by_type.items()):
        a_rate = np.mean([a for a, _ in pairs])
        c_rate = np.mean([c for _, c in pairs])
        print(f"    {kind:22s} n={len(pairs):3d}  torch {a_rate:.3f}   int8 {c_rate:.3f}")
    flips = sum(a != c for a, c in zip(hits_a, hits_c, strict=True))
    print(f"  questions whose hit differs: {flips}")
    print(f"  overlap@10 of top-10 chunk ids: mean {np.mean(overlap):.3f}  min {min(overlap):.1f}")
    print(f"  query vectors cosine torch-int8: mean {cos_q.mean():.5f}  min {cos_q.min():.5f}")
    print(f"  embed_query p50: torch {p50_a:.1f} ms   int8 {p50_c:.1f} ms")


if __name__ == "__main__":
    main()
