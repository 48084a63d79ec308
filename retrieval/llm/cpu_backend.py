"""Which of llama.cpp's CPU backend variants runs here, chosen once per process.

deepwell's llama-cpp-python build (``requirements/llama-cpp.cmake-args``) compiles
ggml's CPU backend once per x86-64 level (``GGML_CPU_ALL_VARIANTS``) as libraries
loaded at run time (``GGML_BACKEND_DL``): ``llama_cpp/lib/libggml-cpu-<variant>.so``.
ggml's own loader looks for them next to the executable (python's directory) and in
the current directory, never in the package, so :func:`load_cpu_backend` loads the
best one from the package before the first model: each variant scores this CPU (0:
an instruction it needs is missing) and the highest score wins.

AMX variants are never loaded: these VMs' CPUs advertise AMX, so its variant scores
highest, but its tile instructions trap (SIGILL) here. The build leaves them out
(``deploy/llama_wheel.py``); this is the second guard, for a wheel built otherwise.

A build with its CPU backend linked in (the previous portable build) needs nothing:
the backend is registered already and :func:`load_cpu_backend` returns ``"built-in"``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from core import ModelError, get_logger

log = get_logger(__name__)

#: ggml's x86 variants whose kernels use AMX tiles (``sapphirerapids``: AMX_TILE, AMX_INT8).
AMX_VARIANTS = frozenset({"sapphirerapids"})
_PREFIX, _SUFFIX = "libggml-cpu-", ".so"

_lock = threading.Lock()
_loaded: str | None = None


def choose_variant(scores: Mapping[str, int]) -> str | None:
    """The variant to load: the highest score above 0, AMX variants excluded.

    Args:
        scores: ``ggml_backend_score()`` of each variant on this CPU (0: cannot run).

    Returns:
        The variant's name, or None when none can run here.
    """
    usable = {
        name: score
        for name, score in scores.items()
        if score > 0 and name not in AMX_VARIANTS and "amx" not in name.lower()
    }
    return max(usable, key=lambda name: (usable[name], name)) if usable else None


def _score(path: Path) -> int:
    """``ggml_backend_score()`` of one variant library (the library is unloaded after)."""
    handle = ctypes.CDLL(str(path))
    try:
        fn = getattr(handle, "ggml_backend_score", None)
        if fn is None:
            return 0
        fn.restype = ctypes.c_int
        fn.argtypes = []
        return int(fn())
    finally:
        _dlclose(handle)


def _dlclose(handle: ctypes.CDLL) -> None:
    libdl = ctypes.CDLL(None)
    libdl.dlclose.argtypes = [ctypes.c_void_p]
    libdl.dlclose(ctypes.c_void_p(handle._handle))


def load_cpu_backend() -> str:
    """Register the best CPU backend variant for this CPU (idempotent, thread-safe).

    Call before the first ``llama_cpp.Llama``: a runtime-dispatch build has no backend
    until one is loaded, and llama.cpp then refuses to load a model.

    Returns:
        The variant loaded (``"zen4"``, ``"icelake"``, ``"haswell"``…), or ``"built-in"``
        for a build whose CPU backend is linked in.

    Raises:
        ModelError: the build has variant libraries but none can run on this CPU, or
            ggml refused to load the chosen one.
    """
    global _loaded  # noqa: PLW0603 - one registration per process, like ggml's own registry
    with _lock:
        if _loaded is not None:
            return _loaded
        import llama_cpp

        lib_dir = Path(llama_cpp.__file__).resolve().parent / "lib"
        # Resolved through libllama, so these are the ggml functions libllama itself uses
        # (the wheel also holds other copies of libggml.so that must not be loaded).
        libllama = ctypes.CDLL(str(lib_dir / "libllama.so"))
        libllama.ggml_backend_reg_count.restype = ctypes.c_size_t
        variants = sorted(lib_dir.glob(f"{_PREFIX}*{_SUFFIX}"))
        if libllama.ggml_backend_reg_count() > 0 or not variants:
            _loaded = "built-in"
            return _loaded
        scores = {p.name.removeprefix(_PREFIX).removesuffix(_SUFFIX): _score(p) for p in variants}
        best = choose_variant(scores)
        if best is None:
            raise ModelError(f"no llama.cpp CPU backend in {lib_dir} runs on this CPU: {scores}")
        libllama.ggml_backend_load.restype = ctypes.c_void_p
        libllama.ggml_backend_load.argtypes = [ctypes.c_char_p]
        # llama-cpp-python prints ggml's messages to stderr at its logger's level; the line
        # below says which variant loaded, in deepwell's log.
        printer = logging.getLogger("llama-cpp-python")
        level = printer.level
        printer.setLevel(logging.ERROR)
        try:
            reg = libllama.ggml_backend_load(str(lib_dir / f"{_PREFIX}{best}{_SUFFIX}").encode())
        finally:
            printer.setLevel(level)
        if not reg:
            raise ModelError(f"llama.cpp could not load its CPU backend {best} from {lib_dir}")
        log.info("llm.cpu_backend", variant=best, score=scores[best])
        _loaded = best
        return _loaded
