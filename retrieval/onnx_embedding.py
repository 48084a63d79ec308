"""Dense embeddings through onnxruntime: the packaged model exported to ONNX, optionally int8.

An optional fast profile beside :class:`retrieval.embedding.DenseEmbedder`, with
the same public interface. The sentence-transformers model (a BERT encoder with
mean pooling and L2 normalization) is exported once per machine from its verified
safetensors weights with ``torch.onnx.export``, then (by default) dynamically
quantized to int8 weights. The export sits in the model cache under a key made of
the source files' hashes and the export settings; a ``manifest.json`` records the
SHA-256 of what was produced, and every load checks the files against it. Output
hashes are never pinned in code: torch's exporter is not bit-stable across versions.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from core import ModelError, ResolvedModel, get_logger, sha256_file

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

log = get_logger(__name__)

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
#: Bumped when the export procedure changes in a way that changes the produced model.
EXPORT_FORMAT = 1
#: Opset 17 has LayerNormalization as one op; the TorchScript exporter and onnxruntime 1.32 do.
OPSET = 17

_REQUIRED_SOURCES = ("config.json", "model.safetensors", "tokenizer.json")
_OPTIONAL_SOURCES = ("sentence_bert_config.json", "1_Pooling/config.json", "modules.json")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUT = "last_hidden_state"


@dataclass(frozen=True)
class ExportSettings:
    """Everything that shapes the exported file; part of the cache key and the manifest."""

    quantize: bool = True
    opset: int = OPSET
    weight_type: str = "QInt8"
    # Per-tensor int8 scales cost ~0.05 cosine on this model; per-channel keeps it above 0.98.
    per_channel: bool = True
    format: int = EXPORT_FORMAT

    @property
    def variant(self) -> str:
        return "int8" if self.quantize else "fp32"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ModelFacts:
    """What the sentence-transformers configuration says about the model."""

    dim: int
    max_seq_length: int


def source_hashes(model_dir: Path, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of the model files the export reads, keyed by path relative to ``model_dir``.

    ``known`` supplies hashes already verified (a pinned model's), so they are not
    recomputed. Raises :class:`ModelError` when a required file is missing.
    """
    known = known or {}
    hashes: dict[str, str] = {}
    for rel in (*_REQUIRED_SOURCES, *_OPTIONAL_SOURCES):
        path = model_dir / rel
        if not path.is_file():
            if rel in _REQUIRED_SOURCES:
                raise ModelError(f"{model_dir} has no {rel}; the ONNX export needs it")
            continue
        hashes[rel] = known.get(rel) or sha256_file(path)
    return hashes


def cache_key(hashes: Mapping[str, str], settings: ExportSettings) -> str:
    """A short, stable name for one export of one model under one set of settings."""
    facts = {"sources": dict(sorted(hashes.items())), "settings": settings.as_dict()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def model_facts(model_dir: Path) -> ModelFacts:
    """Dimension and token window, checking the model pools the way this module does.

    Raises :class:`ModelError` for a model that does not use mean pooling: the
    pooling here is fixed, so another kind would give silently wrong vectors.
    """
    config = _read_json(model_dir / "config.json")
    pooling_path = model_dir / "1_Pooling" / "config.json"
    if pooling_path.is_file():
        pooling = _read_json(pooling_path)
        if not pooling.get("pooling_mode_mean_tokens") or any(
            pooling.get(k)
            for k in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            )
        ):
            raise ModelError(f"{model_dir}: the ONNX profile supports mean pooling only")
    st_path = model_dir / "sentence_bert_config.json"
    max_len = _read_json(st_path).get("max_seq_length") if st_path.is_file() else None
    if max_len is None:
        max_len = config.get("max_position_embeddings", 512)
    return ModelFacts(dim=int(config["hidden_size"]), max_seq_length=int(max_len))


def export_onnx(model_dir: Path, out_dir: Path, *, quantize: bool = True) -> Path:
    """Export the model in ``model_dir`` to ONNX in ``out_dir``; return the ONNX file's path.

    The transformer is loaded offline from its safetensors weights and traced with
    dynamic batch and sequence axes; with ``quantize`` its weights become int8
    (dynamic quantization, per channel). ``out_dir`` receives ``model.onnx``,
    ``tokenizer.json`` and ``manifest.json`` all at once: they are written to a
    temporary sibling folder that is renamed into place (an existing ``out_dir`` is
    replaced). Raises :class:`ModelError` when the model cannot be loaded or exported.
    """
    settings = ExportSettings(quantize=quantize)
    hashes = source_hashes(model_dir)
    facts = model_facts(model_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        fp32 = tmp / ("model-fp32.onnx" if quantize else ONNX_FILE)
        _trace_to_onnx(model_dir, fp32, settings)
        if quantize:
            _quantize(fp32, tmp / ONNX_FILE, settings)
            fp32.unlink()
        shutil.copyfile(model_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        seconds = time.perf_counter() - started
        manifest = {
            "key": cache_key(hashes, settings),
            "sources": hashes,
            "settings": settings.as_dict(),
            "dim": facts.dim,
            "max_seq_length": facts.max_seq_length,
            "files": {name: sha256_file(tmp / name) for name in (ONNX_FILE, TOKENIZER_FILE)},
            "tools": _tool_versions(),
            "export_seconds": round(seconds, 2),
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "embedding.onnx_exported",
        path=str(out_dir),
        variant=settings.variant,
        seconds=round(seconds, 1),
    )
    return out_dir / ONNX_FILE


def verify_export(
    export_dir: Path, hashes: Mapping[str, str], settings: ExportSettings
) -> dict[str, Any]:
    """The manifest of ``export_dir``, checked against the sources, settings and files.

    Raises :class:`ModelError` when the manifest is missing or unreadable, was made
    from other source files or settings, or a file does not hash to what it records.
    """
    try:
        manifest: dict[str, Any] = json.loads((export_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"ONNX export {export_dir}: no readable {MANIFEST_FILE} ({exc})") from None
    if manifest.get("sources") != dict(hashes):
        raise ModelError(
            f"ONNX export {export_dir} was made from other model files; "
            "delete the folder to export again"
        )
    if manifest.get("settings") != settings.as_dict():
        raise ModelError(f"ONNX export {export_dir} was made with other settings; delete it")
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {ONNX_FILE, TOKENIZER_FILE}:
        raise ModelError(f"ONNX export {export_dir}: manifest lacks the files' hashes")
    if not all(isinstance(manifest.get(k), int) for k in ("dim", "max_seq_length")):
        raise ModelError(f"ONNX export {export_dir}: manifest lacks dim or max_seq_length")
    for name, expected in files.items():
        path = export_dir / name
        actual = sha256_file(path) if path.is_file() else None
        if actual != expected:
            raise ModelError(
                f"ONNX export {export_dir}: {name} hashes to {actual}, manifest says "
                f"{expected}; the file was altered or damaged. Delete the folder to export again"
            )
    return manifest


def prepare_onnx(model: ResolvedModel, cache_dir: Path, *, quantize: bool = True) -> Path:
    """The verified export folder of ``model`` in ``cache_dir``, exported on first use.

    One export per machine and key: concurrent callers wait on a file lock rather
    than export twice. Raises :class:`ModelError` as :func:`export_onnx` and
    :func:`verify_export` do.
    """
    return _prepare(model, cache_dir, ExportSettings(quantize=quantize))[0]


def _prepare(
    model: ResolvedModel, cache_dir: Path, settings: ExportSettings
) -> tuple[Path, dict[str, Any]]:
    hashes = source_hashes(model.path, _known_hashes(model))
    out_dir = cache_dir / "onnx" / f"{model.name}-{settings.variant}-{cache_key(hashes, settings)}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(out_dir.with_name(out_dir.name + ".lock")):
        if not (out_dir / MANIFEST_FILE).is_file():
            export_onnx(model.path, out_dir, quantize=settings.quantize)
    return out_dir, verify_export(out_dir, hashes, settings)


class OnnxEmbedder:
    """Normalized dense vectors through onnxruntime; the interface of ``DenseEmbedder``.

    ``threads`` is onnxruntime's intra-op thread count (default: every core this
    process may use). Texts are tokenized and sorted by length, so a batch pads to
    similar lengths; results come back in input order.

    ``batch_size`` defaults to 1, measured: on CPU, one text per run costs 20-30% less
    CPU time per chunk than batches of 32 (likely: activations stay in cache), and int8
    quantizes activations per run, so in a batch a text's vector moves with its
    batch-mates (cosine down to ~0.98); one at a time, it depends on the text alone.
    """

    def __init__(
        self,
        model: ResolvedModel,
        *,
        cache_dir: Path,
        quantize: bool = True,
        threads: int | None = None,
        batch_size: int = 1,
    ) -> None:
        if model.kind != "embedding":
            raise ModelError(f"{model.name} is not an embedding model")
        if threads is not None and threads < 1:
            raise ModelError(f"onnx threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}")
        self.model_info = model
        self.cache_dir = cache_dir
        self.quantize = quantize
        self.threads = threads or len(os.sched_getaffinity(0))
        self.batch_size = batch_size
        self.export_dir: Path | None = None
        self._manifest: dict[str, Any] = {}
        self._session: Any = None  # onnxruntime.InferenceSession (untyped library)
        self._tokenizer: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def profile(self) -> str:
        """Names the vector space: int8 and fp32 vectors differ slightly from torch's."""
        return f"onnx-{ExportSettings(quantize=self.quantize).variant}"

    def warm_up(self) -> None:
        """Export (first use on this machine), verify, load (idempotent, thread-safe)."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort  # type: ignore[import-untyped]  # ships no type information
            from tokenizers import Tokenizer

            ort.disable_telemetry_events()  # besides ORT_DISABLE_TELEMETRY (core.telemetry)

            export_dir, manifest = _prepare(
                self.model_info, self.cache_dir, ExportSettings(quantize=self.quantize)
            )
            tokenizer = Tokenizer.from_file(str(export_dir / TOKENIZER_FILE))
            # tokenizer.json carries a fixed 128-token pad/truncation; the model reads
            # max_seq_length (256) and padding is done per batch below.
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=int(manifest["max_seq_length"]))
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle workers must not spin: on small machines they steal the cores that
            # parsing workers need while ingest overlaps parsing with embedding.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(
                str(export_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer, self._manifest, self.export_dir = tokenizer, manifest, export_dir
            self._session = session
            log.info(
                "embedding.loaded",
                backend="onnxruntime",
                model=self.model_info.name,
                profile=self.profile,
                dim=self.dim,
                threads=self.threads,
                max_seq_length=self.max_tokens,
            )

    @property
    def dim(self) -> int:
        self._ready()
        return int(self._manifest["dim"])

    @property
    def max_tokens(self) -> int:
        """How many word-pieces the model reads; text beyond is invisible to it."""
        self._ready()
        return int(self._manifest["max_seq_length"])

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for ``texts`` (shape ``len(texts) x dim``), L2-normalized, in input order."""
        session, tokenizer = self._ready()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = tokenizer.encode_batch([str(t) for t in texts])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids, mask = _pad([encodings[i] for i in rows], int(lengths[rows].max()))
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run([_OUTPUT], feed)[0]
            out[rows] = _mean_pool_normalize(np.asarray(hidden, dtype=np.float32), mask)
        return out

    def embed_query(self, text: str) -> list[float]:
        """One query vector."""
        return [float(x) for x in self.embed_documents([text])[0]]

    def describe(self) -> dict[str, object]:
        return {
            "backend": "onnxruntime",
            "profile": self.profile,
            "model": self.model_info.name,
            "path": str(self.export_dir or self.model_info.path),
            "onnx_sha256": self._manifest.get("files", {}).get(ONNX_FILE),
            "threads": self.threads,
            "pinned": self.model_info.pinned,
        }

    def _ready(self) -> tuple[Any, Tokenizer]:
        if self._session is None:
            self.warm_up()
        assert self._tokenizer is not None
        return self._session, self._tokenizer


def _pad(encodings: Sequence[Encoding], length: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Token ids and attention mask, right-padded with id 0 ([PAD]) to ``length``."""
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    return ids, mask


def _mean_pool_normalize(
    hidden: NDArray[np.float32], mask: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Mean over the real tokens (padding excluded), then unit length."""
    weights = mask.astype(np.float32)
    summed: NDArray[np.float32] = np.einsum("bsd,bs->bd", hidden, weights)
    counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    pooled = summed / counts
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return np.asarray(pooled / norms, dtype=np.float32)


def _known_hashes(model: ResolvedModel) -> dict[str, str]:
    """Hashes already verified by model provisioning, by path relative to the model folder."""
    known: dict[str, str] = {}
    for check in model.files:
        digest = check.expected_sha256 or check.actual_sha256
        if digest and check.path.is_relative_to(model.path):
            known[check.path.relative_to(model.path).as_posix()] = digest
    return known


def _trace_to_onnx(model_dir: Path, target: Path, settings: ExportSettings) -> None:
    import torch
    from transformers import AutoModel

    try:
        # Eager attention traces to plain MatMul/Softmax, which onnxruntime fuses and
        # quantizes; use_safetensors refuses a pickled checkpoint.
        encoder = AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, use_safetensors=True, attn_implementation="eager"
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the transformer in {model_dir} for export: {exc}") from exc
    encoder.eval()

    class _Encoder(torch.nn.Module):
        """Positional inputs and one tensor out: what the TorchScript exporter traces."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            hidden: torch.Tensor = out.last_hidden_state
            return hidden

    # A padded row in the example keeps the mask path in the trace (an all-ones mask
    # could be optimised away by transformers' masking utilities).
    ids = torch.tensor([[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter's deprecation and tracer notices are known and harmless
        # here: the only traced branch compares the mask's length to the input's, equal by
        # construction in OnnxEmbedder. The dynamo exporter would need onnxscript.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Encoder(encoder),
                (ids, mask, torch.zeros_like(ids)),
                str(target),
                dynamo=False,
                opset_version=settings.opset,
                input_names=list(_INPUTS),
                output_names=[_OUTPUT],
                dynamic_axes=dict.fromkeys((*_INPUTS, _OUTPUT), axes),
                do_constant_folding=True,
            )
        except Exception as exc:
            raise ModelError(f"ONNX export of {model_dir} failed: {exc}") from exc


def _quantize(source: Path, target: Path, settings: ExportSettings) -> None:
    from onnxruntime.quantization import (  # type: ignore[import-untyped]  # no type information
        QuantType,
        quantize_dynamic,
    )

    with _quiet_root_logger():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=getattr(QuantType, settings.weight_type),
            per_channel=settings.per_channel,
        )


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """quantize_dynamic advises pre-processing through the root logger on every call; not useful."""
    root = logging.getLogger()
    drop = _DropRecords()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _publish(tmp: Path, out_dir: Path) -> None:
    """Rename ``tmp`` to ``out_dir``, so no reader ever sees a half-written export."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out_dir)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object")
    return data


def _tool_versions() -> dict[str, str]:
    from importlib import metadata

    names = ("torch", "transformers", "onnx", "onnxruntime", "tokenizers")
    return {name: metadata.version(name) for name in names}
