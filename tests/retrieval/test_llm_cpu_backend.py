"""llama.cpp's CPU backend: the best variant for this CPU, never AMX (retrieval/llm/cpu_backend.py).

The model-level check that the build loads and generates, on the SmolLM2 Q4_1 GGUF whose first
generation trapped (SIGILL) in the AMX kernels of a -march=native build, is
tests/retrieval/test_llm_local.py: it runs through the same loader.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from retrieval.llm.cpu_backend import AMX_VARIANTS, choose_variant, load_cpu_backend


def test_an_amx_variant_is_never_chosen_even_when_it_scores_highest() -> None:
    scores = {"x64": 1, "haswell": 190, "icelake": 1470, "zen4": 1980, "sapphirerapids": 4030}
    assert choose_variant(scores) == "zen4"
    assert choose_variant({"sapphirerapids": 4030, "future_amx": 9000, "haswell": 190}) == "haswell"
    assert "sapphirerapids" in AMX_VARIANTS


def test_a_variant_that_cannot_run_here_is_never_chosen() -> None:
    assert choose_variant({"x64": 1, "skylakex": 0, "zen4": 0}) == "x64"
    assert choose_variant({"skylakex": 0}) is None
    assert choose_variant({}) is None


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() != "x86_64" or not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_the_installed_build_uses_the_vector_units_of_this_cpu_and_no_amx() -> None:
    import llama_cpp

    variant = load_cpu_backend()
    assert load_cpu_backend() == variant  # once per process
    info = llama_cpp.llama_print_system_info().decode()
    lib = Path(llama_cpp.__file__).resolve().parent / "lib"
    assert "AMX_INT8 = 1" not in info
    assert not list(lib.glob("libggml-cpu-sapphirerapids*"))
    flags = _cpu_flags()
    if not flags:
        pytest.skip("not an x86-64 Linux CPU: the variant set differs")
    # A runtime-dispatch build (requirements/llama-cpp.cmake-args), not the portable AVX2 one.
    assert variant != "built-in", "llama-cpp-python was built without GGML_CPU_ALL_VARIANTS"
    assert variant not in AMX_VARIANTS
    assert "AVX2 = 1" in info
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        assert "AVX512 = 1" in info, (variant, info)
    if "avx512_vnni" in flags:
        assert "AVX512_VNNI = 1" in info, (variant, info)
