"""Interrupt `deepwell ingest` (kill -9, Ctrl-C), run it again: nothing is lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from core import Settings, make_engine
from ingest.registry import DocState, Registry
from retrieval import EdgeIndex

# Enough documents that the job cannot finish between the first commit and the signal (the
# writer commits several documents at once when they arrive together: on an idle machine 40
# were once all committed before the signal arrived, and Ctrl-C found nothing to stop).
DOCS = 120


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(DOCS):
        paras = [
            f"Report {i}, part {j}: the {['north', 'south', 'east', 'west'][j % 4]} region "
            f"shipped {i * 100 + j} units of product {chr(65 + j)} to customer {i}-{j} during "
            f"week {j + 1}, and returns stayed at {j}.{i} percent of shipped volume."
            for j in range(12)
        ]
        (folder / f"report-{i:02d}.txt").write_text("\n\n".join(paras))
    return folder


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(folder: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPWELL_")}
    env |= {"DEEPWELL_DATA_DIR": str(data), "DEEPWELL_INGEST__WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", str(folder), "--acl", "group:staff"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A suite started in the background (nohup, `cmd &`) ignores SIGINT, and Python keeps
        # an ignored SIGINT ignored: Ctrl-C must reach the command as it does in a terminal.
        preexec_fn=_default_sigint,  # noqa: PLW1509 (one signal call, no locks taken)
    )


def _count(data: Path, *states: str) -> int:
    db = data / "deepwell.db"
    if not db.exists():
        return 0
    marks = ", ".join("?" for _ in states)
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            query = f"SELECT count(*) FROM documents WHERE state IN ({marks})"
            row = conn.execute(query, states).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def _indexed(data: Path) -> int:
    return _count(data, "indexed")


def _interrupt_midway(folder: Path, data: Path, sig: int) -> None:
    proc = _run(folder, data)
    deadline = time.monotonic() + 180
    # Under way: a document parsed or written. (Not "one written": the writer commits the
    # documents that arrive together at once, and on an idle machine that was all of them.)
    while _count(data, "parsed", "indexed") < 1:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert _indexed(data) < DOCS, "the job finished before it was interrupted"
    assert proc.returncode != 0


def _check_consistent(data: Path) -> None:
    settings = Settings(data_dir=data)
    registry = Registry(make_engine(settings))
    rows = registry.documents()
    assert len(rows) == DOCS
    assert {r.state for r in rows} == {DocState.indexed}
    with EdgeIndex(settings.index_path, settings.index.collection) as index:
        points = list(index.scroll())
    ids = {p.id for p in points}
    assert len(ids) == len(points)
    assert ids == {i for r in rows for i in r.chunk_ids}  # no orphans, nothing missing
    per_chunk = Counter((p.payload["doc_id"], p.payload["chunk_index"]) for p in points)
    assert max(per_chunk.values()) == 1  # no chunk twice


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_interrupted_ingest_finishes_on_rerun(tmp_path: Path, sig: int) -> None:
    folder, data = _corpus(tmp_path / "docs"), tmp_path / "data"
    _interrupt_midway(folder, data, sig)
    rerun = _run(folder, data)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    _check_consistent(data)
