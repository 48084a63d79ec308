"""Near-duplicate checks in memory against the registry database: cost per chunk, same result.

Run: ``.venv/bin/python -m bench.near_duplicates [--data DIR] [--pg-url URL]``.

Cleans the SEC 10-Q filings (pypdfium2 text layer in ~800-character windows, one
document per filing, in file order: later quarters of a company repeat much of the
earlier ones) with the signatures kept (a) in a process's memory
(``ingest.minhash.NearDuplicateIndex``, what each worker had before), (b) in SQLite
and, with ``--pg-url``, (c) in PostgreSQL (``ingest.signatures.SignatureStore``, what
every worker shares now). Per document the backends run in rotating order, so
contention on a shared machine falls on each alike. Prints, per backend, the seconds of
``clean_chunks`` (MinHash included), milliseconds per chunk, and the chunks flagged
(which must be the same for all).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import core  # noqa: F401  (telemetry off first)
from bench.embedding_profiles import DEFAULT_DATA, chunk_pdfs
from core import Settings, configure_logging
from core.db import make_engine
from core.migrate import upgrade_schema
from ingest.chunking import ChunkDraft
from ingest.cleaning import CleaningOptions, clean_chunks
from ingest.minhash import NearDuplicateIndex, SignatureIndex
from ingest.signatures import SignatureStore

OPTIONS = CleaningOptions()  # deepwell's defaults: flag at an estimated Jaccard of 0.9
Opener = Callable[[str], AbstractContextManager[SignatureIndex]]


def memory_backend() -> Opener:
    index = NearDuplicateIndex(OPTIONS.num_perm, OPTIONS.lsh_rows)

    @contextmanager
    def opened(_doc: str) -> Iterator[SignatureIndex]:
        yield index

    return opened


def database_backend(url: str | None, data_dir: Path) -> Opener:
    engine = make_engine(Settings(data_dir=data_dir, database={"url": url}))
    upgrade_schema(engine)
    store = SignatureStore(engine, OPTIONS.num_perm, OPTIONS.lsh_rows)
    return lambda doc: store.document("bench", "scope", doc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pg-url", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args(argv)
    configure_logging("warning")

    chunks, pages, _ = chunk_pdfs(args.data / "docs")
    docs: dict[str, list[ChunkDraft]] = defaultdict(list)
    for c in chunks:
        docs[c.doc].append(ChunkDraft(chunk_index=len(docs[c.doc]), text=c.text))
    print(f"{len(docs)} documents, {pages} pages, {len(chunks)} chunks")

    with tempfile.TemporaryDirectory() as tmp:
        backends: dict[str, Opener] = {
            "memory": memory_backend(),
            "sqlite": database_backend(None, Path(tmp) / "data"),
        }
        if args.pg_url:
            backends["postgresql"] = database_backend(args.pg_url, Path(tmp) / "pg")
        seconds = dict.fromkeys(backends, 0.0)
        flagged = dict.fromkeys(backends, 0)
        names = list(backends)
        for i, (doc, drafts) in enumerate(docs.items()):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                with backends[name](doc) as near:
                    result = clean_chunks(drafts, doc_id=doc, near_index=near, options=OPTIONS)
                seconds[name] += time.perf_counter() - started
                flagged[name] += sum(c.near_duplicate_of is not None for c in result.chunks)

    print(f"{'backend':<12} {'clean s':>8} {'ms/chunk':>9} {'flagged':>8}")
    for name in names:
        per_chunk = 1000 * seconds[name] / len(chunks)
        print(f"{name:<12} {seconds[name]:>8.2f} {per_chunk:>9.2f} {flagged[name]:>8}")


if __name__ == "__main__":
    main()
