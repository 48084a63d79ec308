"""The ONNX embedding profile against the torch model it is exported from.

One export per session (fp32 and int8, ~8 s with importing torch) into a
temporary cache; every test reuses it.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core import ModelError, ResolvedModel, Settings, configured_embedding
from retrieval.embedding import DenseEmbedder
from retrieval.onnx_embedding import (
    MANIFEST_FILE,
    ONNX_FILE,
    ExportSettings,
    OnnxEmbedder,
    export_onnx,
    model_facts,
    prepare_onnx,
    source_hashes,
    verify_export,
)

SENTENCES = [
    "Apple's total net sales decreased 1% year over year in the third quarter.",
    "What was Microsoft's revenue from cloud services?",
    "The Company repurchased $18.0 billion of its common stock during the quarter.",
    "Risk factors include supply chain disruptions and foreign exchange rates.",
    "Intel reported an operating loss in its client computing group.",
    "hello world",
]


@pytest.fixture(scope="session")
def model() -> ResolvedModel:
    return configured_embedding(Settings())


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def onnx(model: ResolvedModel, cache: Path) -> dict[str, OnnxEmbedder]:
    """Both profiles, exported once for the session."""
    made = {
        "int8": OnnxEmbedder(model, cache_dir=cache, quantize=True, batch_size=4),
        "fp32": OnnxEmbedder(model, cache_dir=cache, quantize=False, batch_size=4),
    }
    started = time.perf_counter()
    for emb in made.values():
        emb.warm_up()
    print(f"ONNX export + load (fp32, int8): {time.perf_counter() - started:.1f}s")
    return made


@pytest.fixture(scope="session")
def reference(model: ResolvedModel) -> np.ndarray:
    """The torch model's vectors for :data:`SENTENCES`."""
    return DenseEmbedder(model).embed_documents(SENTENCES)


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_vectors_are_normalized_with_the_models_shape(
    onnx: dict[str, OnnxEmbedder], variant: str
) -> None:
    emb = onnx[variant]
    vectors = emb.embed_documents(SENTENCES)
    assert (emb.dim, emb.max_tokens) == (384, 256)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = emb.embed_query(SENTENCES[1])
    assert len(query) == 384
    assert all(isinstance(x, float) for x in query)


@pytest.mark.parametrize(("variant", "floor"), [("int8", 0.98), ("fp32", 0.999)])
def test_close_to_the_torch_model(
    onnx: dict[str, OnnxEmbedder], reference: np.ndarray, variant: str, floor: float
) -> None:
    vectors = onnx[variant].embed_documents(SENTENCES)
    cosines = np.einsum("ij,ij->i", vectors, reference)
    assert cosines.min() >= floor, cosines


def test_long_text_is_truncated_like_the_torch_model(
    onnx: dict[str, OnnxEmbedder], model: ResolvedModel
) -> None:
    long = " ".join(f"Revenue grew in segment {i} by {i % 7} percent." for i in range(200))
    torch_vec = DenseEmbedder(model).embed_documents([long])[0]
    assert float(onnx["fp32"].embed_documents([long])[0] @ torch_vec) >= 0.999


def test_order_is_preserved_across_length_sorted_batches(onnx: dict[str, OnnxEmbedder]) -> None:
    # Lengths deliberately out of order; batch_size 4 spreads them over several batches.
    texts = [SENTENCES[0] * 5, "tax", SENTENCES[3], "", SENTENCES[2] * 2, "a b", SENTENCES[5]]
    emb = onnx["fp32"]
    together = emb.embed_documents(texts)
    alone = np.stack([emb.embed_documents([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    # int8 quantizes activations per batch, so batch-mates nudge a vector; each must
    # still be closest to its own text.
    mixed = onnx["int8"].embed_documents(texts)
    assert (np.argmax(mixed @ alone.T, axis=1) == np.arange(len(texts))).all()


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_empty_input(onnx: dict[str, OnnxEmbedder], variant: str) -> None:
    out = onnx[variant].embed_documents([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_concurrent_queries_match_sequential(onnx: dict[str, OnnxEmbedder]) -> None:
    emb = onnx["int8"]
    expected = [emb.embed_query(s) for s in SENTENCES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(emb.embed_query, SENTENCES * 4))
    for i, vec in enumerate(got):
        np.testing.assert_allclose(vec, expected[i % len(SENTENCES)], atol=1e-6)


def test_export_is_cached_and_described(
    onnx: dict[str, OnnxEmbedder], model: ResolvedModel, cache: Path
) -> None:
    emb = onnx["int8"]
    assert emb.export_dir is not None
    mtime = (emb.export_dir / ONNX_FILE).stat().st_mtime_ns
    assert prepare_onnx(model, cache, quantize=True) == emb.export_dir
    assert (emb.export_dir / ONNX_FILE).stat().st_mtime_ns == mtime  # not exported again
    manifest = json.loads((emb.export_dir / MANIFEST_FILE).read_text())
    described = emb.describe()
    assert described["profile"] == "onnx-int8"
    assert described["onnx_sha256"] == manifest["files"][ONNX_FILE]
    assert manifest["sources"]["model.safetensors"] == next(
        f.expected_sha256 for f in model.files if f.path.name == "model.safetensors"
    )


@pytest.fixture
def export_copy(onnx: dict[str, OnnxEmbedder], tmp_path: Path) -> Path:
    """A private copy of the session's int8 export, free to damage."""
    assert onnx["int8"].export_dir is not None
    target = tmp_path / "export"
    shutil.copytree(onnx["int8"].export_dir, target)
    return target


def test_verify_accepts_an_intact_export(export_copy: Path, model: ResolvedModel) -> None:
    manifest = verify_export(export_copy, source_hashes(model.path), ExportSettings())
    assert manifest["dim"] == 384


def test_altered_onnx_file_raises(export_copy: Path, model: ResolvedModel) -> None:
    with (export_copy / ONNX_FILE).open("r+b") as fh:
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="hashes to"):
        verify_export(export_copy, source_hashes(model.path), ExportSettings())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sources", {"model.safetensors": "0" * 64}, "other model files"),
        ("settings", {**ExportSettings().as_dict(), "per_channel": False}, "other settings"),
        ("files", {ONNX_FILE: "0" * 64}, "lacks the files' hashes"),
        ("dim", None, "lacks dim"),
    ],
)
def test_manifest_mismatch_raises(
    export_copy: Path, model: ResolvedModel, field: str, value: object, message: str
) -> None:
    path = export_copy / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest[field] = value
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=message):
        verify_export(export_copy, source_hashes(model.path), ExportSettings())


def test_missing_manifest_raises(export_copy: Path, model: ResolvedModel) -> None:
    (export_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelError, match="no readable"):
        verify_export(export_copy, source_hashes(model.path), ExportSettings())


def test_embedder_refuses_a_damaged_cached_export(
    onnx: dict[str, OnnxEmbedder], model: ResolvedModel, cache: Path, tmp_path: Path
) -> None:
    damaged_cache = tmp_path / "cache"
    shutil.copytree(cache, damaged_cache)
    assert onnx["fp32"].export_dir is not None
    onnx_file = damaged_cache / "onnx" / onnx["fp32"].export_dir.name / ONNX_FILE
    onnx_file.write_bytes(onnx_file.read_bytes()[:-16])
    with pytest.raises(ModelError, match="altered or damaged"):
        OnnxEmbedder(model, cache_dir=damaged_cache, quantize=False).warm_up()


def test_export_replaces_an_existing_folder(model: ResolvedModel, tmp_path: Path) -> None:
    out = tmp_path / "fp32"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    path = export_onnx(model.path, out, quantize=False)
    assert path == out / ONNX_FILE
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_FILE, ONNX_FILE, "tokenizer.json"]
    assert not list(tmp_path.glob(".fp32*"))  # no temporary folder left behind


def test_other_pooling_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ModelError, match="mean pooling"):
        model_facts(tmp_path)


def test_bad_arguments_are_refused(model: ResolvedModel, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="threads"):
        OnnxEmbedder(model, cache_dir=tmp_path, threads=0)
    with pytest.raises(ModelError, match="batch_size"):
        OnnxEmbedder(model, cache_dir=tmp_path, batch_size=0)


def test_manifest_hash_that_does_not_match_the_file_raises(
    export_copy: Path, model: ResolvedModel
) -> None:
    path = export_copy / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["files"][ONNX_FILE] = "0" * 64
    path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="manifest says 0000"):
        verify_export(export_copy, source_hashes(model.path), ExportSettings())


def test_one_at_a_time_int8_vectors_do_not_depend_on_other_texts(
    onnx: dict[str, OnnxEmbedder], model: ResolvedModel, cache: Path
) -> None:
    single = OnnxEmbedder(model, cache_dir=cache, quantize=True)  # default batch_size 1
    together = single.embed_documents([*SENTENCES, SENTENCES[0] * 8])
    np.testing.assert_array_equal(together[1], single.embed_documents([SENTENCES[1]])[0])
    np.testing.assert_array_equal(
        together[1], np.asarray(single.embed_query(SENTENCES[1]), np.float32)
    )
