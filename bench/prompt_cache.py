"""What the local backend reuses between answers, measured on real SEC answer prompts: the system
message's saved state, and prompt-lookup speculative decoding.

Run from the repository root on an ingested SEC 10-Q data directory (its index is copied)::

    .venv/bin/python -m bench.prompt_cache --data-dir DIR [--questions 6] [--max-tokens 80]
        [--lookup 4 10]

Each question (an even spread of the figure questions, as ``bench.answers`` samples them) is
searched and its context chosen as the answer path does (``Answerer.select_context``), then
put to the default local model (``llm.model``) as the answer prompt:

- time to first token with nothing of the prompt held: once with the system message's saved
  state dropped (everything is read), once with it restored (the rest is read), the two in
  alternating order; and the system message alone, read vs restored;
- decode tokens/s with the whole prompt held, without prompt lookup and with each ``--lookup``
  draft size (``llm.prompt_lookup``: one model each, so each reads the prompt once first), in
  rotating order. Sampling as configured (``llm.temperature``), so the texts may differ.

Medians are printed side by side; the machine is shared, so compare within the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import core  # noqa: F401  (first: telemetry off before third-party imports)
from bench.answers import READER, load_questions, open_index
from core import Settings, configure_logging
from core.models import configured_embedding
from retrieval.answer import Answerer
from retrieval.embedding import make_embedder
from retrieval.llm import Message
from retrieval.llm.local import LocalLLM
from retrieval.llm.prompts import answer_messages
from retrieval.search import Searcher


def timed(
    llm: LocalLLM, messages: Sequence[Message], max_tokens: int
) -> tuple[float, float | None]:
    """Seconds to the first token, and decode tokens/s after it (None for one token)."""
    started = time.perf_counter()
    first: float | None = None
    stream = llm.stream(messages, max_tokens=max_tokens)
    for _ in stream:
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    n = stream.usage.completion_tokens
    return first - started, (n - 1) / (end - first) if n > 1 and end > first else None


def forget(llm: LocalLLM, *, keep_system: bool) -> None:
    """Empty the context (as if another prompt had been read), with or without the saved
    system state."""
    llm.warm_up()
    assert llm._llama is not None
    llm._llama.n_tokens = 0
    if not keep_system:
        llm._prefixes.clear()


def median(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):7.2f}" if known else "      –"


def main() -> None:
    sec = Settings().eval.data_dir / "sec-10q"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="An ingested SEC 10-Q data dir.")
    ap.add_argument("--questions-csv", type=Path, default=sec / "qna_data.csv")
    ap.add_argument("--questions", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=80, help="Tokens decoded per measurement.")
    ap.add_argument("--lookup", type=int, nargs="*", default=[4, 10], help="Draft sizes to try.")
    args = ap.parse_args()
    configure_logging("warning")
    settings = Settings(llm={"timeout_s": 3600})
    questions = load_questions(args.questions_csv, args.questions)
    work = Path(tempfile.mkdtemp(prefix="deepwell-bench-cache-"))
    sizes = [0, *args.lookup]
    llms = {
        k: LocalLLM.from_settings(Settings(llm={"timeout_s": 3600, "prompt_lookup": k}))
        for k in sizes
    }
    ttft: dict[str, list[float]] = {"system dropped": [], "system restored": []}
    decode: dict[int, list[float | None]] = {k: [] for k in sizes}
    system_read: list[float] = []
    system_restore: list[float] = []
    try:
        embedder = make_embedder(settings, configured_embedding(settings))
        embedder.warm_up()
        index = open_index(args.data_dir, work, settings)
        searcher = Searcher.from_settings(settings, index, embedder)
        plain = llms[0]
        answerer = Answerer(searcher, plain, settings)
        for i, q in enumerate(questions):
            chunks = searcher.search(q.text, READER, limit=answerer.retrieve_limit).chunks
            messages = answer_messages(q.text, answerer.select_context(q.text, chunks).text)
            modes = ["system dropped", "system restored"]
            for mode in modes if i % 2 == 0 else modes[::-1]:
                forget(plain, keep_system=mode == "system restored")
                seconds, _ = timed(plain, messages, 1)
                ttft[mode].append(seconds)
            turn = sizes[i % len(sizes) :] + sizes[: i % len(sizes)]
            line = []
            for k in turn:
                llm = llms[k]
                if k:
                    timed(llm, messages, 1)  # this model reads the prompt once first
                _, rate = timed(llm, messages, args.max_tokens)
                decode[k].append(rate)
                line.append(f"k={k}: {rate or 0:.1f} tok/s")
            print(
                f"q{q.qid}: first token {ttft['system dropped'][-1]:.1f} s (system read) / "
                f"{ttft['system restored'][-1]:.1f} s (restored); decode " + ", ".join(line),
                flush=True,
            )
        llama = plain._llama
        assert llama is not None
        prefix = next(reversed(plain._prefixes))
        for _ in range(3):
            llama.n_tokens = 0
            started = time.perf_counter()
            llama.eval(list(prefix))
            system_read.append(time.perf_counter() - started)
            llama.n_tokens = 0
            started = time.perf_counter()
            plain._restore(llama, prefix)
            system_restore.append(time.perf_counter() - started)
        index.close()
    finally:
        for llm in llms.values():
            llm.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(questions)} questions, {settings.llm.model}, medians")
    for mode, values in ttft.items():
        print(f"first token, {mode:16} {median(values)} s")
    print(
        f"system message alone ({len(prefix)} tokens): read {median(system_read)} s, "
        f"restored {statistics.median(system_restore) * 1000:.1f} ms"
    )
    for k, values in decode.items():
        label = "off" if k == 0 else f"{k} draft tokens"
        print(f"decode, prompt lookup {label:16} {median(values)} tok/s")


if __name__ == "__main__":
    main()
