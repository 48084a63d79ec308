"""Third-party telemetry stays off once deepwell is imported.

onnxruntime (the default embedding backend) queues usage events in
``~/.cache/Microsoft/DeveloperTools`` unless told not to. Each case runs a fresh
interpreter with an empty home directory; the control case, without deepwell,
shows the check can fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper


def _tiny_model(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(("first", "expect_telemetry"), [("import core", False), ("pass", True)])
def test_onnxruntime_writes_no_telemetry_after_core(
    tmp_path: Path, first: str, expect_telemetry: bool
) -> None:
    model = _tiny_model(tmp_path / "identity.onnx")
    home = tmp_path / "home"
    home.mkdir()
    code = (
        f"{first}\nimport onnxruntime\n"
        f"onnxruntime.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider'])\n"
    )
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, cwd=Path.cwd())
    written = list((home / ".cache" / "Microsoft").rglob("*.db"))
    assert bool(written) is expect_telemetry, written
