"""Where documents come from: folders, single files, uploaded bytes — one shape for all.

Every source yields :class:`SourceDocument` records: a stable ``doc_id`` derived
from the tenant and source URI, the bytes' SHA-256, the access list and tenant.
Problems found while walking (unreadable files, symlink loops, oversized files)
are yielded as records with ``problem`` set, so they fail alone and are reported.

Access lists come from, most specific first: a sidecar ``<file>.acl.json``; the
nearest ``.deepwell-acl.json`` folder rule at or above the file (up to the
ingested root); the ``acl`` given to the ingest call; ``ingest.default_acl``.
A sidecar or rule is JSON ``{"acl": ["group:finance", "user:ann"], "tenant": "acme",
"metadata": {...}}``; every key is optional. ``"*"`` makes a document public
within its tenant, and only when written explicitly.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import InvalidInputError

SIDECAR_SUFFIX = ".acl.json"
FOLDER_RULE = ".deepwell-acl.json"
_DOC_NAMESPACE = uuid.UUID("6f1c7a2e-4d0b-5c39-9a57-0d2f3e8b1c44")
_READ_BLOCK = 1 << 20


@dataclass
class SourceDocument:
    """One document to ingest, before parsing."""

    source_uri: str
    filename: str
    tenant: str
    acl: list[str]
    path: Path | None = None
    data: bytes | None = None
    size_bytes: int = 0
    content_sha256: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.tenant, self.source_uri)

    def read(self) -> bytes:
        """The document's bytes (from memory or disk)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def doc_id_for(tenant: str, source_uri: str) -> str:
    """A stable id for a document: the same tenant and URI always give the same id."""
    return str(uuid.uuid5(_DOC_NAMESPACE, f"{tenant}\x1f{source_uri}"))


def normalize_acl(entries: Sequence[str]) -> list[str]:
    """Validate and canonicalize ACL entries: ``*``, ``user:<id>`` or ``group:<id>``.

    A bare name is taken as a group (``finance`` → ``group:finance``).
    """
    out: set[str] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            out.add(entry)
            continue
        kind, sep, name = entry.partition(":")
        if not sep:
            kind, name = "group", entry
        if kind not in ("user", "group") or not name.strip():
            raise InvalidInputError(
                f"invalid ACL entry {raw!r}: use '*', 'user:<id>' or 'group:<id>'"
            )
        out.add(f"{kind}:{name.strip()}")
    return sorted(out)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _read_rule(path: Path) -> dict[str, Any]:
    try:
        rule = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: unreadable access rule ({exc})") from exc
    if not isinstance(rule, dict) or not set(rule) <= {"acl", "tenant", "metadata"}:
        raise InvalidInputError(f"{path}: an access rule is an object with acl, tenant, metadata")
    return rule


@dataclass
class FolderSource:
    """Every file under ``root`` (recursive), filtered by include/exclude globs.

    Globs match the path relative to ``root`` (``**/*.pdf``, ``drafts/*``); a file
    is taken when it matches an include (default: all) and no exclude. Symlinks to
    files are followed; symlinked folders are followed once (loops are reported).
    """

    root: Path
    tenant: str
    acl: list[str]
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    max_bytes: int | None = None

    def _wanted(self, rel: str) -> bool:
        if any(fnmatch.fnmatch(rel, pat) for pat in self.exclude):
            return False
        return not self.include or any(fnmatch.fnmatch(rel, pat) for pat in self.include)

    def __iter__(self) -> Iterator[SourceDocument]:
        root = self.root.resolve()
        if root.is_file():
            yield from FileSource([root], self.tenant, self.acl, max_bytes=self.max_bytes)
            return
        if not root.is_dir():
            raise InvalidInputError(f"{self.root}: no such file or folder")
        seen_dirs: set[tuple[int, int]] = set()
        rules: dict[Path, dict[str, Any]] = {}
        unreadable: list[OSError] = []
        for dirpath, dirnames, filenames in os.walk(
            root, followlinks=True, onerror=unreadable.append
        ):
            while unreadable:  # folders os.walk could not list: reported, not skipped silently
                err = unreadable.pop()
                reason = "permission denied" if isinstance(err, PermissionError) else "unreadable"
                yield self._problem(Path(str(err.filename)), f"{reason}: folder cannot be listed")
            here = Path(dirpath)
            st = here.stat()
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                yield self._problem(here, "symlink loop: folder already visited")
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirnames.sort()
            if not os.access(here, os.R_OK | os.X_OK):
                yield self._problem(here, "permission denied: folder is not readable")
                dirnames[:] = []
                continue
            if FOLDER_RULE in filenames:
                rules[here] = _read_rule(here / FOLDER_RULE)
            for name in sorted(filenames):
                if name == FOLDER_RULE or name.endswith(SIDECAR_SUFFIX):
                    continue
                path = here / name
                rel = path.relative_to(root).as_posix()
                if not self._wanted(rel):
                    continue
                rule = self._rule_for(here, root, rules)
                yield _describe_file(path, rel, self, rule)
        for err in unreadable:
            reason = "permission denied" if isinstance(err, PermissionError) else "unreadable"
            yield self._problem(Path(str(err.filename)), f"{reason}: folder cannot be listed")

    def _rule_for(
        self, folder: Path, root: Path, rules: dict[Path, dict[str, Any]]
    ) -> dict[str, Any]:
        for candidate in (folder, *folder.parents):
            if candidate in rules:
                return rules[candidate]
            if candidate == root:
                break
        return {}

    def _problem(self, path: Path, reason: str) -> SourceDocument:
        return SourceDocument(
            source_uri=path.as_uri(), filename=path.name, tenant=self.tenant, acl=[], problem=reason
        )


@dataclass
class FileSource:
    """Explicit files (the CLI's ``deepwell ingest a.pdf b.docx``)."""

    paths: Sequence[Path]
    tenant: str
    acl: list[str]
    max_bytes: int | None = None

    def __iter__(self) -> Iterator[SourceDocument]:
        for p in self.paths:
            path = p.resolve()
            if path.is_dir():
                yield from FolderSource(path, self.tenant, self.acl, max_bytes=self.max_bytes)
                continue
            folder_rule = path.parent / FOLDER_RULE
            rule = _read_rule(folder_rule) if folder_rule.is_file() else {}
            holder = FolderSource(path.parent, self.tenant, self.acl, max_bytes=self.max_bytes)
            yield _describe_file(path, path.name, holder, rule)


def bytes_source(
    data: bytes,
    *,
    filename: str,
    tenant: str,
    acl: Sequence[str],
    source_uri: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> SourceDocument:
    """An uploaded document. Its URI defaults to ``upload://<tenant>/<filename>``."""
    if not filename or "/" in filename or filename in (".", ".."):
        raise InvalidInputError(f"invalid file name {filename!r}")
    return SourceDocument(
        source_uri=source_uri or f"upload://{tenant}/{filename}",
        filename=filename,
        tenant=tenant,
        acl=normalize_acl(acl),
        data=data,
        size_bytes=len(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
        metadata=dict(metadata or {}),
    )


def _describe_file(path: Path, rel: str, src: FolderSource, rule: dict[str, Any]) -> SourceDocument:
    doc = SourceDocument(
        source_uri=path.absolute().as_uri(),
        filename=path.name,
        tenant=src.tenant,
        acl=[],
        path=path,
        metadata={"relative_path": rel},
    )
    try:
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        own = _read_rule(sidecar) if sidecar.is_file() else {}
        merged = {**rule, **own}
        doc.tenant = str(merged.get("tenant", src.tenant))
        doc.acl = normalize_acl(merged.get("acl", src.acl))
        doc.metadata |= dict(merged.get("metadata", {}))
        st = path.stat()  # follows symlinks; a dangling link raises here
        doc.size_bytes = st.st_size
        if src.max_bytes is not None and st.st_size > src.max_bytes:
            doc.problem = (
                f"too large: {st.st_size / 1e6:.1f} MB exceeds the limit of "
                f"{src.max_bytes / 1e6:.1f} MB (ingest.max_file_mb)"
            )
            return doc
        if not os.access(path, os.R_OK):
            doc.problem = "permission denied: file is not readable"
            return doc
        doc.content_sha256 = _sha256_of(path)
    except InvalidInputError as exc:
        doc.problem = str(exc)
    except FileNotFoundError:
        doc.problem = "broken symlink or file vanished while reading"
    except PermissionError:
        doc.problem = "permission denied: file is not readable"
    except OSError as exc:
        doc.problem = f"unreadable: {exc.strerror or exc}"
    return doc
