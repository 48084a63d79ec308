"""Versioned question sets: questions, reference answers, reference sources, question types.

A dataset is a list of :class:`EvalItem` read from a CSV or JSONL file; its
version is the SHA-256 of its canonical content, so a score is always tied to
the exact questions it was measured on. Formats:

- ``sec-10q``: the SEC 10-Q CSV (``Question, Source Docs, Question Type, Source
  Chunk Type, Answer``; UTF-8 with or without BOM). ``Source Docs`` holds file-name
  globs (``*2023 Q3 AAPL*``), comma-separated.
- ``csv``: columns ``question``, ``answer`` (reference), optional ``sources``
  (globs, ``;``- or ``,``-separated), ``pages`` (``;``-separated integers),
  ``passages`` (``||``-separated), ``question_type``, ``id``.
- ``jsonl``: one object a line with the same keys (``sources``, ``pages``,
  ``passages`` as lists).

A bad row is a :class:`DatasetError` naming the file and line. Registered
datasets live in the ``eval_datasets`` table of the deepwell database; the SEC
set is available as ``sec-10q`` whenever ``eval.data_dir`` holds it.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from sqlalchemy import DateTime, Engine, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import Base, InvalidInputError, NotFoundError, Settings

Format = Literal["sec-10q", "csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("sec-10q", "csv", "jsonl")
SEC_NAME = "sec-10q"
SEC_COLUMNS = ("Question", "Source Docs", "Question Type", "Answer")


class DatasetError(InvalidInputError):
    """A dataset file that cannot be read as the format it claims."""


@dataclass(frozen=True)
class EvalItem:
    """One question with what a good answer, and good retrieval, look like.

    ``sources`` are document-name globs (matched against a chunk's file name);
    ``pages`` and ``passages`` narrow the reference further where a dataset has them.
    """

    qid: str
    question: str
    reference: str
    sources: tuple[str, ...] = ()
    question_type: str = "unspecified"
    chunk_type: str | None = None
    pages: tuple[int, ...] = ()
    passages: tuple[str, ...] = ()

    def matches(self, file_name: str) -> bool:
        """Whether a document of this name is one of the reference sources."""
        return any(fnmatch.fnmatch(file_name, pattern) for pattern in self.sources)

    def reference_docs(self, corpus: Iterable[str]) -> frozenset[str]:
        """The corpus documents the source globs name."""
        return frozenset(name for name in corpus if self.matches(name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    """A named, versioned question set."""

    name: str
    items: tuple[EvalItem, ...]
    path: Path | None = None
    version: str = field(default="")

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(self, "version", content_version(self.items))

    @property
    def question_types(self) -> list[str]:
        return sorted({item.question_type for item in self.items})


def file_name(source_uri: str) -> str:
    """The file name a chunk's ``source_uri`` points at (what source globs match)."""
    return Path(unquote(urlparse(source_uri).path)).name


def content_version(items: Sequence[EvalItem]) -> str:
    """The dataset version: SHA-256 (first 16 hex digits) of its canonical JSON content."""
    blob = json.dumps([i.to_dict() for i in items], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _split(value: str, separators: Sequence[str]) -> tuple[str, ...]:
    parts = [value]
    for sep in separators:
        parts = [p for chunk in parts for p in chunk.split(sep)]
    return tuple(p.strip().strip('"').strip() for p in parts if p.strip().strip('"').strip())


def _pages(value: Any, where: str) -> tuple[int, ...]:
    raw = value if isinstance(value, list) else _split(str(value or ""), (";", ","))
    try:
        return tuple(int(p) for p in raw)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: pages must be integers, got {value!r}") from None


def _item(raw: dict[str, Any], where: str, default_id: str) -> EvalItem:
    question = str(raw.get("question") or "").strip()
    reference = str(raw.get("answer") or raw.get("reference") or "").strip()
    if not question:
        raise DatasetError(f"{where}: empty question")
    if not reference:
        raise DatasetError(f"{where}: no reference answer (column 'answer')")
    sources = raw.get("sources") or ()
    passages = raw.get("passages") or ""
    return EvalItem(
        qid=str(raw.get("id") or default_id),
        question=question,
        reference=reference,
        sources=tuple(sources) if isinstance(sources, list) else _split(str(sources), (";", ",")),
        question_type=str(raw.get("question_type") or "unspecified").strip(),
        chunk_type=(str(raw["chunk_type"]).strip() or None) if raw.get("chunk_type") else None,
        pages=_pages(raw.get("pages"), where),
        passages=tuple(passages) if isinstance(passages, list) else _split(passages, ("||",)),
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:  # -sig: drops a UTF-8 BOM
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read as UTF-8 CSV: {exc}") from exc
    if not columns:
        raise DatasetError(f"{path}: empty file, no header row")
    for i, row in enumerate(rows, start=2):
        if None in row:  # more cells than the header names
            raise DatasetError(f"{path}: record {i}: more cells than the header has columns")
    return rows


def load_sec_10q(path: Path, name: str = SEC_NAME) -> Dataset:
    """The SEC 10-Q question set (``qna_data.csv``)."""
    rows = _read_csv(path)
    missing = [c for c in SEC_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} of the SEC format")
    items = []
    for i, row in enumerate(rows, start=1):
        where = f"{path}: question {i}"
        if not (row.get("Source Docs") or "").strip():
            raise DatasetError(f"{where}: no Source Docs")
        items.append(
            _item(
                {
                    "id": f"q{i:03d}",
                    "question": row["Question"],
                    "answer": row["Answer"],
                    "sources": row["Source Docs"],
                    "question_type": row["Question Type"],
                    "chunk_type": row.get("Source Chunk Type"),
                },
                where,
                f"q{i:03d}",
            )
        )
    return Dataset(name, tuple(items), path)


def load_csv(path: Path, name: str) -> Dataset:
    """A question set in the generic CSV format (see the module docstring)."""
    rows = _read_csv(path)
    if rows and "question" not in rows[0]:
        raise DatasetError(f"{path}: no 'question' column (columns: {', '.join(rows[0])})")
    items = [
        _item(
            {k: v for k, v in row.items() if v not in (None, "")}, f"{path}: row {i + 2}", f"q{i}"
        )
        for i, row in enumerate(rows)
    ]
    return Dataset(name, tuple(items), path)


def load_jsonl(path: Path, name: str) -> Dataset:
    """A question set in JSONL, one object a line (blank lines skipped)."""
    items: list[EvalItem] = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read as UTF-8: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: line {n}: expected an object")
        items.append(_item(raw, f"{path}: line {n}", f"q{len(items)}"))
    return Dataset(name, tuple(items), path)


def load(path: Path, fmt: Format | None = None, name: str | None = None) -> Dataset:
    """Read ``path`` as ``fmt`` (guessed from the header or suffix when None)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    fmt = fmt or guess_format(path)
    name = name or path.stem
    if fmt == "sec-10q":
        return load_sec_10q(path, name)
    if fmt == "csv":
        return load_csv(path, name)
    return load_jsonl(path, name)


def guess_format(path: Path) -> Format:
    """``jsonl`` by suffix; a CSV whose header has the SEC columns is ``sec-10q``."""
    if path.suffix.lower() in (".jsonl", ".json"):
        return "jsonl"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    return "sec-10q" if all(c in header for c in SEC_COLUMNS) else "csv"


def save_jsonl(dataset: Dataset, path: Path) -> None:
    """Write ``dataset`` in the JSONL format :func:`load_jsonl` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for item in dataset.items:
            raw = item.to_dict()
            raw["id"] = raw.pop("qid")
            raw["answer"] = raw.pop("reference")
            fh.write(json.dumps(raw, ensure_ascii=False) + "\n")


# --- the registry ------------------------------------------------------------------------


class DatasetRow(Base):
    __tablename__ = "eval_datasets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column()
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    path: Path
    format: str
    version: str
    items: int
    builtin: bool = False


class DatasetRegistry:
    """Named datasets: those registered in the database, plus the built-in SEC set."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine, tables=[DatasetRow.__table__])  # type: ignore[list-item]

    @property
    def sec_path(self) -> Path:
        return self.settings.eval.data_dir / SEC_NAME / "qna_data.csv"

    def register(self, name: str, path: Path, fmt: Format | None = None) -> DatasetInfo:
        """Check that ``path`` loads, then record it under ``name`` (replacing any before)."""
        if not name.strip() or "/" in name:
            raise InvalidInputError(f"dataset name {name!r}: use a short name without '/'")
        path = path.resolve()
        dataset = load(path, fmt, name)
        fmt = fmt or guess_format(path)
        with Session(self.engine) as s, s.begin():
            s.merge(
                DatasetRow(
                    name=name,
                    path=str(path),
                    format=fmt,
                    version=dataset.version,
                    items=len(dataset.items),
                    registered_at=datetime.now(UTC),
                )
            )
        return DatasetInfo(name, path, fmt, dataset.version, len(dataset.items))

    def list(self) -> list[DatasetInfo]:
        """Every dataset by name; versions are those of the files as they are now."""
        out: dict[str, DatasetInfo] = {}
        if self.sec_path.is_file():
            sec = load_sec_10q(self.sec_path)
            out[SEC_NAME] = DatasetInfo(
                SEC_NAME, self.sec_path, "sec-10q", sec.version, len(sec.items), builtin=True
            )
        with Session(self.engine) as s:
            for row in s.scalars(select(DatasetRow).order_by(DatasetRow.name)):
                out[row.name] = DatasetInfo(
                    row.name, Path(row.path), row.format, row.version, row.items
                )
        return [out[k] for k in sorted(out)]

    def get(self, name: str) -> Dataset:
        """Load the dataset registered as ``name`` (the file as it is now)."""
        with Session(self.engine) as s:
            row = s.get(DatasetRow, name)
        if row is not None:
            fmt = next((f for f in FORMATS if f == row.format), None)
            return load(Path(row.path), fmt, name)
        if name == SEC_NAME and self.sec_path.is_file():
            return load_sec_10q(self.sec_path)
        known = ", ".join(i.name for i in self.list()) or "none"
        raise NotFoundError(
            f"no dataset {name!r} (registered: {known}); "
            f"add one with `deepwell eval dataset register NAME PATH`"
        )
