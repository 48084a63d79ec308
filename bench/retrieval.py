"""Retrieval quality and latency on the SEC 10-Q questions: deepwell's search modes vs llama-index.

Run from the repository root: ``.venv/bin/python -m bench.retrieval [--data-dir DIR] [--docs DIR]
[--pdf-parser pdfium] [--ingest-into DIR] [--skip-llama-index]`` (as ``python bench/retrieval.py``
the file ``bench/ingest.py`` would shadow the ``ingest`` package).

For each of the 195 questions, the reference documents are the filings its
``Source Docs`` pattern names (``*AAPL*`` → four filings, ``*2023 Q3 AAPL*`` → one).
Per system, over the questions:

- hit@5: some chunk among the first 5 comes from a reference document;
- recall@10: the share of the reference documents found among the first 10 chunks;
- latency p50/p95 of one query, end to end (query embedding included);
- figures: of the questions whose reference answer states a figure of 3+ significant digits
  (``eval.metrics.figure_recall`` is not None), how many have one of those figures
  (``eval.metrics.figure_match``: to its 3 leading digits) in the top-5 chunks, the top-10
  chunks and the context the answer path chooses from its ``llm.context_candidates``
  (``Answerer.select_context``: re-scored when ``llm.context_rescore`` is on, packed into
  ``llm.context_tokens`` or what ``llm.context_window``/``llm.max_tokens`` leave; tokens
  counted by the local model's tokenizer, else estimated as the extractive backend does;
  ``--context-tokens``, ``--context-candidates``, ``--no-rescore``, ``--no-windows``,
  ``--context-window`` and
  ``--max-tokens`` size it otherwise, e.g. like the quick evaluation's 1,024 and 64);
- period steering (issue 14): of the questions whose ``Source Docs`` is one filing and that
  name its issuer and a quarter or fiscal period ("Q3 2023", "first quarter of 2023",
  "fiscal 2024") or "latest"/"most recent", how many have that exact filing in the top-5,
  for each system; the default hybrid search runs with ``search.steering`` off, boost and
  filter side by side.

deepwell searches one index built by its own pipeline (``--data-dir``: an already
ingested data directory, copied, never written; otherwise the corpus is ingested
into a temporary one, about 5 minutes on 2 cores, or into ``--ingest-into`` to keep it for
later ``--data-dir`` runs). ``--pdf-parser`` chooses ``ingest.pdf_parser`` for that ingest, so
each parser is measured on a data dir of its own. The llama-index default is
``SimpleDirectoryReader`` + ``VectorStoreIndex`` (qdrant-client local mode, the same
MiniLM model) + ``as_retriever(similarity_top_k=10)``, as a user would write it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Chunk, Principal, Settings, configure_logging
from core.db import make_engine
from core.models import configured_embedding
from core.settings import SearchSettings
from eval.datasets import file_name, load_sec_10q
from eval.metrics import figure_match, figure_recall, hit_at_k, percentile, recall_at_k
from ingest.pipeline import Ingestor
from ingest.registry import Registry
from ingest.sources import FolderSource
from retrieval.answer import Answerer
from retrieval.embedding import Embedder, make_embedder
from retrieval.index import EdgeIndex
from retrieval.llm import LLM
from retrieval.llm.extractive import ExtractiveLLM
from retrieval.llm.local import LocalLLM
from retrieval.search import Searcher
from retrieval.types import RetrievedChunk

TENANT = "default"
READER = Principal(user="bench", tenant=TENANT)


@dataclass(frozen=True)
class Question:
    text: str
    refs: frozenset[str]
    kind: str
    reference: str = ""

    @property
    def has_figure(self) -> bool:
        """The reference answer states a figure of 3+ significant digits."""
        return figure_recall("", self.reference) is not None


#: The issuers of the SEC set, as questions name them (only to pick the steering questions).
ISSUER_NAMES = {
    "AAPL": "apple",
    "AMZN": "amazon",
    "INTC": "intel",
    "MSFT": "microsoft",
    "NVDA": "nvidia",
}
NAMED_PERIOD = re.compile(
    r"\bQ[1-4]\b|\b(?:first|second|third|fourth)\s+quarter\b|\bfiscal\b|\bFY\s*\d", re.IGNORECASE
)
LATEST = re.compile(r"\b(?:latest|most\s+recent)\b", re.IGNORECASE)


def steering_kind(q: Question) -> str | None:
    """ "period" or "latest" for a question about one filing that names its issuer and a
    quarter or fiscal period, or asks for the latest; None for the others."""
    if len(q.refs) != 1:
        return None
    ticker = next(iter(q.refs)).rsplit(".", 1)[0].split()[-1]
    if ISSUER_NAMES.get(ticker, "\0") not in q.text.lower() and ticker not in q.text:
        return None
    if NAMED_PERIOD.search(q.text):
        return "period"
    return "latest" if LATEST.search(q.text) else None


@dataclass
class Run:
    """One system's ranked file names per question, and query latencies (ms).

    ``texts`` holds the texts of the ranked chunks and ``context`` the packed context,
    per question, for the figure metric.
    """

    name: str
    ranked: list[list[str]] = field(default_factory=list)
    texts: list[list[str]] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    index_ms: list[float] = field(default_factory=list)
    note: str = ""


def load_questions(csv_path: Path, docs: Path) -> list[Question]:
    """The questions with their reference file names; a pattern naming no file is an error."""
    names = sorted(p.name for p in docs.iterdir() if p.is_file())
    out = []
    for item in load_sec_10q(csv_path).items:
        refs = item.reference_docs(names)
        if not refs:
            sys.exit(f"{csv_path}: {item.sources!r} names no file in {docs}")
        out.append(Question(item.question, refs, item.question_type, item.reference))
    return out


@dataclass(frozen=True)
class Packer:
    """Chooses a question's context as the answer path does (``Answerer.select_context``:
    same candidates, re-scoring and budget), counting tokens with the local model's own
    tokenizer (its vocabulary only) when the settings' backend is ``local``."""

    answerer: Answerer
    tokenizer: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Packer:
        llm: LLM = ExtractiveLLM.from_settings(settings)
        tokenizer = "estimated"
        if settings.llm.backend == "local":
            llm, tokenizer = LocalLLM.from_settings(settings), f"{settings.llm.model} tokenizer"
        return cls(Answerer(_NoSearch(), llm, settings), tokenizer)

    @property
    def candidates(self) -> int:
        """How many chunks the answer path retrieves to choose from."""
        return self.answerer.retrieve_limit or 10

    def __call__(self, question: str, chunks: Sequence[RetrievedChunk]) -> str:
        return self.answerer.select_context(question, chunks).text


class _NoSearch:
    """The Answerer's searcher, never called: the bench searches itself."""

    def search(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def steering_hits(run: Run, questions: Sequence[Question]) -> dict[str, tuple[int, int]]:
    """Per steering kind: (questions, how many have their one filing in the top-5)."""
    out: dict[str, tuple[int, int]] = {}
    for q, ranked in zip(questions, run.ranked, strict=True):
        kind = steering_kind(q)
        if kind is None:
            continue
        total, hits = out.get(kind, (0, 0))
        out[kind] = (total + 1, hits + int(bool(q.refs & set(ranked[:5]))))
    return out


def figure_hits(run: Run, questions: Sequence[Question]) -> tuple[int, int, int, int]:
    """Figure questions, and how many have a reference figure in the top-5, the top-10
    chunks and the packed context."""
    top5 = top10 = context = total = 0
    for q, texts, packed in zip(questions, run.texts, run.context, strict=True):
        if not q.has_figure:
            continue
        total += 1
        top5 += figure_match("\n".join(texts[:5]), q.reference)
        top10 += figure_match("\n".join(texts[:10]), q.reference)
        context += figure_match(packed, q.reference)
    return total, top5, top10, context


file_of = file_name
hit_at = hit_at_k
recall_at = recall_at_k
pct = percentile


# --- deepwell ----------------------------------------------------------------------------


def open_deepwell(args: argparse.Namespace, work: Path, embedder: Embedder) -> EdgeIndex:
    """The index to search: a copy of ``--data-dir``'s, or a fresh ingest of ``--docs``
    (into ``--ingest-into`` when given, with ``--pdf-parser``)."""
    settings = Settings(data_dir=args.ingest_into or work / "deepwell")
    if args.pdf_parser is not None:
        parser = settings.ingest.model_copy(update={"pdf_parser": args.pdf_parser})
        settings = settings.model_copy(update={"ingest": parser})
    if args.data_dir is not None:
        source = Settings(data_dir=args.data_dir).index_path
        if not source.is_dir():
            sys.exit(f"no index at {source}")
        shutil.copytree(source, settings.index_path)  # the engine writes to what it opens
        (settings.index_path / f".{settings.index.collection}.lock").unlink(missing_ok=True)
        return EdgeIndex(settings.index_path, settings.index.collection)
    index = EdgeIndex(settings.index_path, settings.index.collection)
    index.ensure_collection(embedder.dim)
    registry = Registry(make_engine(settings))
    registry.create_schema()
    started = time.perf_counter()
    with Ingestor(settings, index=index, registry=registry, embedder=embedder) as ingestor:
        summary = ingestor.run(FolderSource(args.docs, TENANT, ["*"]))
    index.optimize()
    failed = summary.by_status("failed")
    print(
        f"ingested (pdf_parser={settings.ingest.pdf_parser}) {summary.chunks} chunks of "
        f"{len(summary.by_status('indexed'))} files in "
        f"{time.perf_counter() - started:.0f} s; failed: {[o.source_uri for o in failed]}",
        flush=True,
    )
    return index


def run_deepwell(
    name: str, searcher: Searcher, questions: Sequence[Question], pack: Packer, **options: Any
) -> Run:
    run = Run(name)
    searcher.search("warm-up query", READER, **options)
    for q in questions:
        started = time.perf_counter()
        result = searcher.search(q.text, READER, limit=10, **options)
        run.latency_ms.append((time.perf_counter() - started) * 1000)
        run.index_ms.append(result.timings["index_ms"])
        run.ranked.append([file_of(c.source_uri) for c in result.chunks])
        run.texts.append([c.text for c in result.chunks])
        if pack.candidates != 10:  # the answer path chooses from its own number of candidates
            result = searcher.search(q.text, READER, limit=pack.candidates, **options)
        run.context.append(pack(q.text, result.chunks))
    return run


# --- llama-index -------------------------------------------------------------------------


def run_llama_index(
    docs: Path, model_dir: Path, questions: Sequence[Question], pack: Packer
) -> Run:
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    started = time.perf_counter()
    documents = SimpleDirectoryReader(str(docs), raise_on_error=False).load_data()
    client = QdrantClient(location=":memory:")
    store = QdrantVectorStore(client=client, collection_name="bench")
    embed = HuggingFaceEmbedding(model_name=str(model_dir), device="cpu")
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed,
    )
    files = {d.metadata.get("file_name") for d in documents}
    count = client.count("bench").count
    run = Run(
        "llama-index default (dense)",
        note=f"indexed {count} chunks of {len(files)} files in "
        f"{time.perf_counter() - started:.0f} s",
    )
    retriever = index.as_retriever(similarity_top_k=10)
    retriever.retrieve("warm-up query")
    for q in questions:
        t = time.perf_counter()
        nodes = retriever.retrieve(q.text)
        run.latency_ms.append((time.perf_counter() - t) * 1000)
        run.ranked.append([str(n.node.metadata.get("file_name", "")) for n in nodes])
        chunks = [_as_chunk(n) for n in nodes]
        run.texts.append([c.text for c in chunks])
        run.context.append(pack(q.text, chunks))
    client.close()
    return run


def _as_chunk(node: Any) -> RetrievedChunk:
    """A llama-index node as a retrieved chunk, so the same packing applies to it."""
    name = str(node.node.metadata.get("file_name", ""))
    page = node.node.metadata.get("page_label")
    record = Chunk(
        doc_id=name,
        chunk_index=0,
        text=node.node.get_content(),
        source_uri=name,
        page_start=int(page) if str(page).isdigit() else None,
    )
    return RetrievedChunk(id=node.node.node_id, score=float(node.score or 0.0), record=record)


# --- report ------------------------------------------------------------------------------


def report(runs: Sequence[Run], questions: Sequence[Question], context_note: str) -> None:
    kinds = sorted({q.kind for q in questions})
    width = max(44, *(len(run.name) + 2 for run in runs))
    head = f"{'system':{width}}{'hit@5':>7}{'rec@10':>8}{'p50 ms':>8}{'p95 ms':>8}{'index p50':>10}"
    short = {k: k.replace(" RAG", "").replace("Single-Doc ", "1doc ") for k in kinds}
    print(f"\n{len(questions)} questions; hit@5 by question type: " + ", ".join(short.values()))
    print(head + "".join(f"{short[k]:>20}" for k in kinds))
    for run in runs:
        hit = [hit_at(r, q.refs, 5) for r, q in zip(run.ranked, questions, strict=True)]
        rec = [recall_at(r, q.refs, 10) for r, q in zip(run.ranked, questions, strict=True)]
        by_kind = [
            statistics.mean(h for h, q in zip(hit, questions, strict=True) if q.kind == k)
            for k in kinds
        ]
        print(
            f"{run.name:{width}}{statistics.mean(hit):7.3f}{statistics.mean(rec):8.3f}"
            f"{pct(run.latency_ms, 0.5):8.1f}{pct(run.latency_ms, 0.95):8.1f}"
            + (f"{pct(run.index_ms, 0.5):10.1f}" if run.index_ms else f"{'-':>10}")
            + "".join(f"{v:20.3f}" for v in by_kind)
        )
    print(
        f"\nreference figure (3+ digits) found in: top-5 chunks, top-10 chunks, packed context "
        f"({context_note})"
    )
    for run in runs:
        total, top5, top10, context = figure_hits(run, questions)
        cells = "".join(f"{_share(n, total):>16}" for n in (top5, top10, context))
        print(f"{run.name:{width}}{cells}")
    kinds = ("period", "latest")
    print(
        "\nperiod steering: questions on one filing naming its issuer and a quarter/period "
        "(or latest) with that filing in the top-5"
    )
    print(f"{'system':{width}}" + "".join(f"{k:>16}" for k in (*kinds, "both")))
    for run in runs:
        found = steering_hits(run, questions)
        both = tuple(sum(found.get(k, (0, 0))[i] for k in kinds) for i in (0, 1))
        cells = [found.get(k, (0, 0)) for k in kinds] + [both]
        print(f"{run.name:{width}}" + "".join(f"{_share(n, total):>16}" for total, n in cells))
    for run in runs:
        if run.note:
            print(f"{run.name}: {run.note}")
    print("latency: one query end to end, query embedding included; index p50: the engine alone")


def _share(n: int, total: int) -> str:
    return f"{n}/{total} {n / total:.3f}" if total else "-"


def dump(path: Path, runs: Sequence[Run], questions: Sequence[Question]) -> None:
    """Per-question rankings, for looking into where systems differ."""
    rows = [
        {"question": q.text, "refs": sorted(q.refs), "kind": q.kind, "reference": q.reference}
        | {run.name: run.ranked[i] for run in runs}
        | {
            f"{run.name} figure in context": figure_match(run.context[i], q.reference)
            for run in runs
        }
        for i, q in enumerate(questions)
    ]
    path.write_text(json.dumps(rows, indent=1))


def main() -> None:
    settings = Settings()
    sec = settings.eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=Path, default=sec / "docs")
    ap.add_argument("--questions", type=Path, default=sec / "qna_data.csv")
    ap.add_argument("--data-dir", type=Path, help="An ingested deepwell data dir (only read).")
    ap.add_argument(
        "--ingest-into", type=Path, help="Ingest --docs into this (new) data dir and keep it."
    )
    ap.add_argument(
        "--pdf-parser",
        choices=["unstructured", "pdfium"],
        help="ingest.pdf_parser of the ingest (default: settings').",
    )
    ap.add_argument(
        "--context-window",
        type=int,
        help="llm.context_window that sizes the packed context (default: settings').",
    )
    ap.add_argument(
        "--max-tokens",
        type=int,
        help="llm.max_tokens kept for the reply (default: settings'; the quick eval: 64).",
    )
    ap.add_argument(
        "--context-tokens",
        type=int,
        help="llm.context_tokens, the answer's passage budget (default: settings'; 0: what "
        "the window leaves).",
    )
    ap.add_argument(
        "--context-candidates", type=int, help="llm.context_candidates (default: settings')."
    )
    ap.add_argument(
        "--no-rescore", action="store_true", help="llm.context_rescore off: pack in rank order."
    )
    ap.add_argument(
        "--no-windows", action="store_true", help="llm.context_windows off: whole chunks."
    )
    ap.add_argument("--dense-weight", type=float, help="For the weighted_rrf row (settings').")
    ap.add_argument(
        "--steer-boost", type=float, help="search.steer_boost of the boost row (settings')."
    )
    ap.add_argument("--skip-llama-index", action="store_true")
    ap.add_argument("--dump", type=Path, help="Write per-question rankings (JSON) here.")
    ap.add_argument(
        "--threads", type=int, help="Embedding threads (deepwell's embedder; torch for both)."
    )
    args = ap.parse_args()
    configure_logging("warning")
    if not args.docs.is_dir() or not args.questions.is_file():
        sys.exit(f"no corpus at {args.docs} / {args.questions} (pass --docs, --questions)")
    if args.data_dir is not None and (args.ingest_into or args.pdf_parser):
        sys.exit(
            "--data-dir is searched as it is: --ingest-into and --pdf-parser need a fresh ingest"
        )
    if args.ingest_into is not None and args.ingest_into.exists():
        sys.exit(f"--ingest-into {args.ingest_into} exists (pass it as --data-dir to reuse it)")
    sizes: dict[str, int | bool | None] = {
        "context_window": args.context_window,
        "max_tokens": args.max_tokens,
    }
    sizes = {k: v for k, v in sizes.items() if v}
    if args.context_tokens is not None:
        sizes["context_tokens"] = args.context_tokens or None
    if args.context_candidates:
        sizes["context_candidates"] = args.context_candidates
    if args.no_rescore:
        sizes["context_rescore"] = False
    if args.no_windows:
        sizes["context_windows"] = False
    if sizes:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update=sizes)})
    pack = Packer.from_settings(settings)
    context_note = (
        f"llm.context_window={settings.llm.context_window}, llm.max_tokens="
        f"{settings.llm.max_tokens}, llm.context_tokens={settings.llm.context_tokens}, "
        f"{pack.candidates} candidates, re-scored: {settings.llm.context_rescore}, windows: "
        f"{settings.llm.context_windows}, tokens: "
        f"{pack.tokenizer}"
    )
    questions = load_questions(args.questions, args.docs)
    model = configured_embedding(settings)
    if args.threads:
        threads = settings.embedding.model_copy(update={"threads": args.threads})
        settings = settings.model_copy(update={"embedding": threads})
    embedder = make_embedder(settings, model)
    embedder.warm_up()
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-retrieval-"))
    runs: list[Run] = []
    try:
        index = open_deepwell(args, work, embedder)
        if args.threads:  # llama-index embeds with torch
            import torch

            torch.set_num_threads(args.threads)
        print(
            f"deepwell index: {index.describe()['points']} chunks; "
            f"query embedder: {embedder.describe()}",
            flush=True,
        )
        tuned = SearchSettings()
        if args.dense_weight is not None:
            tuned = tuned.model_copy(update={"dense_weight": args.dense_weight})
        if args.steer_boost is not None:
            tuned = tuned.model_copy(update={"steer_boost": args.steer_boost})
        searcher = Searcher(index, embedder, tuned)
        k60 = Searcher(index, embedder, SearchSettings(rrf_k=60))
        fusions: list[tuple[str, Searcher, dict[str, Any]]] = [
            (f"weighted_rrf dense={tuned.dense_weight}", searcher, {"fusion": "weighted_rrf"}),
            (f"rrf k={tuned.rrf_k}", searcher, {"fusion": "rrf"}),
            ("rrf k=60", k60, {"fusion": "rrf"}),
            ("dbsf", searcher, {"fusion": "dbsf"}),
        ]
        systems = [
            (
                f"deepwell hybrid {label}"
                + (
                    f" (default, steering {tuned.steering})"
                    if opts["fusion"] == tuned.fusion and engine is searcher
                    else ""
                ),
                engine,
                opts,
            )
            for label, engine, opts in fusions
        ]
        systems += [
            (
                f"deepwell hybrid default, steering {mode}"
                + (f" x{tuned.steer_boost:g}" if mode == "boost" else ""),
                searcher,
                {"steering": mode},
            )
            for mode in ("off", "boost", "filter")
            if mode != tuned.steering
        ]
        systems += [
            ("deepwell dense", searcher, {"mode": "dense"}),
            ("deepwell lexical", searcher, {"mode": "lexical"}),
            ("deepwell hybrid default, max 2 per doc", searcher, {"max_per_document": 2}),
        ]
        for name, engine, options in systems:
            runs.append(run_deepwell(name, engine, questions, pack, **options))
            print(f"{name}: done", flush=True)
        index.close()
        if not args.skip_llama_index:
            runs.append(run_llama_index(args.docs, model.path, questions, pack))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(runs, questions, context_note)
    if args.dump:
        dump(args.dump, runs, questions)


if __name__ == "__main__":
    main()
