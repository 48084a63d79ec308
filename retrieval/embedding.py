"""Dense embeddings with sentence-transformers, shared by ingestion and search.

The model is loaded once (``warm_up``) from a verified local path; nothing is
downloaded. Query and document texts use the same model, so the vector space of
the index is defined here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from core import ModelError, ResolvedModel, Settings, choose_backend, get_logger

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = get_logger(__name__)


class Embedder(Protocol):
    """What ingestion and search need from a dense embedding model."""

    model_info: ResolvedModel

    @property
    def profile(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def warm_up(self) -> None: ...

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def describe(self) -> dict[str, object]: ...


def _torch(settings: Settings, model: ResolvedModel) -> Embedder:
    emb = settings.embedding
    return DenseEmbedder(model, device=emb.device, batch_size=emb.batch_size)


def _onnx(quantize: bool) -> Callable[[Settings, ResolvedModel], Embedder]:
    def build(settings: Settings, model: ResolvedModel) -> Embedder:
        from retrieval.onnx_embedding import OnnxEmbedder  # onnxruntime loads only when chosen

        emb = settings.embedding
        return OnnxEmbedder(
            model,
            cache_dir=settings.models.cache_dir,
            quantize=quantize,
            threads=emb.threads,
            batch_size=emb.onnx_batch_size,
        )

    return build


#: The embedders by ``embedding.backend`` name; each builds one for a resolved model.
EMBEDDING_BACKENDS: dict[str, Callable[[Settings, ResolvedModel], Embedder]] = {
    "torch": _torch,
    "onnx-int8": _onnx(quantize=True),
    "onnx-fp32": _onnx(quantize=False),
}


def make_embedder(settings: Settings, model: ResolvedModel) -> Embedder:
    """The embedder ``embedding.backend`` names, for ``model`` (not loaded yet).

    :raises core.errors.ConfigError: no embedding backend of that name (the valid ones listed).
    """
    build = choose_backend("embedding.backend", settings.embedding.backend, EMBEDDING_BACKENDS)
    return build(settings, model)


class DenseEmbedder:
    """Normalized dense vectors for texts with sentence-transformers (torch, CPU or GPU)."""

    profile = "torch"

    def __init__(self, model: ResolvedModel, *, device: str = "cpu", batch_size: int = 32) -> None:
        if model.kind != "embedding":
            raise ModelError(f"{model.name} is not an embedding model")
        self.model_info = model
        self.device = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(
                str(self.model_info.path), device=self.device, local_files_only=True
            )
            log.info(
                "embedding.loaded",
                model=self.model_info.name,
                dim=self.dim,
                max_seq_length=self._model.max_seq_length,
            )

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self.warm_up()
        assert self._model is not None
        return self._model

    def _config(self, name: str, key: str) -> int | None:
        """A value from the model folder's sentence-transformers config, without loading it."""
        try:
            value = json.loads((self.model_info.path / name).read_text())[key]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return int(value) if isinstance(value, int) else None

    @property
    def dim(self) -> int:
        if self._model is None and (
            known := self._config("1_Pooling/config.json", "word_embedding_dimension")
        ):
            return known  # lets a no-op ingest run skip loading torch and the weights
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"{self.model_info.name} does not report its embedding dimension")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """How many word-pieces the model reads; text beyond is invisible to it."""
        if self._model is None and (
            known := self._config("sentence_bert_config.json", "max_seq_length")
        ):
            return known
        return int(self.model.max_seq_length or 0)

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors for ``texts`` (shape ``len(texts) x dim``), batched."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> list[float]:
        """One query vector."""
        return [float(x) for x in self.embed_documents([text])[0]]

    def describe(self) -> dict[str, object]:
        return {
            "backend": "sentence-transformers",
            "model": self.model_info.name,
            "path": str(self.model_info.path),
            "device": self.device,
            "pinned": self.model_info.pinned,
        }
