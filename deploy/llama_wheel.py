"""Remove llama.cpp's AMX CPU backend variants from a llama-cpp-python wheel, in place.

Built with ``requirements/llama-cpp.cmake-args`` (``GGML_CPU_ALL_VARIANTS``), the wheel holds
one CPU backend library per x86-64 level, ``llama_cpp/lib/libggml-cpu-<variant>.so``, and the
one scoring highest on the CPU is loaded at run time. ggml always builds ``sapphirerapids``
with AMX (its variant list sets AMX_TILE and AMX_INT8, whatever ``GGML_AMX_*`` say), and CPUs
in some VMs advertise AMX whose tile instructions then trap (SIGILL): that variant would score
highest there and crash the first Q4_1 model. Removing it leaves ``zen4``/``icelake`` (AVX-512
VNNI) as the best these CPUs get. The wheel's RECORD is rewritten to match.

Used by ``make install`` and deploy/Dockerfile (standard library only)::

    python deploy/llama_wheel.py dist/llama_cpp_python-*.whl
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import zipfile
from pathlib import Path

#: Wheel members that must not ship: ggml CPU variants built with AMX.
AMX_MEMBER = re.compile(r"(^|/)libggml-cpu-(sapphirerapids|[^/]*amx[^/]*)\.so[.0-9]*$")


def drop_amx(wheel: Path) -> list[str]:
    """Rewrite ``wheel`` without its AMX variant libraries; return the members removed."""
    with zipfile.ZipFile(wheel) as src:
        infos = src.infolist()
        dropped = [i.filename for i in infos if AMX_MEMBER.search(i.filename)]
        if not dropped:
            return []
        tmp = wheel.with_name(wheel.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in infos:
                if info.filename in dropped:
                    continue
                data = src.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    data = _without(data, set(dropped))
                dst.writestr(info, data, compress_type=info.compress_type)
    os.replace(tmp, wheel)
    return dropped


def _without(record: bytes, paths: set[str]) -> bytes:
    rows = [row for row in csv.reader(io.StringIO(record.decode())) if row and row[0] not in paths]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    for name in argv:
        dropped = drop_amx(Path(name))
        print(f"{name}: removed {', '.join(dropped) if dropped else 'nothing (no AMX variant)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
