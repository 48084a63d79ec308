"""Pages a parser has read, passed from a parsing worker process to the writer.

A parser calls :func:`page_read` after each page; it does nothing unless the worker is
:func:`listening` for the document (the writer asked for progress). The worker writes
the count to a small file (``<done> <total>``, replaced whole), which the writer's
:class:`ParseWatcher` reads while it waits for the document: no pipe or manager
process, nothing to clean up if the worker dies but the file.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

#: Seconds between two writes of a document's page count (its last page always written).
WRITE_EVERY_S = 0.2

#: The listener of this process (one document parses at a time in a worker).
_LISTENERS: list[Callable[[int, int], None]] = []


def page_read(done: int, total: int) -> None:
    """A parser read page ``done`` of ``total`` (1-based); tells the listener, if any."""
    for listener in _LISTENERS:
        listener(done, total)


@contextmanager
def listening(path: Path | None) -> Iterator[None]:
    """While inside, pages read in this process are written to ``path`` (None: ignored)."""
    if path is None:
        yield
        return
    last = [0.0]

    def write(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < WRITE_EVERY_S:
            return
        last[0] = now
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        with suppress(OSError):  # progress is a courtesy: never fail a document over it
            tmp.write_text(f"{done} {total}")
            tmp.replace(path)

    _LISTENERS.append(write)
    try:
        yield
    finally:
        _LISTENERS.remove(write)


def read_pages(path: Path) -> tuple[int, int] | None:
    """``(done, total)`` written to ``path``, or None when nothing (readable) is there."""
    try:
        done, total = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return None
    return (done, total) if 0 <= done <= total else None


class ParseWatcher:
    """A thread that reports the pages read of the document the writer waits on.

    ``follow(doc_id)`` names that document (None while the writer writes one);
    ``report(doc_id, done, total)`` is called when its count changes.
    """

    def __init__(
        self, folder: Path, report: Callable[[str, int, int], None], every_s: float = 0.25
    ) -> None:
        self.folder = folder
        self._report = report
        self._every = every_s
        self._current: str | None = None
        self._seen: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deepwell-parse-pages", daemon=True)

    def path(self, doc_id: str) -> Path:
        return self.folder / doc_id

    def __enter__(self) -> ParseWatcher:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def follow(self, doc_id: str | None) -> None:
        with self._lock:
            if self._current is not None:
                self.path(self._current).unlink(missing_ok=True)
            self._current, self._seen = doc_id, None

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:  # held while reporting: follow() waits, no report comes late
                doc_id = self._current
                if doc_id is None:
                    continue
                pages = read_pages(self.path(doc_id))
                if pages is None or pages == self._seen:
                    continue
                self._seen = pages
                self._report(doc_id, *pages)
