"""The fine-tuned closed-book baseline: LoRA on the base model, trained on the corpus.

Recipe (knowledge injection as in Ovadia et al., "Fine-tuning or retrieval?"):
a deterministic sample of the chunks the evaluation principal may read (a model
cannot enforce ACLs, so it learns only what its askers could read anyway), then

1. continued training on the chunk texts, each headed by its document's name;
2. question/answer pairs generated from the chunks' sentences, each fact asked
   in ``paraphrases`` wordings, in the same chat prompt the closed-book system
   uses (loss on the answer only).

The base model comes from its GGUF through transformers (``gguf_file=``,
dequantized to float32; needs the ``gguf`` package). Only the adapter is saved,
under ``<data_dir>/eval/adapters/<key>``, where the key hashes the corpus
sample, the model file and the fine-tune settings: a nightly run retrains only
when one of them changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import FinetuneSettings, ModelError, Principal, Settings, get_logger, get_spec, prepare
from eval.datasets import file_name
from retrieval import VectorIndex, readable_chunks

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = get_logger(__name__)

#: Bump when the recipe changes, so cached adapters are retrained.
RECIPE_VERSION = 1

CLOSED_BOOK_SYSTEM = (
    "You answer questions about companies and their documents from what you know. "
    "Answer in one or two sentences and state figures exactly, with their units."
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAIM = re.compile(
    r"^(?P<subject>[A-Z][^,;:()]{3,90}?)\s+"
    r"(?P<verb>was|were|is|are|increased|decreased|grew|declined|rose|fell|totaled|"
    r"included|represented|remained)\b(?P<rest>.{8,})$"
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")
_TEMPLATES = (
    "What {verb_q} {subject} according to {doc}?",
    "In {doc}, what {verb_q} {subject}?",
    "According to {doc}, how did {subject_lc} change or what did it amount to?",
    "What does {doc} report about {subject_lc}?",
    "{doc}: what {verb_q} {subject_lc}?",
    "Can you tell me what {subject_lc} {verb} in {doc}?",
    "What is stated in {doc} regarding {subject_lc}?",
    "Per {doc}, what {verb_q} {subject_lc}?",
)


@dataclass(frozen=True)
class CorpusChunk:
    """A chunk as the fine-tune reads it: its id, document name and text."""

    id: str
    doc: str
    text: str


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    chunk_id: str


def closed_book_messages(question: str) -> list[dict[str, str]]:
    """The chat the closed-book and fine-tuned systems answer (one template for both)."""
    return [
        {"role": "system", "content": CLOSED_BOOK_SYSTEM},
        {"role": "user", "content": question.strip()},
    ]


def corpus_chunks(index: VectorIndex, principal: Principal) -> list[CorpusChunk]:
    """Every chunk with text that ``principal`` may read (the ACL applied by retrieval), by id."""
    return sorted(
        (
            CorpusChunk(c.id, file_name(c.source_uri), c.text)
            for c in readable_chunks(index, principal)
            if c.text
        ),
        key=lambda c: c.id,
    )


def sample_chunks(chunks: Sequence[CorpusChunk], n: int, seed: int) -> list[CorpusChunk]:
    """A deterministic sample of ``n`` chunks (all of them when fewer), in id order."""
    ordered = sorted(chunks, key=lambda c: c.id)
    if len(ordered) <= n:
        return ordered
    rng = random.Random(seed)  # noqa: S311  (a reproducible sample, not a secret)
    return sorted(rng.sample(ordered, n), key=lambda c: c.id)


def doc_label(doc: str) -> str:
    """A document as questions name it: ``2023 Q3 AAPL.pdf`` → ``the 2023 Q3 AAPL filing``."""
    return f"the {Path(doc).stem} filing" if doc else "the documents"


def generate_qa(chunk: CorpusChunk, paraphrases: int, seed: int = 0) -> list[QAPair]:
    """Question/answer pairs from the claims of one chunk, each asked ``paraphrases`` ways.

    A claim is a sentence shaped ``<Subject> <was|were|increased|...> <rest>``; the
    answer is the sentence itself, so figures are learned with their context.
    """
    rng = random.Random(f"{seed}:{chunk.id}")  # noqa: S311  (sampling, not secrets)
    doc = doc_label(chunk.doc)
    out: list[QAPair] = []
    for raw in _SENTENCE.split(chunk.text):
        sentence = " ".join(raw.split())
        match = _CLAIM.match(sentence)
        if match is None or len(sentence) > 300:
            continue
        subject = match["subject"].strip()
        verb = match["verb"]
        plural = verb in ("were", "are")
        fields = {
            "subject": subject,
            "subject_lc": subject[0].lower() + subject[1:],
            "verb": verb,
            "verb_q": "were" if plural else "was",
            "doc": doc,
        }
        for template in rng.sample(_TEMPLATES, min(paraphrases, len(_TEMPLATES))):
            out.append(QAPair(template.format(**fields), sentence, chunk.id))
    return out


# --- the adapter cache -------------------------------------------------------------------


def corpus_signature(chunks: Sequence[CorpusChunk]) -> str:
    """SHA-256 over the sampled chunks' ids and texts."""
    digest = hashlib.sha256()
    for c in sorted(chunks, key=lambda c: c.id):
        digest.update(f"{c.id}\0{c.doc}\0{c.text}\0".encode())
    return digest.hexdigest()


def adapter_key(corpus: str, model: str, model_sha256: str, cfg: FinetuneSettings) -> str:
    """The cache key of an adapter: corpus sample, base model file and settings."""
    blob = json.dumps(
        {
            "recipe": RECIPE_VERSION,
            "corpus": corpus,
            "model": model,
            "model_sha256": model_sha256,
            "settings": cfg.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def adapters_dir(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "adapters"


def adapter_path(settings: Settings, key: str) -> Path:
    return adapters_dir(settings) / key


def cached_adapter(settings: Settings, key: str) -> Path | None:
    """The adapter trained for ``key``, or None when none was finished."""
    path = adapter_path(settings, key)
    return path if (path / "deepwell-finetune.json").is_file() else None


def _model_sha(model: str) -> str:
    return next(iter(get_spec(model).files.values()))


# --- training ----------------------------------------------------------------------------


@dataclass
class FinetuneResult:
    key: str
    path: Path
    cached: bool
    chunks: int
    qa_pairs: int
    steps: int
    seconds: float
    first_loss: float | None = None
    last_loss: float | None = None
    #: The trained (PEFT model, tokenizer) when asked to keep it: saves reloading the base.
    trained: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self) | {"path": str(self.path)}
        data.pop("trained")
        return data


def load_base(settings: Settings, model: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model and tokenizer from the verified GGUF, as float32 transformers objects."""
    import torch

    try:
        import gguf  # noqa: F401  (transformers' reader)
    except ImportError:
        raise ModelError(
            "loading a GGUF model into transformers needs the `gguf` package (pip install gguf)"
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    resolved = prepare(get_spec(model), settings.models.cache_dir)
    where, name = str(resolved.path.parent), resolved.path.name
    if settings.eval.threads:
        torch.set_num_threads(settings.eval.threads)
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
    base = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return base, tokenizer


def _encode_text(tok: PreTrainedTokenizerBase, text: str, limit: int) -> tuple[list[int], int]:
    ids = tok(text, add_special_tokens=False)["input_ids"][:limit]
    return [*ids, tok.eos_token_id], 0


def _encode_chat(tok: PreTrainedTokenizerBase, qa: QAPair, limit: int) -> tuple[list[int], int]:
    prompt = tok.apply_chat_template(
        closed_book_messages(qa.question), add_generation_prompt=True, tokenize=False
    )
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    a_ids = tok(qa.answer, add_special_tokens=False)["input_ids"]
    ids = [*[*p_ids, *a_ids][:limit], tok.eos_token_id]
    return ids, len(p_ids)


def _batch(examples: Sequence[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    import torch

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
        labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def finetune(
    settings: Settings,
    index: VectorIndex,
    principal: Principal,
    *,
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    keep_model: bool = False,
) -> FinetuneResult:
    """Train (or find cached) the LoRA adapter of ``eval.model`` on the readable corpus.

    ``progress(step, steps, loss)`` is called after each optimizer step. With
    ``keep_model``, a freshly trained model stays in ``result.trained`` (ready to
    answer without loading the base again).
    Raises :class:`ModelError` when the base model cannot be loaded.
    """
    cfg = settings.eval.finetune
    model = settings.eval.model
    chunks = sample_chunks(corpus_chunks(index, principal), cfg.sample_chunks, cfg.seed)
    if not chunks:
        raise ModelError(f"nothing to fine-tune on: {principal.user} can read no chunk")
    key = adapter_key(corpus_signature(chunks), model, _model_sha(model), cfg)
    found = cached_adapter(settings, key)
    if found is not None and not force:
        meta = json.loads((found / "deepwell-finetune.json").read_text())
        meta.pop("model", None)
        return FinetuneResult(**(meta | {"path": found, "cached": True}))

    import torch
    from peft import LoraConfig, get_peft_model

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    base, tok = load_base(settings, model)
    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, lora)
    peft_model.train()
    limit = cfg.max_seq_tokens
    texts = [_encode_text(tok, f"{doc_label(c.doc)}\n{c.text}", limit) for c in chunks]
    pairs = [qa for c in chunks for qa in generate_qa(c, cfg.paraphrases, cfg.seed)]
    chats = [_encode_chat(tok, qa, limit) for qa in pairs]
    cpt_steps = round(cfg.max_steps * cfg.cpt_share) if chats else cfg.max_steps
    phases = [(texts, cpt_steps), (chats, cfg.max_steps - cpt_steps)]
    optim = torch.optim.AdamW(
        [p for p in peft_model.parameters() if p.requires_grad], lr=cfg.learning_rate
    )
    rng = random.Random(cfg.seed)  # noqa: S311  (batch order, not a secret)
    losses: list[float] = []
    step = 0
    for examples, steps in phases:
        order: list[int] = []
        for _ in range(steps):
            if len(order) < cfg.batch_size:
                order += rng.sample(range(len(examples)), len(examples))
            batch = _batch([examples[order.pop()] for _ in range(cfg.batch_size)], tok.pad_token_id)
            loss = peft_model(**batch).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
            step += 1
            losses.append(float(loss.item()))
            if progress is not None:
                progress(step, cfg.max_steps, losses[-1])
    path = adapter_path(settings, key)
    peft_model.save_pretrained(str(path))  # the adapter only: the base is the GGUF
    result = FinetuneResult(
        key=key,
        path=path,
        cached=False,
        chunks=len(chunks),
        qa_pairs=len(pairs),
        steps=step,
        seconds=round(time.perf_counter() - started, 1),
        first_loss=losses[0] if losses else None,
        last_loss=sum(losses[-10:]) / len(losses[-10:]) if losses else None,
        trained=(peft_model, tok) if keep_model else None,
    )
    meta = {k: v for k, v in result.to_dict().items() if k not in ("path", "cached")}
    (path / "deepwell-finetune.json").write_text(json.dumps(meta | {"model": model}, indent=1))
    log.info("eval.finetuned", key=key, steps=step, seconds=result.seconds)
    return result
