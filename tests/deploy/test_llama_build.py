"""llama-cpp-python's build: the Makefile and the Dockerfile use the same CMake flags.

The flags live in ``requirements/llama-cpp.cmake-args``: runtime CPU dispatch (every x86-64
level of ggml's CPU backend, loaded at run time), never -march=native, never AMX; the wheelhouse
is keyed by them; ``deploy/llama_wheel.py`` removes the AMX variant from the wheel in both.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import platform
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
ARGS_FILE = REPO / "requirements" / "llama-cpp.cmake-args"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _flags() -> list[str]:
    return re.sub(r"#.*", "", ARGS_FILE.read_text()).split()


def _llama_wheel() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_wheel", REPO / "deploy" / "llama_wheel.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make(*args: str) -> dict[str, str]:
    """Variables of the Makefile as make itself expands them."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    probe = 'print-vars: ; @echo "$(LLAMA_CMAKE_ARGS)"; echo "$(WHEELHOUSE)"'
    out = subprocess.run(
        ["make", "--no-print-directory", "-f", "Makefile", "-f", "-", *args, "print-vars"],
        input=probe,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {"LLAMA_CMAKE_ARGS": out[0], "WHEELHOUSE": out[1]}


def test_the_flags_dispatch_at_run_time_and_never_build_native_or_amx() -> None:
    flags = _flags()
    assert {"-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"} <= set(flags)
    # The variant libraries install beside libllama (a STRING: CMake makes a relative PATH
    # absolute under the build's temporary directory, and they would miss the wheel).
    assert "-DGGML_BACKEND_DIR:STRING=llama_cpp/lib" in flags
    assert not [f for f in flags if re.match(r"-DGGML_(NATIVE|AMX_\w+)=ON", f)]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the file holds the x86-64 flags")
def test_the_makefile_builds_with_the_file_and_keys_its_wheelhouse_by_them() -> None:
    default = _make()
    assert default["LLAMA_CMAKE_ARGS"].split() == _flags()
    other = _make("LLAMA_CMAKE_ARGS=-DGGML_NATIVE=OFF")
    assert other["WHEELHOUSE"] != default["WHEELHOUSE"]
    recipe = (REPO / "Makefile").read_text()
    assert "CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)'" in recipe
    assert "deploy/llama_wheel.py $(WHEELHOUSE).tmp/*.whl" in recipe


def test_the_dockerfile_builds_with_the_same_flags_and_drops_amx(tmp_path: Path) -> None:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    assert "ENV CMAKE_ARGS" not in text
    assignments = re.findall(r'CMAKE_ARGS="(\$\([^"]*\))"', text)
    assert len(assignments) == 1, assignments
    # Evaluate the Dockerfile's own shell expression in a copy of its build context.
    (tmp_path / "requirements").mkdir()
    shutil.copy(ARGS_FILE, tmp_path / "requirements")
    expanded = subprocess.run(
        ["sh", "-c", f"echo {assignments[0]}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert expanded == _flags()
    run = next(line for line in text.splitlines() if "CMAKE_ARGS=" in line)
    steps = [step.strip() for step in run.split("&&")]
    wheel = next(i for i, s in enumerate(steps) if "pip wheel" in s)
    drop = next(i for i, s in enumerate(steps) if "deploy/llama_wheel.py" in s)
    install = next(i for i, s in enumerate(steps) if "pip install --no-deps /tmp/llama-wheel" in s)
    project = next(i for i, s in enumerate(steps) if s.endswith("constraints.txt ."))
    assert wheel < drop < install < project
    assert "COPY deploy/llama_wheel.py deploy/" in text


def _wheel(path: Path, members: list[str]) -> Path:
    record = "".join(f"{m},sha256=x,1\n" for m in members) + "pkg-1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            zf.writestr(member, b"\x7fELF" + member.encode())
        zf.writestr("pkg-1.dist-info/RECORD", record)
    return path


def test_the_amx_variant_leaves_the_wheel_and_its_record(tmp_path: Path) -> None:
    keep = [
        "llama_cpp/__init__.py",
        "llama_cpp/lib/libllama.so",
        "llama_cpp/lib/libggml-cpu-haswell.so",
        "llama_cpp/lib/libggml-cpu-zen4.so",
        "llama_cpp/lib/libggml-cpu-icelake.so",
    ]
    amx = "llama_cpp/lib/libggml-cpu-sapphirerapids.so"
    wheel = _wheel(tmp_path / "pkg-1-py3-none-linux_x86_64.whl", [*keep, amx])
    assert _llama_wheel().drop_amx(wheel) == [amx]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        rows = list(csv.reader(io.StringIO(zf.read("pkg-1.dist-info/RECORD").decode())))
        assert zf.read(keep[3]) == b"\x7fELF" + keep[3].encode()
    assert sorted(names) == sorted([*keep, "pkg-1.dist-info/RECORD"])
    assert sorted(r[0] for r in rows) == sorted(names)


def test_a_wheel_without_amx_is_left_as_it_is(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "pkg-1-py3-none-any.whl", ["llama_cpp/lib/libggml-cpu.so"])
    before = wheel.read_bytes()
    assert _llama_wheel().drop_amx(wheel) == []
    assert wheel.read_bytes() == before
