"""The fine-tuned baseline: Q/A generation, the adapter cache key, and (slow) a real LoRA run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core import FinetuneSettings, Principal, Settings
from eval.finetune import (
    CorpusChunk,
    adapter_key,
    adapter_path,
    cached_adapter,
    corpus_chunks,
    corpus_signature,
    finetune,
    generate_qa,
    sample_chunks,
)
from retrieval import open_index
from tests.eval.corpus import build_index

READER = Principal(user="eval")
CHUNK = CorpusChunk(
    "c1", "2023 Q1 ACME.pdf", "Acme widget revenue was $4,210 million. Hello there."
)


def test_generate_qa_paraphrases_claims() -> None:
    pairs = generate_qa(CHUNK, paraphrases=3)
    assert len(pairs) == 3
    assert len({p.question for p in pairs}) == 3
    assert all("2023 Q1 ACME" in p.question for p in pairs)
    assert all(p.answer == "Acme widget revenue was $4,210 million." for p in pairs)
    assert generate_qa(CHUNK, paraphrases=3) == pairs  # deterministic


def test_adapter_key_changes_with_corpus_model_and_settings() -> None:
    cfg = FinetuneSettings()
    sig = corpus_signature([CHUNK])
    key = adapter_key(sig, "smollm2", "abc", cfg)
    assert adapter_key(sig, "smollm2", "abc", FinetuneSettings()) == key
    other = CorpusChunk("c1", CHUNK.doc, CHUNK.text + " More.")
    assert adapter_key(corpus_signature([other]), "smollm2", "abc", cfg) != key
    assert adapter_key(sig, "qwen", "abc", cfg) != key
    assert adapter_key(sig, "smollm2", "abd", cfg) != key
    assert adapter_key(sig, "smollm2", "abc", cfg.model_copy(update={"max_steps": 7})) != key


def test_sample_is_deterministic_and_bounded() -> None:
    chunks = [CorpusChunk(f"c{i:02d}", "d", f"t{i}") for i in range(30)]
    picked = sample_chunks(chunks, 5, seed=0)
    assert len(picked) == 5
    assert sample_chunks(list(reversed(chunks)), 5, seed=0) == picked
    assert sample_chunks(chunks, 50, seed=0) == chunks


def test_cached_adapter_is_reused_without_training(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    build_index(settings.data_dir)
    with open_index(settings) as index:
        chunks = corpus_chunks(index, READER)
        assert all("9,999" not in c.text for c in chunks)  # only what the principal may read
        cfg = settings.eval.finetune
        sample = sample_chunks(chunks, cfg.sample_chunks, cfg.seed)
        from eval.finetune import _model_sha

        key = adapter_key(
            corpus_signature(sample), settings.eval.model, _model_sha(settings.eval.model), cfg
        )
        assert cached_adapter(settings, key) is None
        path = adapter_path(settings, key)
        path.mkdir(parents=True)
        meta = {"key": key, "chunks": 6, "qa_pairs": 9, "steps": 3, "seconds": 1.0, "model": "m"}
        (path / "deepwell-finetune.json").write_text(json.dumps(meta))
        result = finetune(settings, index, READER)  # would need gguf + torch training otherwise
    assert result.cached
    assert result.path == path
    assert result.steps == 3


@pytest.mark.slow
def test_lora_finetune_and_answer_with_smollm(tmp_path: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("transformers needs the `gguf` package to load GGUF models (not installed)")
    from eval.hf_llm import HFLoRALLM
    from retrieval import Message

    settings = Settings(
        data_dir=tmp_path / "data",
        eval={"finetune": {"max_steps": 4, "batch_size": 2, "sample_chunks": 6}, "max_tokens": 12},
    )
    build_index(settings.data_dir)
    with open_index(settings) as index:
        result = finetune(settings, index, READER)
        assert not result.cached
        assert result.steps == 4
        assert (result.path / "adapter_config.json").is_file()
        assert not list(result.path.glob("model*.safetensors"))  # the adapter only
        again = finetune(settings, index, READER)
    assert again.cached
    assert again.key == result.key
    llm = HFLoRALLM(settings, result.path)
    done = llm.complete([Message("user", "What was Acme widget revenue?")])
    assert 0 < done.completion_tokens <= 12
    llm.close()
