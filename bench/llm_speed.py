"""Two llama-cpp-python builds side by side: prompt-eval and decode speed on the same GGUF.

Run: ``.venv/bin/python -m bench.llm_speed [--model NAME|PATH] [--threads N] [--wheels A B]
[--prompt-tokens N] [--decode-tokens N] [--rounds N]``.

Each build is a llama-cpp-python wheel (default: the two wheelhouses ``make install`` names
after their flags, ``~/.cache/deepwell/wheels/<hash>``: today's portable AVX2 build, and the
runtime-dispatch build of ``requirements/llama-cpp.cmake-args``). One process can hold only one
libllama, so every measurement runs in a subprocess whose ``sys.path`` starts with that wheel,
unpacked into a temporary directory; the subprocess loads the model through deepwell's own
:class:`retrieval.llm.local.LocalLLM` (so the CPU backend is chosen as in production, see
``retrieval/llm/cpu_backend.py``) and reports which CPU backend ran and llama.cpp's
``system_info``.

The prompt is the same for both: the model's chat template around about ``--prompt-tokens``
tokens of an SEC 10-Q's financial statements (Apple, Q3 2023, text layer) cut by the model's
tokenizer, and a fixed question. Measured per run: time to first token (prompt evaluation of
the whole prompt plus the first sampled token), prompt tokens/s (llama.cpp's own prompt-eval
timer), decode tokens/s over ``--decode-tokens`` greedy tokens (end-of-text is not a stop, so
both builds decode the same number). Prompt and decode rates are also given per CPU-second
of the measuring process (all its threads): on a shared machine the wall-clock rates swing
with the other work, while tokens per CPU-second — with ``--threads 1``, where no thread
spins waiting for another — measure the kernels alone. Each round runs both builds one after
the other, alternating which goes first, and the best of ``--rounds`` is kept per build
(every round is printed too). The last row is the ratio B / A (new / portable by default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PDF = REPO.parent / "shared" / "data" / "sec-10q" / "docs" / "2023 Q3 AAPL.pdf"
WHEELHOUSES = Path.home() / ".cache" / "deepwell" / "wheels"
#: The flags of the build before runtime dispatch (portable x86-64: AVX2, FMA, F16C).
PORTABLE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
)
QUESTION = (
    "What were Apple's total net sales and net income for the three months ended July 1, "
    "2023, and how did they compare with the same quarter of 2022? Cite the figures."
)
SYSTEM = "Answer from the context only. State each figure with its period."


def pinned_version() -> str:
    text = (REPO / "requirements" / "constraints.txt").read_text()
    match = re.search(r"^llama_cpp_python==(\S+)", text, re.MULTILINE)
    assert match, "llama_cpp_python is not pinned in requirements/constraints.txt"
    return match.group(1)


def wheelhouse(args: str) -> Path:
    """The Makefile's wheelhouse for these CMake flags (``echo '<pkg> <args>' | sha256sum``)."""
    key = f"llama-cpp-python=={pinned_version()} {args}\n".encode()
    return WHEELHOUSES / hashlib.sha256(key).hexdigest()[:16]


def dispatch_args() -> str:
    text = (REPO / "requirements" / "llama-cpp.cmake-args").read_text()
    return " ".join(re.sub(r"#.*", "", text).split())


def default_wheels() -> list[Path]:
    wheels = []
    for label, args in (("portable", PORTABLE_ARGS), ("runtime dispatch", dispatch_args())):
        found = sorted(wheelhouse(args).glob("llama_cpp_python-*.whl"))
        if not found:
            sys.exit(f"no {label} wheel in {wheelhouse(args)}: build it or pass --wheels A B")
        wheels.append(found[-1])
    return wheels


def document_text(pdf: Path, first_page: int = 3) -> str:
    """The text layer from ``first_page`` on (the financial statements), whitespace folded."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]  # ships no type information

    doc = pdfium.PdfDocument(pdf)
    try:
        pages = [doc[i].get_textpage().get_text_range() for i in range(first_page, len(doc))]
    finally:
        doc.close()
    return "\n".join(" ".join(page.split()) for page in pages)


# --- the measuring subprocess ------------------------------------------------------------


def child(ns: argparse.Namespace) -> None:
    """Load the model from the wheel on sys.path[0], run the prompt once, print JSON."""
    sys.path.insert(0, ns.wheel_dir)
    import llama_cpp

    assert Path(llama_cpp.__file__).resolve().is_relative_to(Path(ns.wheel_dir).resolve())
    from core.models import get_spec, prepare, resolve_user_path
    from core.settings import Settings
    from retrieval.llm import Message
    from retrieval.llm.cpu_backend import load_cpu_backend
    from retrieval.llm.local import LocalLLM

    settings = Settings()
    path = Path(ns.model)
    model = (
        resolve_user_path(path.name, "llm", path)
        if path.suffix == ".gguf"
        else prepare(get_spec(ns.model), settings.models.cache_dir)
    )
    started = time.perf_counter()
    variant = load_cpu_backend()
    llm = LocalLLM(
        model,
        context_window=ns.prompt_tokens + ns.decode_tokens + 256,
        max_tokens=ns.decode_tokens,
        temperature=0.0,
        timeout_s=3600,
        threads=ns.threads,
    )
    llm.warm_up()
    load_s = time.perf_counter() - started
    llama = llm._llama
    assert llama is not None
    document = Path(ns.text_file).read_text()
    cut = llama.tokenize(document.encode(), add_bos=False, special=False)[: ns.prompt_tokens]
    context = llama.detokenize(cut).decode("utf-8", errors="ignore")
    # The chat as deepwell's answer path renders and tokenizes it (LocalLLM.stream).
    formatted = llm._format(
        [Message("system", SYSTEM), Message("user", f"Context:\n{context}\n\nQuestion: {QUESTION}")]
    )
    prompt = llama.tokenize(
        formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
    )
    # Warm-up: page the weights in and start the threads, on a prompt sharing nothing with
    # the measured one (reset() drops the KV cache, so nothing of it is reused).
    for _ in zip(range(4), llama.generate(prompt[-16:], temp=0.0), strict=False):
        pass
    llama.reset()
    llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
    times: list[float] = []
    cpu: list[float] = []  # this process's CPU seconds, all threads
    tokens: list[int] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for token in llama.generate(prompt, temp=0.0, reset=True):
        times.append(time.perf_counter())
        cpu.append(time.process_time())
        tokens.append(token)
        if len(tokens) >= ns.decode_tokens:
            break
    perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
    ttft = times[0] - t0
    decode_s = times[-1] - times[0]
    prompt_cpu, decode_cpu = cpu[0] - cpu0, cpu[-1] - cpu[0]
    result: dict[str, Any] = {
        "variant": variant,
        "system_info": llama_cpp.llama_print_system_info().decode(),
        "llama_cpp": str(Path(llama_cpp.__file__).parent),
        "load_s": load_s,
        "prompt_tokens": len(prompt),
        "ttft_s": ttft,
        "prompt_tps": perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms else 0.0,
        "n_p_eval": perf.n_p_eval,
        "decode_tokens": len(tokens),
        "decode_tps": (len(tokens) - 1) / decode_s if decode_s > 0 else 0.0,
        "prompt_cpu_tps": len(prompt) / prompt_cpu if prompt_cpu > 0 else 0.0,
        "decode_cpu_tps": (len(tokens) - 1) / decode_cpu if decode_cpu > 0 else 0.0,
        "reply_head": llama.detokenize(tokens[:24]).decode("utf-8", errors="ignore"),
    }
    llm.close()
    print("RESULT " + json.dumps(result))


# --- the parent ----------------------------------------------------------------------------


@dataclass
class Build:
    label: str
    wheel: Path
    directory: Path
    runs: list[dict[str, Any]]


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(into)
    return into


def measure(build: Build, ns: argparse.Namespace, text_file: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.llm_speed",
        "--child",
        "--wheel-dir",
        str(build.directory),
        "--text-file",
        str(text_file),
        "--model",
        ns.model,
        "--threads",
        str(ns.threads),
        "--prompt-tokens",
        str(ns.prompt_tokens),
        "--decode-tokens",
        str(ns.decode_tokens),
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(
            f"{build.label} ({build.wheel}) failed with exit code {proc.returncode}:\n"
            f"{proc.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def best(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "prompt_tps": max(r["prompt_tps"] for r in runs),
        "decode_tps": max(r["decode_tps"] for r in runs),
        "prompt_cpu_tps": max(r["prompt_cpu_tps"] for r in runs),
        "decode_cpu_tps": max(r["decode_cpu_tps"] for r in runs),
        "ttft_s": min(r["ttft_s"] for r in runs),
    }


def features(system_info: str) -> str:
    """The CPU features llama.cpp reports as on (``AVX512 = 1`` ...), in its order."""
    cpu = system_info.split("CPU :", 1)[-1]
    return " ".join(name for name, on in re.findall(r"(\w+) = (\d)", cpu) if on == "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="model name or GGUF path (default: llm.model)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (default: all)"
    )
    parser.add_argument("--wheels", nargs=2, type=Path, metavar=("A", "B"), default=None)
    parser.add_argument(
        "--prompt-tokens", type=int, default=1500, help="document tokens in the prompt"
    )
    parser.add_argument("--decode-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pdf", type=Path, default=DEFAULT_PDF, help="the document of the prompt")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wheel-dir", help=argparse.SUPPRESS)
    parser.add_argument("--text-file", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        child(ns)
        return

    from core.settings import Settings

    settings = Settings()
    ns.model = ns.model or settings.llm.model
    ns.threads = ns.threads or settings.llm.threads or os.cpu_count() or 1
    if not ns.pdf.exists():
        sys.exit(f"{ns.pdf} not found: pass --pdf with an SEC 10-Q (the shared data set has them)")
    wheels = ns.wheels or default_wheels()
    with tempfile.TemporaryDirectory(prefix="llm-speed-") as tmp:
        text_file = Path(tmp) / "document.txt"
        text_file.write_text(document_text(ns.pdf))
        builds = [
            Build(label, wheel, unpack(wheel, Path(tmp) / label), [])
            for label, wheel in zip(("A", "B"), wheels, strict=True)
        ]
        load_before = os.getloadavg()[0]
        for round_no in range(ns.rounds):
            order = builds if round_no % 2 == 0 else builds[::-1]
            for build in order:
                run = measure(build, ns, text_file)
                build.runs.append(run)
                print(
                    f"round {round_no + 1} {build.label}: {run['variant']:>9}  prompt "
                    f"{run['prompt_tps']:6.1f} tok/s ({run['prompt_cpu_tps']:6.1f}/CPU-s)  "
                    f"decode {run['decode_tps']:5.1f} tok/s ({run['decode_cpu_tps']:5.1f}/CPU-s)  "
                    f"first token {run['ttft_s']:5.2f} s  (load {run['load_s']:.1f} s, "
                    f"load avg {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        load_after = os.getloadavg()[0]

    first = builds[0].runs[0]
    print()
    print(
        f"{ns.model}, {first['prompt_tokens']} prompt tokens (same for both), "
        f"{first['decode_tokens']} greedy decode tokens, threads: {ns.threads}, best of "
        f"{ns.rounds} rounds; load average {load_before:.1f} -> {load_after:.1f}"
    )
    columns = [
        ("prompt tok/s", "prompt_tps", ".1f"),
        ("per CPU-s", "prompt_cpu_tps", ".1f"),
        ("decode tok/s", "decode_tps", ".1f"),
        ("per CPU-s", "decode_cpu_tps", ".1f"),
        ("first token s", "ttft_s", ".2f"),
    ]
    header = f"{'build':<7}{'CPU backend':<12}" + "".join(f"{c[0]:>15}" for c in columns)
    print(header)
    print("-" * len(header))
    results = [best(b.runs) for b in builds]
    for build, res in zip(builds, results, strict=True):
        cells = "".join(f"{res[key]:>15{fmt}}" for _, key, fmt in columns)
        print(f"{build.label:<7}{build.runs[0]['variant']:<12}{cells}")
    a, b = results
    ratios = "".join(f"{b[key] / a[key]:>14.2f}x" for _, key, _ in columns)
    print(f"{'B / A':<19}{ratios}")
    print()
    for build in builds:
        run = build.runs[0]
        print(f"{build.label}: {build.wheel}")
        print(f"   CPU features on: {features(run['system_info'])}")
        print(f"   reply starts: {run['reply_head']!r}")
    spread = {b.label: statistics.pstdev(r["decode_tps"] for r in b.runs) for b in builds if b.runs}
    print(f"decode tok/s spread across rounds (stdev): {spread}")


if __name__ == "__main__":
    main()
