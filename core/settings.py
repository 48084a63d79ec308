"""The one settings object of deepwell.

Read, in order of precedence: keyword arguments, ``DEEPWELL_*`` environment
variables (nested groups with ``__``, e.g. ``DEEPWELL_LLM__BACKEND=openai``), a
``.env`` file, then a TOML config file (``DEEPWELL_CONFIG`` or ``./deepwell.toml``).
No other module reads ``os.environ``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import ConfigError

CONFIG_ENV_VAR = "DEEPWELL_CONFIG"
#: Variables of the command line's API client (the server it talks to, its key), not settings.
CLIENT_ENV_VARS = ("DEEPWELL_URL", "DEEPWELL_API_KEY")
DEFAULT_CONFIG_FILE = Path("deepwell.toml")
#: URL schemes of ``api.rate_limit_storage_url`` (storages of the ``limits`` library that
#: need no package deepwell does not install).
RATE_LIMIT_STORAGE_SCHEMES = (
    "memory",
    "redis",
    "rediss",
    "redis+unix",
    "redis+sentinel",
    "redis+cluster",
)


def _default_model_cache() -> Path:
    return Path(platformdirs.user_cache_dir("deepwell")) / "models"


class IndexSettings(BaseModel):
    """Where the vector index lives."""

    backend: Literal["edge", "qdrant"] = Field(
        "edge",
        description="`edge`: Qdrant's engine in-process (embedded default); "
        "`qdrant`: a Qdrant server or cluster through qdrant-client.",
    )
    collection: str = Field("deepwell", description="Collection (or shard directory) name.")
    path: Path | None = Field(
        None, description="Embedded index directory; default `<data_dir>/index`."
    )
    url: str | None = Field(None, description="Qdrant server URL for the `qdrant` backend.")
    api_key: SecretStr | None = None
    local_path: Path | None = Field(
        None,
        description="qdrant-client local mode directory (tests, small setups) "
        "used by the `qdrant` backend when no `url` is set.",
    )
    timeout_s: float = 10.0
    hnsw_ef: int | None = Field(
        None, ge=1, description="HNSW search breadth (candidates kept); None: the engine's default."
    )
    acorn: bool = Field(
        True,
        description="ACORN filtered search: when a caller may read only a small share of the "
        "collection, HNSW alone loses neighbours behind the ACL filter (recall@10 0.64 at a 25% "
        "share on 100k points); ACORN keeps it at 1.00 for ~6 ms more per query.",
    )
    acorn_max_selectivity: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Use ACORN only when the filter keeps at most this share of points; "
        "None: the engine's default (0.4).",
    )
    shard_number: int = Field(
        1, ge=1, description="`qdrant` backend: shards of a new collection (spread over nodes)."
    )
    replication_factor: int = Field(
        1, ge=1, description="`qdrant` backend: copies of each shard in a cluster."
    )
    write_consistency_factor: int = Field(
        1, ge=1, description="`qdrant` backend: replicas that must confirm a write."
    )
    retries: int = Field(
        3, ge=0, description="`qdrant` backend: retries of a request that met a transient error."
    )
    retry_backoff_s: float = Field(
        0.5,
        ge=0,
        description="`qdrant` backend: first retry delay, doubled each retry (plus a random "
        "jitter of up to this much, so replicas do not retry in step).",
    )
    embedded_warn_points: int | None = Field(
        1_000_000,
        ge=1,
        description="Warn (start-up log and /healthz) when an embedded index (`edge`, or "
        "`qdrant` in local mode) holds more points than this: one process owns it, so move it "
        "to a Qdrant server with `deepwell index migrate --to server`. None: never warn.",
    )


class DatabaseSettings(BaseModel):
    """The registry, API keys, feedback and jobs."""

    url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite at `<data_dir>/deepwell.db`. "
        "Use postgresql+psycopg://... for the scaled deployment.",
    )
    migrate_on_start: bool = Field(
        True,
        description="Run the schema migrations (`alembic upgrade head`) when a server or CLI "
        "command starts; off: refuse to start on an out-of-date schema (run "
        "`deepwell db upgrade` from a deploy job instead).",
    )
    connect_timeout_s: int = Field(
        5, ge=1, description="PostgreSQL: seconds to wait for a connection before 503."
    )
    pool_size: int = Field(5, ge=1, description="PostgreSQL: connections kept per process.")
    max_overflow: int = Field(10, ge=0, description="PostgreSQL: extra connections under load.")


class EmbeddingSettings(BaseModel):
    """The dense embedding model."""

    model: str = Field("all-MiniLM-L6-v2", description="A model name known to `deepwell models`.")
    model_path: Path | None = Field(
        None, description="Your own sentence-transformers model directory (overrides `model`)."
    )
    backend: Literal["torch", "onnx-int8", "onnx-fp32"] = Field(
        "onnx-int8",
        description="`torch`: sentence-transformers (CPU or GPU); `onnx-*`: the same model "
        "exported once per machine under models.cache_dir/onnx and run by onnxruntime on CPU "
        "(int8: ~4-6x the torch throughput on 2 cores, hit@5 unchanged on the SEC 10-Q set).",
    )
    device: str = "cpu"
    batch_size: int = Field(32, ge=1, description="Texts per forward pass (torch backend).")
    threads: int | None = Field(None, ge=1, description="onnxruntime threads; default all cores.")
    onnx_batch_size: int = Field(
        1,
        ge=1,
        description="Texts per onnxruntime run; 1 is cheapest on CPU and keeps int8 vectors "
        "independent of their batch-mates.",
    )


class LLMSettings(BaseModel):
    """The model that writes answers."""

    backend: Literal["local", "openai", "extractive"] = "local"
    model: str = Field(
        "qwen2.5-coder-1.5b-instruct",
        description="For `local`: a model name known to `deepwell models`; "
        "for `openai`: the model name sent to the endpoint.",
    )
    model_path: Path | None = Field(
        None, description="Your own GGUF file for the `local` backend (overrides `model`)."
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    )
    api_key: SecretStr | None = None
    context_window: int = Field(4096, ge=512)
    max_tokens: int = Field(512, ge=1)
    context_tokens: int | None = Field(
        500,
        ge=64,
        description="Answers: the most tokens of passages put before the model (the model's "
        "own tokenizer counts them); the window may hold less once the prompt and max_tokens "
        "are set aside. None: as many as the window leaves. Reading the prompt is most of the "
        "wait for the first word on a CPU (~100 tokens/s with the default 1.5B model on two "
        "cores), so fewer, better passages answer sooner. On the SEC 10-Qs (bench/retrieval.py, "
        "118 figure questions, re-scored windows of 20 candidates) the reference figure was in "
        "the context for 53 at 350 tokens, 58 at 400, 61 at 500, 63 at 600. bench/answers.py "
        "(40 questions, 1.5B default): at 400, 9 figures right, 10 wrong, first token p50 4.7 s; "
        "at 500, 9 right, 7 wrong, 6.0 s; at 600 (before the re-scoring by amounts), 11 right, "
        "10 wrong, 8.4 s.",
    )
    context_candidates: int = Field(
        20,
        ge=1,
        le=100,
        description="Answers: passages retrieved to choose the context from (a caller's limit "
        "overrides it).",
    )
    context_rescore: bool = Field(
        True,
        description="Answers: re-score the candidates before packing them "
        "(retrieval.rerank.rescore_for_answer: tables whose row labels name what the question "
        "asks about count three times, and for a question about a measure, passages without an "
        "amount half), so the passages that state the figures come first.",
    )
    context_windows: bool = Field(
        True,
        description="Answers: give the model each passage's window, not the whole chunk "
        "(retrieval.windows.focus: a table's headers and the rows whose labels name the "
        "question's rarest words; prose's best sentences), so more passages fit fewer tokens.",
    )
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    prompt_lookup: int = Field(
        0,
        ge=0,
        le=32,
        description="`local` only: prompt-lookup speculative decoding, this many draft tokens "
        "a step copied from where the last words occur in the prompt (0: off). Off by default: "
        "on 2 cores with the 1.5B default it decoded slower (6 SEC answer prompts, "
        "bench/prompt_cache.py: 22 tok/s off, 12 with 4 draft tokens, 7 with 10), checking "
        "drafts the model mostly rejects.",
    )
    threads: int | None = Field(None, description="CPU threads for llama.cpp; default all cores.")
    timeout_s: float = Field(
        120.0,
        gt=0,
        description="The most seconds one model call may take, all of it: waiting for the model "
        "(one answer at a time), reading the prompt, writing the reply. Checked inside prompt "
        "reading and between tokens: an answer that has not started ends in an error saying what "
        "took long, one already streaming is cut off with what was said kept. 120 s covers a full "
        "prompt (context_window - max_tokens, about 3,600 tokens) read at the ~50 tokens/s the "
        "1.5B default reads on 2 cores with the portable llama.cpp build, plus about 480 tokens "
        "written at its ~10 tokens/s; a native build (~150 and ~27 tokens/s) needs a third of it.",
    )
    min_relevance: float | None = Field(
        0.3,
        ge=-1.0,
        le=1.0,
        description="Answers: when no retrieved passage has at least this dense (cosine) "
        "similarity to the question, the answer is the no-answer sentence and the model is not "
        "called. Depends on the embedding model; None turns it off. With all-MiniLM-L6-v2 on "
        "the SEC 10-Qs (bench/relevance_floor.py) the best passage of the 195 questions scored "
        "0.589-0.828, of ten terse in-domain ones 0.475-0.701, of 20 off-topic ones 0.061-0.244.",
    )


class IngestSettings(BaseModel):
    """Parsing, chunking and cleaning."""

    strategy: Literal["auto", "fast", "hi_res", "ocr_only"] = Field(
        "auto",
        description="auto: read PDFs' text layers and OCR (Tesseract) the pages without one, "
        "and images; fast: never OCR (scans are refused); ocr_only: OCR every PDF page; "
        "hi_res: unstructured's layout model (absent offline).",
    )
    pdf_parser: Literal["unstructured", "pdfium"] = Field(
        "pdfium",
        description="Parser for PDFs with a text layer: deepwell's PDFium layout parser (reading "
        "order, table rows kept whole as Table elements), or unstructured's fast path "
        "(pdfminer). On the SEC 10-Qs PDFium keeps 83/83 hand-read table figures on their row "
        "(unstructured 1/83, bench/tables.py) and raises hybrid hit@5 from 0.831 to 0.908 "
        "(bench/retrieval.py).",
    )
    chunk_max_chars: int = Field(1000, ge=100)
    chunk_new_after_chars: int = Field(800, ge=50)
    chunk_combine_under_chars: int = Field(200, ge=0)
    workers: int = Field(2, ge=1, description="Parsing worker processes.")
    worker_memory_mb: int | None = Field(
        4096, ge=256, description="Address-space cap of each parsing worker; None for no cap."
    )
    near_duplicates: Literal["off", "flag", "drop"] = Field(
        "flag", description="Near-duplicate chunks (MinHash): keep and flag, drop, or ignore."
    )
    max_file_mb: float = Field(200.0, gt=0)
    timeout_s: float = Field(600.0, gt=0, description="Per-document parse time limit.")
    max_chars: int = Field(
        10_000_000,
        ge=1000,
        description="Most characters of text one document may yield (about 4,000 dense pages); "
        "text files are checked before parsing, every format after it.",
    )
    max_rows: int = Field(
        100_000, ge=1, description="Most rows of a CSV/TSV file or of all sheets of an XLSX."
    )
    max_cells: int = Field(
        2_000_000, ge=1, description="Most cells of a CSV/TSV file or of all sheets of an XLSX."
    )
    max_chunks: int = Field(
        20_000,
        ge=1,
        description="Most chunks one document may produce; more is refused before embedding.",
    )
    max_unpacked_mb: float = Field(
        512.0,
        gt=0,
        description="Office files (DOCX, PPTX, XLSX are zip archives): most uncompressed bytes "
        "of all their parts, checked before parsing (zip bombs).",
    )
    max_archive_entries: int = Field(
        10_000, ge=1, description="Office files: most parts (zip entries) in one archive."
    )
    max_compression_ratio: float = Field(
        200.0,
        gt=1,
        description="Office files: largest uncompressed/compressed ratio of a part over 1 MB.",
    )
    default_acl: list[str] = Field(
        default_factory=list,
        description='Principals allowed when a document names none; `["*"]` only for public data.',
    )
    default_tenant: str = "default"
    allowed_roots: list[Path] = Field(
        default_factory=list,
        description="Folders the API may sync from (`POST /v1/ingest`, admins only); a path "
        "outside all of them is refused. Empty: folder sync over HTTP is off.",
    )


class SearchSettings(BaseModel):
    """How search ranks, fuses, expands and reranks (``retrieval.search``)."""

    mode: Literal["hybrid", "dense", "lexical"] = Field(
        "hybrid", description="Default search mode; dense-only and lexical-only are for evaluation."
    )
    fusion: Literal["rrf", "dbsf", "weighted_rrf"] = Field(
        "weighted_rrf",
        description="Hybrid fusion: `rrf` and `dbsf` run inside the engine (one query); "
        "`weighted_rrf` fuses a dense and a lexical query with `dense_weight`. On the SEC "
        "10-Q questions (bench.retrieval) weighted_rrf had the best hit@5: 0.83 vs rrf 0.77, "
        "dense-only 0.80, lexical-only 0.57.",
    )
    dense_weight: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="`weighted_rrf` only: the dense ranking's share, the lexical one gets the "
        "rest; 0.5 is plain RRF.",
    )
    rrf_k: int = Field(
        10,
        ge=1,
        description="RRF rank constant (`rrf`, `weighted_rrf`): smaller lets each ranking's "
        "first hits count more. On the SEC 10-Q questions 5-10 beat 60 clearly.",
    )
    prefetch_limit: int | None = Field(
        None, ge=1, description="Candidates per hybrid prefetch; default max(50, 4 x limit)."
    )
    top_k: int = Field(10, ge=1, le=100, description="Results when the caller gives no limit.")
    max_limit: int = Field(100, ge=1, le=1000, description="Largest limit a caller may ask for.")
    expand_neighbors: int = Field(
        0, ge=0, le=5, description="Adjacent chunks (each side) added around every hit."
    )
    max_per_document: int | None = Field(
        None, ge=1, description="At most this many hits from one document (None: no cap)."
    )
    rerank: bool = Field(False, description="Rerank candidates with the cross-encoder.")
    rerank_model_path: Path | None = Field(
        None, description="A local sentence-transformers cross-encoder directory."
    )
    rerank_candidates: int = Field(
        50, ge=1, le=500, description="How many fused candidates the reranker scores."
    )
    steering: Literal["off", "boost", "filter"] = Field(
        "filter",
        description="When a question names an issuer, a document type or a period that "
        "documents' metadata (read at ingest) matches: `filter` ranks the matching documents' "
        "chunks first and fills up from the rest; `boost` multiplies their fused scores by "
        "`steer_boost`; `off` ignores the metadata. On the SEC 10-Q questions "
        "(bench.retrieval) filter took hybrid hit@5 from 0.91 to 1.00, the named filing into "
        "the top-5 for 130 of 130 questions (off: 113) and the reference figure into the "
        "top-10 for 78 of 118 (off: 63); boost x5 was level, boost x2 behind, both slower.",
    )
    steer_boost: float = Field(
        2.0, ge=1.0, le=100.0, description="`boost` only: the factor on a matching chunk's score."
    )
    steer_refresh_s: float = Field(
        30.0,
        ge=0.0,
        description="How often search re-reads which documents, issuers and periods the index "
        "holds (seconds; 0: on every search).",
    )


class QueueSettings(BaseModel):
    """Where ingest jobs run: the API's own worker thread, or Celery workers on a broker."""

    backend: Literal["inprocess", "celery"] = Field(
        "inprocess",
        description="`inprocess`: one worker thread in the API (embedded default); "
        "`celery`: `deepwell worker` processes on any machine (scaled).",
    )
    broker_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Celery broker (Redis or RabbitMQ URL); secret, as it may carry a password.",
    )
    soft_time_limit_s: float = Field(
        900.0, gt=0, description="A document still running after this is failed and retried."
    )
    time_limit_s: float = Field(
        960.0, gt=0, description="Hard limit: the worker process is killed and replaced."
    )
    max_retries: int = Field(
        3,
        ge=0,
        description="Retries of a document before it becomes a dead letter; a job that "
        "crashed its worker (or the server) more than this many times is dead-lettered "
        "instead of running again, on both queue backends.",
    )
    retry_backoff_s: float = Field(
        2.0, gt=0, description="First retry delay; doubles each retry (with jitter)."
    )
    retry_backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    visibility_timeout_s: int = Field(
        3600,
        ge=1,
        description="Redis: an unacknowledged task (its worker died) is redelivered after this.",
    )
    prefetch: int = Field(1, ge=1, description="Tasks a worker process reserves ahead.")


class ApiSettings(BaseModel):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    dev_mode: bool = Field(
        False, description="Run without API keys; refused unless bound to loopback."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty: CORS off."
    )
    max_request_mb: float = Field(
        1.0, gt=0, description="Largest request body (uploads excepted); larger gets 413."
    )
    max_upload_mb: float = Field(
        100.0, gt=0, description="Largest document upload (`POST /v1/documents`); larger gets 413."
    )
    rate_limit_per_minute: int = Field(
        120,
        ge=0,
        description="Requests per minute per API key (token bucket, bursts up to the same "
        "number); 0 turns rate limiting off. Over it: 429 with Retry-After.",
    )
    bootstrap_admin: bool = Field(
        True,
        description="When no API key exists at start-up, create an admin key and print it "
        "once to stderr.",
    )
    anonymous_rate_limit_per_minute: int = Field(
        60,
        ge=0,
        description="Requests per minute per client address without a valid key (no key, an "
        "unknown or revoked key, the unauthenticated routes); 0 turns it off.",
    )
    rate_limit_storage_url: SecretStr = Field(
        SecretStr("memory://"),
        description="Where the rate limits count requests: `memory://` (each API process "
        "counts alone: the embedded default) or a Redis URL (`redis://redis.internal:6379/1`), "
        "shared by every replica so that a key's limit holds across all of them; set it "
        "whenever more than one API process serves. Secret, as it may carry a password.",
    )
    forwarded_allow_ips: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Proxies whose X-Forwarded-For names the client (uvicorn's "
        "forwarded_allow_ips): behind a reverse proxy or ingress, list its addresses, or every "
        "client shares the proxy's address and its api.anonymous_rate_limit_per_minute bucket. "
        "Never '*' where clients can reach the server directly (they could pick their address).",
    )
    max_header_kb: int = Field(
        64,
        ge=4,
        le=1024,
        description="Largest request head (request line and headers); larger gets 431/400 "
        "before any route runs.",
    )
    keep_failed_uploads: bool = Field(
        False,
        description="Keep an upload's bytes after its ingestion failed (for inspection); by "
        "default they are deleted once the failure is recorded.",
    )
    key_delegation: Literal["within-reach", "any"] = Field(
        "within-reach",
        description="What an admin key may create through the API. `within-reach`: keys of "
        "its own tenant for a user with no key yet, with groups the admin itself holds, that "
        "can read nothing the admin cannot. `any`: any user and groups of its tenant "
        "(operator opt-in). The CLI (`deepwell keys create`) is the operator and unrestricted.",
    )


class JudgeSettings(BaseModel):
    """The LLM that grades answers (ragas faithfulness, relevancy, correctness); off unless set."""

    backend: Literal["none", "local", "openai"] = Field(
        "none",
        description="`none`: LLM-judged metrics are skipped (never a hosted default); "
        "`local`: a GGUF model of `deepwell models`; `openai`: an OpenAI-compatible endpoint.",
    )
    model: str = Field(
        "qwen2.5-coder-1.5b-instruct", description="Local model name, or the endpoint's model."
    )
    base_url: str | None = None
    api_key: SecretStr | None = None
    embeddings_for_relevancy: bool = Field(
        True, description="Answer relevancy compares question embeddings (the local MiniLM)."
    )


class FinetuneSettings(BaseModel):
    """The LoRA-finetuned closed-book baseline (``eval.finetune``)."""

    sample_chunks: int = Field(
        200, ge=1, description="Chunks of the corpus trained on (a deterministic sample)."
    )
    max_steps: int = Field(300, ge=1, description="Optimizer steps in all (both phases).")
    cpt_share: float = Field(
        0.4, ge=0.0, le=1.0, description="Share of the steps spent on continued training on chunks."
    )
    paraphrases: int = Field(3, ge=1, le=8, description="Question wordings per generated fact.")
    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(4, ge=1)
    max_seq_tokens: int = Field(192, ge=32)
    seed: int = 0


class QuickSettings(BaseModel):
    """What ``--quick`` changes (``eval run --quick``, ``eval nightly``), so the suite of five
    systems fits about 15 minutes on 2 CPU cores with a cold adapter cache.

    Measured there (SmolLM2-135M): a RAG answer costs ~2.5 s with a 1,024-token window and
    ~7.5 s with 2,048 (prompt evaluation); the transformers-served fine-tuned model generates
    ~10 tokens/s; one LoRA step of 2 x 96 tokens takes ~0.9 s. The full-run values
    (``eval.context_window`` etc.) are sized for a nightly on bigger hardware.
    """

    context_window: int = Field(
        1024, ge=512, description="Model window in quick runs (bounds the RAG context)."
    )
    max_tokens: int = Field(64, ge=8, description="Longest answer generated in quick runs.")
    finetune_sample_chunks: int = Field(40, ge=1, description="Chunks the quick adapter learns.")
    finetune_max_steps: int = Field(48, ge=1, description="Optimizer steps of the quick adapter.")
    finetune_batch_size: int = Field(2, ge=1)
    finetune_max_seq_tokens: int = Field(96, ge=32)


class EvalSettings(BaseModel):
    """Evaluation datasets, systems under test, the fine-tuned baseline and the nightly gate."""

    data_dir: Path = Field(
        Path("../shared/data"), description="Root of registered evaluation data."
    )
    model: str = Field(
        "smollm2-135m-instruct",
        description="The base model every system answers with (a local GGUF of `deepwell "
        "models`). SmolLM2-135M: ~100 tok/s and ~2 LoRA steps/s on 2 CPU cores, so the quick "
        "suite of four systems fits in minutes; a weak reader, so compare systems, not models.",
    )
    max_tokens: int = Field(96, ge=8, description="Longest answer generated in evaluation.")
    context_window: int = Field(2048, ge=512)
    threads: int | None = Field(None, ge=1, description="CPU threads; default all cores.")
    dataset: str = Field("sec-10q", description="Dataset of `deepwell eval run` by default.")
    systems: list[str] = Field(
        default_factory=lambda: ["hybrid", "closed-book", "rag", "finetuned", "finetuned+rag"],
        description="Systems of the nightly suite (and of `eval run` without --systems).",
    )
    quick_per_type: int = Field(
        4, ge=1, description="`--quick`: questions per question type (stratified sample)."
    )
    user: str = Field("eval", description="Principal the systems retrieve as (ACL applies).")
    groups: list[str] = Field(default_factory=list)
    tenant: str = "default"
    retrieve_limit: int = Field(10, ge=0, le=100, description="Passages retrieved per question.")
    bootstrap_samples: int = Field(1000, ge=100)
    tolerance: float = Field(
        0.05, ge=0.0, description="Largest accepted drop of a score (absolute) vs the baseline."
    )
    tolerances: dict[str, float] = Field(
        default_factory=dict,
        description='Per-metric tolerances overriding `tolerance`, e.g. {"hit@5": 0.02}.',
    )
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    quick: QuickSettings = Field(default_factory=QuickSettings)


class ModelSettings(BaseModel):
    """Where provisioned models are cached."""

    cache_dir: Path = Field(
        default_factory=_default_model_cache,
        description="Assembled model files, shared by every data directory on this machine.",
    )


class Settings(BaseSettings):
    """All of deepwell's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DEEPWELL_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
    )

    data_dir: Path = Field(Path(".deepwell"), description="Index, database and jobs live here.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    index: IndexSettings = Field(default_factory=IndexSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        _refuse_unknown_env(settings_cls)
        config_file = os.environ.get(CONFIG_ENV_VAR)
        path = Path(config_file) if config_file else DEFAULT_CONFIG_FILE
        if config_file and not path.is_file():
            raise ConfigError(f"{CONFIG_ENV_VAR}={config_file}: no such config file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.ingest.chunk_new_after_chars > self.ingest.chunk_max_chars:
            raise ValueError("ingest.chunk_new_after_chars must not exceed ingest.chunk_max_chars")
        if self.index.backend == "qdrant" and not (self.index.url or self.index.local_path):
            raise ValueError("index.backend 'qdrant' needs index.url (or index.local_path)")
        if self.embedding.backend != "torch" and self.embedding.device != "cpu":
            raise ValueError("embedding.backend onnx-* runs on CPU; use backend 'torch' for a GPU")
        if self.llm.backend == "openai" and not self.llm.base_url:
            raise ValueError("llm.backend 'openai' needs llm.base_url")
        if self.queue.time_limit_s <= self.queue.soft_time_limit_s:
            raise ValueError("queue.time_limit_s must exceed queue.soft_time_limit_s")
        storage = self.api.rate_limit_storage_url.get_secret_value().partition("://")[0]
        if storage not in RATE_LIMIT_STORAGE_SCHEMES:
            raise ValueError(
                f"api.rate_limit_storage_url: scheme {storage!r} is not one of "
                f"{', '.join(RATE_LIMIT_STORAGE_SCHEMES)}"
            )
        if self.search.rerank and self.search.rerank_model_path is None:
            raise ValueError("search.rerank needs search.rerank_model_path (no reranker ships)")
        return self

    # Derived locations: one place that knows the layout of the data directory.
    @property
    def index_path(self) -> Path:
        return self.index.path or self.data_dir / "index"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'deepwell.db').resolve()}"


def _refuse_unknown_env(settings_cls: type[BaseSettings]) -> None:
    """A misspelt ``DEEPWELL_*`` variable is an error, not a setting silently ignored."""
    unknown = [
        key
        for key in os.environ
        if key.startswith("DEEPWELL_")
        and key != CONFIG_ENV_VAR
        and key not in CLIENT_ENV_VARS
        and not is_setting_variable(key, settings_cls)
    ]
    if unknown:
        raise ConfigError(f"unknown setting(s) in the environment: {', '.join(sorted(unknown))}")


def is_setting_variable(key: str, settings_cls: type[BaseSettings] | None = None) -> bool:
    """Whether environment variable ``key`` (``DEEPWELL_EVAL__JUDGE__BACKEND``) names a setting.

    ``settings_cls`` defaults to :class:`Settings`; a group alone (``DEEPWELL_INDEX``) counts.
    """
    group, _, field = key.removeprefix("DEEPWELL_").lower().partition("__")
    info = (settings_cls or Settings).model_fields.get(group)
    return info is not None and (not field or _known_path(info.annotation, field.split("__")))


def _known_path(model: object, path: list[str]) -> bool:
    """Whether ``a__b__c`` names a field through nested groups (``eval__judge__backend``)."""
    for i, name in enumerate(path):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return False
        info = model.model_fields.get(name)
        if info is None:
            return False
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            # A leaf: only a dict-valued field may take deeper keys.
            return i == len(path) - 1 or "dict" in str(model)
    return True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
