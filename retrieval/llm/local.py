"""The ``local`` backend: a verified GGUF model run in-process by llama-cpp-python.

Why not llama-index's ``LlamaCPP``: it formats chats with its own generic
template instead of the one in the GGUF (Qwen and SmolLM need chatml), loads the
model in its constructor (verbose by default, with a download path when no file
is given), caps temperature at 1.0, mutates shared generation kwargs on every
call, and reports no token usage when streaming. This wrapper applies the GGUF's
own chat template, counts prompt tokens exactly before generating, and keeps to the
time limit (``llm.timeout_s``) everywhere a call spends time: waiting for the model,
reading the prompt, writing the reply.

Reading a long prompt is most of the wait on a CPU (a 3,000-token prompt takes tens
of seconds on two cores), and llama-cpp-python reads it inside one call, in batches of
``n_batch`` tokens that each run for seconds. So this backend reads the prompt itself
before generating, with llama.cpp's abort callback installed: the computation stops
within a step of the graph once the time is up, and the error says how far it got.
What was read stays in the context, so a retry, and every prompt that begins with the
same system message, reads only what is new.

The fixed system message is kept apart as well: the first time a prompt opens with one, the
model's state after reading it (its KV cells, a few MB) is saved, and a later prompt with the
same system message starts from that state when the context holds something else (a query
rewrite or another system prompt was read in between), so the rules are never read twice.

``llm.prompt_lookup`` > 0 turns on prompt-lookup speculative decoding (llama-cpp-python's
``LlamaPromptLookupDecoding``): the model checks, in one batch, the tokens that followed the
last words where they occur in the prompt, which answers copying figures and names from
their passages can accept several at a time.
"""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from core import InvalidInputError, ModelError, ResolvedModel, Settings, configured_llm, get_logger
from retrieval.llm.base import LLM, Deadline, Message, TokenStream, Usage
from retrieval.llm.cpu_backend import load_cpu_backend

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

log = get_logger(__name__)

#: Fixed sampling seed: the same question over the same context gives the same answer.
SEED = 0
#: System messages whose read state is kept (a few MB each for the 1.5B default).
MAX_PREFIXES = 4
#: A system prefix shorter than this is read faster than its state is restored.
MIN_PREFIX_TOKENS = 16


@dataclass(frozen=True)
class _Snapshot:
    """The context's state (sequence 0) right after reading ``tokens``."""

    tokens: tuple[int, ...]
    data: Any  # a ctypes byte array of llama_state_seq_get_data
    size: int


def _neutralize(text: str) -> str:
    """Stop document text from forming chat-template control tokens like ``<|im_end|>``."""
    return text.replace("<|", "< |").replace("|>", "| >")


class LocalLLM(LLM):
    """A GGUF chat model loaded once per process; one generation runs at a time."""

    backend = "local"

    def __init__(
        self,
        model: ResolvedModel,
        *,
        context_window: int,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
        threads: int | None = None,
        prompt_lookup: int = 0,
    ) -> None:
        super().__init__(
            context_window=context_window,
            max_tokens=max_tokens,
            temperature=temperature,
            timeout_s=timeout_s,
        )
        if model.kind != "llm":
            raise ModelError(f"{model.name} is not a language model")
        self.model = model
        self.threads = threads or os.cpu_count() or 1
        if prompt_lookup < 0:
            raise ModelError(f"llm.prompt_lookup must not be negative, got {prompt_lookup}")
        self.prompt_lookup = prompt_lookup
        # Saved states after each recent system message (most recently used last), and the
        # token prefix each system message's text gives.
        self._prefixes: OrderedDict[tuple[int, ...], _Snapshot] = OrderedDict()
        self._prefix_of: dict[str, tuple[int, ...]] = {}
        self._llama: Llama | None = None
        self._vocab: Llama | None = None
        # Closed explicitly, on garbage collection, or at exit before module teardown
        # (llama-cpp-python's own __del__ fails once the interpreter is shutting down).
        self._handles: list[Llama] = []
        self._finalizer = weakref.finalize(self, _release, self._handles)
        self._formatter: Jinja2ChatFormatter | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        # The deadline of the prompt being read (the abort callback consults it), and the
        # callback itself, kept alive for as long as llama.cpp may call it.
        self._reading: Deadline | None = None
        self._abort_callback: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLLM:
        model = configured_llm(settings)
        assert model is not None  # configured_llm returns a model for the local backend
        cfg = settings.llm
        return cls(
            model,
            context_window=cfg.context_window,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            timeout_s=cfg.timeout_s,
            threads=cfg.threads,
            prompt_lookup=cfg.prompt_lookup,
        )

    def warm_up(self) -> None:
        """Load the weights and the chat template (idempotent, thread-safe)."""
        with self._load_lock:
            if self._llama is not None:
                return
            from llama_cpp import Llama

            load_cpu_backend()
            draft: Any = None
            if self.prompt_lookup:
                from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

                draft = LlamaPromptLookupDecoding(num_pred_tokens=self.prompt_lookup)
            try:
                llama = Llama(
                    model_path=str(self.model.path),
                    n_ctx=self.context_window,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    n_gpu_layers=0,
                    seed=SEED,
                    draft_model=draft,
                    # Draft tokens are checked against logits kept per position: without this
                    # llama-cpp-python sizes that buffer for one batch and fails past it.
                    logits_all=draft is not None,
                    verbose=False,
                )
            except ValueError as exc:  # llama-cpp-python's way of saying "cannot load"
                raise ModelError(f"cannot load {self.model.path}: {exc}") from exc
            self._formatter = self._chat_formatter(llama)
            from llama_cpp import llama_cpp as capi

            self._abort_callback = capi.ggml_abort_callback(self._abort_requested)
            self._llama = llama
            self._handles.append(llama)
            if self._vocab is not None:  # the full model tokenizes from now on
                self._handles.remove(self._vocab)
                self._vocab.close()
                self._vocab = None
            log.info("llm.loaded", model=self.model.name, n_ctx=llama.n_ctx(), threads=self.threads)

    def _chat_formatter(self, llama: Llama) -> Jinja2ChatFormatter:
        from llama_cpp.llama_chat_format import CHATML_CHAT_TEMPLATE, Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            if self.model.chat_format != "chatml":
                raise ModelError(
                    f"{self.model.path} carries no chat template and no known chat format"
                )
            template = CHATML_CHAT_TEMPLATE
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=llama.detokenize([eos_id], special=True).decode() if eos_id >= 0 else "",
            bos_token=llama.detokenize([bos_id], special=True).decode() if bos_id >= 0 else "",
            stop_token_ids=[eos_id],
        )

    def _tokenizer(self) -> Llama:
        """The loaded model, or its vocabulary alone (no weights) when it is not loaded yet."""
        if self._llama is not None:
            return self._llama
        with self._load_lock:
            if self._vocab is None:
                from llama_cpp import Llama

                load_cpu_backend()
                self._vocab = Llama(model_path=str(self.model.path), vocab_only=True, verbose=False)
                self._handles.append(self._vocab)
            return self._vocab

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _format(self, messages: Sequence[Message]) -> ChatFormatterResponse:
        self.warm_up()
        assert self._formatter is not None
        chat: Any = [{"role": m.role, "content": _neutralize(m.content)} for m in messages]
        return self._formatter(messages=chat)

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text the model reads for ``messages`` (the GGUF's chat template applied)."""
        return self._format(messages).prompt

    def _abort_requested(self, _data: ctypes.c_void_p) -> bool:
        """llama.cpp's abort callback: stop reading the prompt once its deadline has passed."""
        reading = self._reading
        return reading is not None and reading.expired

    def _system_prefix(self, messages: Sequence[Message], prompt: list[int]) -> int:
        """How many leading tokens of ``prompt`` are its system message (0: none, or too
        short to be worth keeping)."""
        if not messages or messages[0].role != "system":
            return 0
        system = messages[0].content
        prefix = self._prefix_of.get(system)
        if prefix is None:
            llama = self._llama
            assert llama is not None
            alone = self._format([messages[0]])
            tokens = llama.tokenize(
                alone.prompt.encode("utf-8"), add_bos=not alone.added_special, special=True
            )
            # The system message alone ends in the reply's opening; keep what both share.
            prefix = tuple(tokens[: llama.longest_token_prefix(tokens, prompt)])
            if len(self._prefix_of) >= 64:  # system messages are few; never grow without bound
                self._prefix_of.clear()
            self._prefix_of[system] = prefix
        n = len(prefix)
        if n < MIN_PREFIX_TOKENS or n >= len(prompt) or tuple(prompt[:n]) != prefix:
            return 0
        return n

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        formatted = self._format(messages)
        llama = self._llama
        assert llama is not None
        prompt = llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        fixed = self._system_prefix(messages, prompt)
        room = llama.n_ctx() - len(prompt)
        if room <= 0:
            raise InvalidInputError(
                f"the prompt has {len(prompt)} tokens; the context window holds {llama.n_ctx()}"
            )
        usage = Usage(prompt_tokens=len(prompt))
        limit = min(max_tokens or self.max_tokens, room)
        # The limit runs from now: waiting for another answer to finish counts.
        deadline = Deadline(self.timeout_s, f"local model {self.model.name}")
        gen = self._generate(llama, prompt, formatted, limit, usage, deadline=deadline, fixed=fixed)
        return TokenStream(gen, usage)

    def _generate(
        self,
        llama: Llama,
        prompt: list[int],
        formatted: ChatFormatterResponse,
        limit: int,
        usage: Usage,
        *,
        deadline: Deadline,
        fixed: int = 0,
    ) -> Iterator[str]:
        # llama.cpp contexts are not thread-safe: one generation at a time per model.
        if not self._run_lock.acquire(timeout=deadline.remaining):
            raise deadline.error(
                "it stayed busy with other answers all that time; nothing was read or written"
            )
        text: list[str] = []
        try:
            self._read_prompt(llama, prompt, deadline, fixed=fixed)
            chunks = cast(
                "Generator[dict[str, Any], None, None]",
                llama.create_completion(
                    prompt=prompt,
                    max_tokens=limit,
                    temperature=self.temperature,
                    stop=formatted.stop,
                    stopping_criteria=formatted.stopping_criteria,
                    stream=True,
                ),
            )
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason"):
                        usage.finish_reason = choice["finish_reason"]
                    if delta := choice.get("text") or "":
                        text.append(delta)
                        yield delta
                    deadline.check(f"the prompt was read; {len(text)} tokens of the reply written")
            finally:
                chunks.close()
        finally:
            self._run_lock.release()
            usage.completion_tokens = self.count_tokens("".join(text)) if text else 0

    def _read_prompt(
        self, llama: Llama, prompt: list[int], deadline: Deadline, *, fixed: int = 0
    ) -> None:
        """Bring the context to hold exactly ``prompt``, reading only what it lacks; stop at
        ``deadline`` even inside a batch.

        ``fixed``: the first tokens are a system message, whose read state is restored when
        it was saved and the context does not hold them, and saved after reading otherwise.

        Raises:
            LLMTimeoutError: the time ran out (the message says how much was read).
            ModelError: llama.cpp failed for another reason.
        """
        from llama_cpp import llama_cpp as capi

        held = llama.input_ids[: llama.n_tokens].tolist()
        # The last token is read again even when all is held: sampling needs its logits.
        start = min(llama.longest_token_prefix(held, prompt), len(prompt) - 1)
        waited = deadline.elapsed
        deadline.check(f"waited {waited:.0f} s for the model; no prompt token read")
        restored = 0
        if 0 < fixed < len(prompt) and start < fixed:
            if self._restore(llama, tuple(prompt[:fixed])):
                start = restored = fixed
            elif llama.n_tokens == 0:
                start = 0  # a refused restore leaves the sequence empty
        save = fixed if fixed > start and tuple(prompt[:fixed]) not in self._prefixes else 0
        llama.n_tokens = start  # eval() drops the context's cells from here on
        self._reading = deadline
        capi.llama_set_abort_callback(llama.ctx, self._abort_callback, None)
        # Logits of every prompt token (which speculative decoding makes llama-cpp-python
        # keep) cost a vocabulary-wide product per token; sampling needs only the last one.
        logits_all, llama._logits_all = llama._logits_all, False
        try:
            if save:
                llama.eval(prompt[start:save])
                self._save(llama, tuple(prompt[:save]))
                start = save
            llama.eval(prompt[start:])
        except RuntimeError as exc:  # llama_decode's non-zero status
            if not deadline.expired:
                raise ModelError(f"local model {self.model.name} failed: {exc}") from exc
            busy = f", after waiting {waited:.0f} s for another answer" if waited >= 1 else ""
            raise deadline.error(
                f"it was still reading the question and its passages: {llama.n_tokens:,} of "
                f"{len(prompt):,} prompt tokens read{busy}; nothing was written"
            ) from None
        finally:
            llama._logits_all = logits_all
            capi.llama_set_abort_callback(llama.ctx, capi.ggml_abort_callback(), None)
            self._reading = None
        # Read in time, but with none left to write in: an error, not a one-word answer.
        deadline.check("the prompt was read, with no time left to write; nothing was written")
        log.debug(
            "llm.prompt_read",
            tokens=len(prompt),
            reused=start,
            restored=restored,
            waited_s=round(waited, 2),
        )

    def _save(self, llama: Llama, tokens: tuple[int, ...]) -> None:
        """Keep the context's state, which holds exactly ``tokens``, for :meth:`_restore`."""
        from llama_cpp import llama_cpp as capi

        size = capi.llama_state_seq_get_size(llama.ctx, 0)
        data = (ctypes.c_uint8 * size)()
        written = capi.llama_state_seq_get_data(llama.ctx, data, size, 0)
        if not written:
            return
        self._prefixes[tokens] = _Snapshot(tokens, data, written)
        while len(self._prefixes) > MAX_PREFIXES:
            self._prefixes.popitem(last=False)

    def _restore(self, llama: Llama, tokens: tuple[int, ...]) -> bool:
        """Put the saved state after ``tokens`` back in the context; False when none is saved
        (the context is untouched) or llama.cpp refused it (the context is left empty)."""
        from llama_cpp import llama_cpp as capi

        snap = self._prefixes.get(tokens)
        if snap is None:
            return False
        self._prefixes.move_to_end(tokens)
        if capi.llama_state_seq_set_data(llama.ctx, snap.data, snap.size, 0) != snap.size:
            del self._prefixes[tokens]
            llama.n_tokens = 0
            return False
        llama.input_ids[: len(tokens)] = tokens
        llama.n_tokens = len(tokens)
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model.name,
            "path": str(self.model.path),
            "pinned": self.model.pinned,
            "context_window": self.context_window,
            "threads": self.threads,
            "prompt_lookup": self.prompt_lookup,
            "loaded": self._llama is not None,
        }

    def close(self) -> None:
        with self._load_lock:
            self._prefixes.clear()
            self._llama = self._vocab = None
            self._finalizer()


def _release(handles: list[Llama]) -> None:
    for handle in handles:
        handle.close()
    handles.clear()
