"""Cited answers on SEC 10-Q figure questions: the previous configuration, the new default and
llama-index's default query engine side by side, in one run, with the same local model.

Run from the repository root on an ingested SEC 10-Q data directory (only read: its index is
copied)::

    .venv/bin/python -m bench.answers --data-dir DIR [--limit N] [--systems previous default
        llama-index] [--sample 40] [--llama-index-cache DIR] [--json FILE]

The questions: a fixed sample of the SEC questions whose reference answer states a figure of 3+
significant digits, stratified by question type and issuer (each stratum gets its share of
``--sample``, taken evenly spaced through it in file order; strata alternate in the list, so
``--limit 3`` spans the question types). The sample is printed first.

The systems, all with the default local GGUF (``llm.model``), the same thread count, context
window and reply limit:

- ``previous``: the answer settings before issue 14: the context filled from the top 10 in rank
  order up to what the window leaves (``llm.context_tokens`` None, 10 candidates, no
  re-scoring, whole chunks), search steering off, no relevance floor;
- ``default``: the settings as they ship;
- ``llama-index``: the answer path a user would otherwise write: ``SimpleDirectoryReader`` over
  the SEC PDFs, ``VectorStoreIndex`` (its default in-memory store and splitter) with the same
  MiniLM through ``HuggingFaceEmbedding`` from the local model directory, and
  ``LlamaCPP(model_path=<the same GGUF>)`` from llama-index-llms-llama-cpp (its prompt wrapped in
  the model's chatml template, temperature and reply limit as deepwell's), queried through
  ``index.as_query_engine(streaming=True)``. Its index is built once per run, or loaded from
  ``--llama-index-cache`` (built there when absent).

The systems answer question by question in turn (the order rotating), so a busy machine slows
them alike; each has a model of its own (the GGUF is mapped once), so what one read never
shortens another's prompt. Per system:

- in context: a reference figure (``eval.metrics.figure_match``: to its 3 leading digits) is in
  the passages the model read;
- figure: the answer states a reference figure; wrong: it states a figure (3+ digits, ``[n]``
  markers aside) and none is a reference figure; abstained: it says the passages do not hold
  the answer (deepwell's fixed sentence, or the like in other words);
- cited: the answer cites a passage with a valid ``[n]`` (llama-index's engine asks for none);
- prompt tokens (the model's own count), time to first token p50/p95 from the question being
  asked (retrieval and prompt reading included) to the first streamed word, decode tokens/s
  (p50, after the first token), total seconds per answer (p50) and all answers together.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import core  # noqa: F401  (first: telemetry off before third-party imports)
from core import Principal, Settings, configure_logging
from core.models import configured_embedding, configured_llm
from eval.datasets import load_sec_10q
from eval.metrics import figure_match, figure_recall, figures, percentile
from retrieval.llm.cpu_backend import load_cpu_backend
from retrieval.llm.prompts import is_no_answer

READER = Principal(user="bench", tenant="default")
SYSTEMS = ("previous", "default", "llama-index")

# An answer that says the passages do not hold what was asked, in the fixed sentence or in
# the words a model uses without one.
_ABSTAINS = re.compile(
    r"\b(?:do(?:es)?\s+not|doesn't|don't)\s+(?:contain|provide|include|mention|specify|state)"
    r"|\bnot\s+(?:provided|mentioned|specified|available|included|stated)\b"
    r"|\bno\s+(?:information|mention|data)\b|\bcannot\s+(?:be\s+)?(?:determine|answer|find)",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\]")
CHATML = "<|im_start|>{role}\n{content}<|im_end|>\n"
CHATML_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


@dataclass(frozen=True)
class Question:
    qid: int
    text: str
    reference: str
    kind: str
    issuer: str


@dataclass
class Row:
    """One system's answer to one question."""

    qid: int
    answer: str
    in_context: bool
    match: bool
    wrong: bool
    abstained: bool
    cited: bool | None
    prompt_tokens: int
    ttft_s: float | None
    decode_tps: float | None
    total_s: float


@dataclass
class Tally:
    name: str
    note: str = ""
    rows: list[Row] = field(default_factory=list)


# --- the questions -----------------------------------------------------------------------


def _issuer(sources: Sequence[str]) -> str:
    return sources[0].strip("*").split()[-1].removesuffix(".pdf") if sources else "?"


def load_questions(path: Path, n: int) -> list[Question]:
    """A sample of ``n`` figure questions stratified by question type and issuer.

    Each stratum gets its share (largest remainders), spread evenly through it in file order;
    the list then takes one question from each stratum in turn, type and issuer changing at
    every step.
    """
    strata: dict[tuple[str, str], list[Question]] = defaultdict(list)
    for i, item in enumerate(load_sec_10q(path).items):
        if figure_recall("", item.reference) is None:
            continue
        q = Question(i, item.question, item.reference, item.question_type, _issuer(item.sources))
        strata[(q.kind, q.issuer)].append(q)
    pool = sum(len(v) for v in strata.values())
    n = min(n, pool)
    exact = {k: n * len(v) / pool for k, v in strata.items()}
    share = {k: int(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (-(exact[k] - share[k]), k))[: n - sum(share.values())]:
        share[k] += 1
    picked = {
        k: [v[int((j + 0.5) * len(v) / share[k])] for j in range(share[k])]
        for k, v in strata.items()
    }
    # Strata in an order that changes type and issuer at every step: the i-th takes the
    # (i mod types)-th type and the (i mod issuers)-th issuer (all pairs when the counts are
    # coprime, as 3 and 5 are), the others after them.
    kinds = sorted({k for k, _ in strata})
    issuers = sorted({i for _, i in strata})
    walk = [(kinds[i % len(kinds)], issuers[i % len(issuers)]) for i in range(len(strata))]
    order = list(dict.fromkeys([k for k in walk if k in strata] + sorted(strata)))
    out: list[Question] = []
    for j in range(max(share.values(), default=0)):
        out += [picked[k][j] for k in order if j < len(picked[k])]
    return out


# --- scoring -----------------------------------------------------------------------------


def states_wrong_figure(answer: str, reference: str) -> bool:
    """The answer states a figure of 3+ digits and none of them is a reference figure."""
    stated = {f for f in figures(_MARKER.sub(" ", answer)) if len(f) >= 3}
    return bool(stated) and not figure_match(answer, reference)


def abstains(answer: str) -> bool:
    return is_no_answer(answer) or _ABSTAINS.search(answer) is not None


def score(
    q: Question,
    answer: str,
    context: str,
    *,
    cited: bool | None,
    prompt_tokens: int,
    ttft_s: float | None,
    decode_tps: float | None,
    total_s: float,
) -> Row:
    return Row(
        qid=q.qid,
        answer=answer,
        in_context=figure_match(context, q.reference),
        match=figure_match(answer, q.reference),
        wrong=states_wrong_figure(answer, q.reference) and not abstains(answer),
        abstained=abstains(answer),
        cited=cited,
        prompt_tokens=prompt_tokens,
        ttft_s=ttft_s,
        decode_tps=decode_tps,
        total_s=total_s,
    )


# --- deepwell ----------------------------------------------------------------------------


def previous_settings(settings: Settings) -> Settings:
    """The answer settings before issue 14: the window filled from the top 10 in rank order,
    whole chunks, no steering, no relevance floor. (The prompt and the figure checks are
    today's code for every preset.)"""
    llm = settings.llm.model_copy(
        update={
            "context_tokens": None,
            "context_candidates": 10,
            "context_rescore": False,
            "context_windows": False,
            "min_relevance": None,
        }
    )
    search = settings.search.model_copy(update={"steering": "off"})
    return settings.model_copy(update={"llm": llm, "search": search})


class Deepwell:
    """deepwell's answer path with one preset of settings, over a shared index and model."""

    def __init__(self, name: str, settings: Settings, index: Any, embedder: Any, llm: Any) -> None:
        from retrieval.answer import Answerer
        from retrieval.search import Searcher

        self.name = name
        self.searcher = Searcher.from_settings(settings, index, embedder)
        self.answerer = Answerer(self.searcher, llm, settings)

    def ask(self, q: Question) -> Row:
        started = time.perf_counter()
        first: float | None = None
        stream = self.answerer.answer(q.text, READER, stream=True)
        for event in stream:
            if event["type"] == "token" and first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        r = stream.result
        assert r is not None
        called = r.finish_reason != "none"
        decode = r.tokens_per_s if called else None
        return score(
            q,
            r.answer,
            r.context_text,
            cited=bool(r.citations),
            prompt_tokens=r.prompt_tokens,
            ttft_s=(first - started) if called and first is not None else None,
            decode_tps=decode,
            total_s=end - started,
        )


# --- llama-index -------------------------------------------------------------------------


def chatml_completion(completion: str) -> str:
    """A completion prompt in the Qwen chat template (what the model card shows)."""
    return (
        CHATML.format(role="system", content=CHATML_SYSTEM)
        + CHATML.format(role="user", content=completion)
        + "<|im_start|>assistant\n"
    )


class LlamaIndexDefault:
    """llama-index's default query engine over the SEC PDFs with the same MiniLM and GGUF."""

    name = "llama-index"

    def __init__(self, settings: Settings, docs: Path, cache: Path | None) -> None:
        from llama_index.core import (
            SimpleDirectoryReader,
            StorageContext,
            VectorStoreIndex,
            load_index_from_storage,
        )
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.llms.llama_cpp import LlamaCPP

        model = configured_llm(settings)
        assert model is not None
        embed = HuggingFaceEmbedding(
            model_name=str(configured_embedding(settings).path), device="cpu"
        )
        started = time.perf_counter()
        if cache is not None and (cache / "docstore.json").is_file():
            storage = StorageContext.from_defaults(persist_dir=str(cache))
            self.index = load_index_from_storage(storage, embed_model=embed)
            how = f"loaded from {cache}"
        else:
            documents = SimpleDirectoryReader(str(docs), raise_on_error=False).load_data()
            self.index = VectorStoreIndex.from_documents(documents, embed_model=embed)
            if cache is not None:
                self.index.storage_context.persist(persist_dir=str(cache))
            how = f"built from {len(documents)} pages"
        self.note = f"index {how} in {time.perf_counter() - started:.0f} s"
        self.prompts: list[str] = []

        def to_prompt(completion: str) -> str:
            prompt = chatml_completion(completion)
            self.prompts.append(prompt)
            return prompt

        cfg = settings.llm
        load_cpu_backend()  # a runtime-dispatch llama.cpp has no CPU backend until one is loaded
        self.llm = LlamaCPP(
            model_path=str(model.path),
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_tokens,
            context_window=cfg.context_window,
            model_kwargs={
                "n_gpu_layers": 0,
                "n_threads": cfg.threads or _cpu_count(),
                "n_threads_batch": cfg.threads or _cpu_count(),
            },
            completion_to_prompt=to_prompt,
            verbose=False,
        )
        self.engine = self.index.as_query_engine(llm=self.llm, streaming=True)

    def count(self, text: str) -> int:
        return len(self.llm._model.tokenize(text.encode(), add_bos=False, special=True))

    def ask(self, q: Question) -> Row:
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        response = self.engine.query(q.text)
        for delta in _deltas(response):
            if first is None:
                first = time.perf_counter()
            parts.append(delta)
        end = time.perf_counter()
        answer = "".join(parts).strip()
        context = "\n".join(n.node.get_content() for n in response.source_nodes)
        tokens = self.count(answer) if answer else 0
        decode = (tokens - 1) / (end - first) if first is not None and tokens > 1 else None
        return score(
            q,
            answer,
            context,
            cited=None,
            prompt_tokens=self.count(self.prompts[-1]) if self.prompts else 0,
            ttft_s=(first - started) if first is not None else None,
            decode_tps=decode,
            total_s=end - started,
        )

    def close(self) -> None:
        self.llm._model.close()


def _deltas(response: Any) -> Iterator[str]:
    gen = getattr(response, "response_gen", None)
    if gen is None:  # nothing retrieved: llama-index answers "Empty Response" without streaming
        yield str(response)
        return
    yield from (d for d in gen if d)


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


# --- the run -----------------------------------------------------------------------------


def _count(rows: Sequence[Row], key: str) -> str:
    values = [getattr(r, key) for r in rows]
    if all(v is None for v in values):
        return "–"
    return f"{sum(bool(v) for v in values)}/{len(rows)}"


def _stat(values: Sequence[float | None], how: Callable[[list[float]], float]) -> str:
    known = [v for v in values if v is not None]
    return f"{how(known):.1f}" if known else "–"


def report(tallies: Sequence[Tally], n: int) -> None:
    head = (
        f"{'system':12} {'in ctx':>7} {'figure':>7} {'wrong':>6} {'abst.':>6} {'cited':>6} "
        f"{'prompt':>7} {'ttft p50':>9} {'ttft p95':>9} {'tok/s':>6} {'total p50':>10} "
        f"{'all s':>7}"
    )
    print(f"\n{n} questions\n" + head + "\n" + "-" * len(head))
    for t in tallies:
        rows = t.rows
        print(
            f"{t.name:12} {_count(rows, 'in_context'):>7} {_count(rows, 'match'):>7} "
            f"{_count(rows, 'wrong'):>6} {_count(rows, 'abstained'):>6} {_count(rows, 'cited'):>6} "
            f"{_stat([r.prompt_tokens for r in rows], statistics.median):>7} "
            f"{_stat([r.ttft_s for r in rows], lambda v: percentile(v, 0.5)):>9} "
            f"{_stat([r.ttft_s for r in rows], lambda v: percentile(v, 0.95)):>9} "
            f"{_stat([r.decode_tps for r in rows], statistics.median):>6} "
            f"{_stat([r.total_s for r in rows], lambda v: percentile(v, 0.5)):>10} "
            f"{sum(r.total_s for r in rows):7.0f}"
        )
    by = {t.name: t for t in tallies}
    if "llama-index" in by and "default" in by:
        ours = [r.ttft_s for r in by["default"].rows if r.ttft_s is not None]
        theirs = [r.ttft_s for r in by["llama-index"].rows if r.ttft_s is not None]
        if ours and theirs:
            ratio = percentile(ours, 0.5) / percentile(theirs, 0.5)
            print(f"time to first token p50, default / llama-index: {ratio:.2f} (goal: <= 0.25)")
    if "previous" in by and "default" in by:
        before = sum(r.match for r in by["previous"].rows)
        after = sum(r.match for r in by["default"].rows)
        print(f"figure in answer, default / previous: {after} / {before} (goal: at least twice)")
    for t in tallies:
        if t.note:
            print(f"{t.name}: {t.note}")
    print(
        "ttft: from the question to the first streamed word (retrieval and prompt reading "
        "included); tok/s: decode after the first token; prompt: the model's tokens"
    )


def open_index(data_dir: Path, work: Path, settings: Settings) -> Any:
    """A copy of ``data_dir``'s index (the engine writes to what it opens)."""
    from retrieval.index import EdgeIndex

    source = Settings(data_dir=data_dir).index_path
    if not source.is_dir():
        raise SystemExit(f"no index at {source}")
    target = work / "index"
    shutil.copytree(source, target)
    (target / f".{settings.index.collection}.lock").unlink(missing_ok=True)
    return EdgeIndex(target, settings.index.collection)


def main() -> None:
    sec = Settings().eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, help="An ingested SEC 10-Q data dir (required).")
    ap.add_argument("--questions-csv", type=Path, default=sec / "qna_data.csv")
    ap.add_argument("--docs", type=Path, default=sec / "docs", help="The PDFs (llama-index).")
    ap.add_argument("--sample", type=int, default=40, help="Size of the stratified sample.")
    ap.add_argument("--limit", type=int, help="Ask only the first N questions of the sample.")
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    ap.add_argument(
        "--llama-index-cache", type=Path, help="Persist llama-index's index here, and reuse it."
    )
    ap.add_argument("--json", type=Path, help="Write every answer and its scores here.")
    ap.add_argument(
        "--report", type=Path, help="Only print the table of a --json file (a run midway)."
    )
    args = ap.parse_args()
    configure_logging("warning")
    if args.report:
        data = json.loads(args.report.read_text())
        done = [
            Tally(name, rows=[Row(**r) for r in rows]) for name, rows in data["systems"].items()
        ]
        report(done, min(len(t.rows) for t in done))
        return
    if args.data_dir is None and {"previous", "default"} & set(args.systems):
        ap.error("--data-dir is required")
    questions = load_questions(args.questions_csv, args.sample)
    print(f"sample of {len(questions)} figure questions (type, issuer, id):")
    for q in questions:
        print(f"  q{q.qid:<4} {q.kind.replace(' RAG', ''):27} {q.issuer:5} {q.text}")
    if args.limit:
        questions = questions[: args.limit]
        print(f"asking the first {len(questions)}")

    # a benchmark measures slowness rather than failing on it: no answer time limit
    settings = Settings(llm={"timeout_s": 3600})
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-answers-"))
    systems: list[Any] = []
    llms: list[Any] = []
    try:
        if {"previous", "default"} & set(args.systems):
            from retrieval.embedding import make_embedder
            from retrieval.llm import get_llm

            embedder = make_embedder(settings, configured_embedding(settings))
            embedder.warm_up()
            index = open_index(args.data_dir, work, settings)
            presets = {"previous": previous_settings(settings), "default": settings}
            for name in ("previous", "default"):
                if name in args.systems:
                    # a model each, as each would run alone: what one read stays out of the other
                    llm = get_llm(settings)
                    llm.warm_up()
                    llms.append(llm)
                    systems.append(Deepwell(name, presets[name], index, embedder, llm))
        if "llama-index" in args.systems:
            systems.append(LlamaIndexDefault(settings, args.docs, args.llama_index_cache))
        tallies = {s.name: Tally(s.name, getattr(s, "note", "")) for s in systems}
        for i, q in enumerate(questions):
            if args.json and i:  # what is done so far, for a long run looked at midway
                write_json(args.json, questions[:i], list(tallies.values()))
            turn = systems[i % len(systems) :] + systems[: i % len(systems)]
            for system in turn:
                row = system.ask(q)
                tallies[system.name].rows.append(row)
                ttft = f"{row.ttft_s:.1f}" if row.ttft_s is not None else "-"
                print(
                    f"  q{q.qid} {system.name:11} figure={int(row.match)} wrong={int(row.wrong)} "
                    f"ttft={ttft}s prompt={row.prompt_tokens}: {row.answer[:100]!r}",
                    flush=True,
                )
    finally:
        for system in systems:
            if isinstance(system, LlamaIndexDefault):
                system.close()
        for llm in llms:
            llm.close()
        shutil.rmtree(work, ignore_errors=True)
    ordered = [tallies[name] for name in SYSTEMS if name in tallies]
    report(ordered, len(questions))
    if args.json:
        write_json(args.json, questions, ordered)


def write_json(path: Path, questions: Sequence[Question], tallies: Sequence[Tally]) -> None:
    """Every question asked and each system's answers and scores."""
    data = {
        "questions": [asdict(q) for q in questions],
        "systems": {t.name: [asdict(r) for r in t.rows] for t in tallies},
    }
    path.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
