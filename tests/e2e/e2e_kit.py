"""What the browser tests share: small PDFs with a real text layer, and the `deepwell` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    """A PDF of ``pages`` (lines each) with a real text layer: matplotlib embeds TrueType text
    with fonttype 42. Each page's first line is set larger, a heading as documents have."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with plt.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        for lines in pages:
            fig = plt.figure(figsize=(8.27, 11.69))
            for i, line in enumerate(lines):
                fig.text(0.1, 0.9 - 0.03 * i, line, fontsize=18 if i == 0 else 12)
            pdf.savefig(fig)
            plt.close(fig)


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """`deepwell ARGS` in ``cwd`` with ``env``; its standard output (it must succeed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"deepwell {args[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
