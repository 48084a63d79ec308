"""The fine-tuned model as a deepwell LLM backend: transformers generation, LoRA merged.

Implementing :class:`retrieval.llm.LLM` lets the fine-tuned model answer through
the same code as the base model: closed-book prompts directly, and
``finetuned+rag`` through :class:`retrieval.answer.Answerer` unchanged. Greedy
decoding; the chat template is the one the GGUF carries (as llama.cpp applies it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import Settings
from retrieval import LLM, Message, TokenStream, Usage

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class HFLoRALLM(LLM):
    """The base model of ``eval.model`` with a LoRA adapter merged in (or none)."""

    backend = "transformers"

    def __init__(
        self, settings: Settings, adapter: Path | None, trained: tuple[Any, Any] | None = None
    ) -> None:
        super().__init__(
            context_window=settings.eval.context_window,
            max_tokens=settings.eval.max_tokens,
            temperature=0.0,
            timeout_s=settings.llm.timeout_s,
        )
        self.settings = settings
        self.adapter = adapter
        self._model: Any = None  # a PreTrainedModel (transformers' stubs are partial)
        self._tok: PreTrainedTokenizerBase | None = None
        self._lock = threading.Lock()
        self._trained = trained  # (PEFT model, tokenizer) just trained: no second load

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            if self._trained is not None:
                peft_model, tok = self._trained
                self._trained = None
                base = peft_model.merge_and_unload()
            else:
                from eval.finetune import load_base

                base, tok = load_base(self.settings, self.settings.eval.model)
                if self.adapter is not None:
                    from peft import PeftModel

                    base = PeftModel.from_pretrained(base, str(self.adapter)).merge_and_unload()
            base.eval()
            self._model, self._tok = base, tok

    def _tokenizer(self) -> PreTrainedTokenizerBase:
        self.warm_up()
        assert self._tok is not None
        return self._tok

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer()(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        import torch

        tok = self._tokenizer()
        assert self._model is not None
        chat: Any = [{"role": m.role, "content": m.content} for m in messages]
        prompt = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
        n_prompt = int(ids["input_ids"].shape[1])
        limit = min(max_tokens or self.max_tokens, max(1, self.context_window - n_prompt))
        usage = Usage(prompt_tokens=n_prompt)
        with torch.inference_mode():
            out = self._model.generate(
                **ids, max_new_tokens=limit, do_sample=False, pad_token_id=tok.pad_token_id
            )
        new = out[0, n_prompt:]
        usage.completion_tokens = int(new.shape[0])
        usage.finish_reason = "stop" if usage.completion_tokens < limit else "length"
        text = str(tok.decode(new, skip_special_tokens=True))

        def once() -> Iterator[str]:
            yield text

        return TokenStream(once(), usage)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.settings.eval.model,
            "adapter": str(self.adapter) if self.adapter else None,
        }

    def close(self) -> None:
        self._model = None
