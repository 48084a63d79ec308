"""The ``openai`` backend: any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama…).

Built on llama-index's ``OpenAILike`` (chat mode, no retries: a failure should
reach the caller within ``timeout_s``, not after minutes of backoff). Streaming
asks the server for a final usage chunk (``stream_options.include_usage``);
servers that ignore it get their tokens estimated instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from core import BackendUnavailableError, ConfigError, LLMTimeoutError, Settings, get_logger
from retrieval.llm.base import (
    LLM,
    Completion,
    Deadline,
    Message,
    TokenStream,
    Usage,
    estimate_tokens,
)

if TYPE_CHECKING:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

log = get_logger(__name__)

#: Statuses that mean the configuration is wrong, not that the server is down.
_CONFIG_STATUSES = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found"}


class OpenAICompatLLM(LLM):
    """Chat completions from an OpenAI-compatible HTTP endpoint."""

    backend = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        context_window: int,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
    ) -> None:
        super().__init__(
            context_window=context_window,
            max_tokens=max_tokens,
            temperature=temperature,
            timeout_s=timeout_s,
        )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._client: OpenAILike | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatLLM:
        cfg = settings.llm
        if not cfg.base_url:
            raise ConfigError("llm.backend 'openai' needs llm.base_url")
        return cls(
            base_url=cfg.base_url,
            model=cfg.model,
            api_key=cfg.api_key.get_secret_value() if cfg.api_key else None,
            context_window=cfg.context_window,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            timeout_s=cfg.timeout_s,
        )

    def warm_up(self) -> None:
        """Build the client (no request is made)."""
        if self._client is not None:
            return
        from llama_index.llms.openai_like import OpenAILike

        self._client = OpenAILike(
            model=self.model,
            api_base=self.base_url,
            # The SDK insists on a key; local servers ignore it.
            api_key=self._api_key or "unused",
            is_chat_model=True,
            context_window=self.context_window,
            # Set per call: a client-level max_tokens overrides the one passed to a call.
            max_tokens=None,
            temperature=self.temperature,
            timeout=self.timeout_s,
            max_retries=0,
            additional_kwargs={"stream_options": {"include_usage": True}},
        )

    @property
    def client(self) -> OpenAILike:
        self.warm_up()
        assert self._client is not None
        return self._client

    def count_tokens(self, text: str) -> int:
        # The endpoint's tokenizer is unknown here: over-estimate rather than overflow.
        return estimate_tokens(text)

    @staticmethod
    def _messages(messages: Sequence[Message]) -> list[ChatMessage]:
        from llama_index.core.base.llms.types import ChatMessage

        return [ChatMessage(role=m.role, content=m.content) for m in messages]

    def _error(self, exc: Exception) -> Exception:
        """The domain error for a failure of the OpenAI SDK underneath."""
        import openai

        where = f"LLM endpoint {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return LLMTimeoutError(
                f"{where} did not answer within llm.timeout_s={self.timeout_s:g}s"
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailableError(f"{where} is unreachable: {exc}")
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code in _CONFIG_STATUSES:
                return ConfigError(
                    f"{where} refused the request ({exc.status_code} "
                    f"{_CONFIG_STATUSES[exc.status_code]}); check llm.model and llm.api_key: "
                    f"{exc.message}"
                )
            return BackendUnavailableError(f"{where} failed ({exc.status_code}): {exc.message}")
        return exc

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> Completion:
        import openai

        try:
            response = self.client.chat(
                self._messages(messages), max_tokens=max_tokens or self.max_tokens
            )
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        text = response.message.content or ""
        counts = response.additional_kwargs
        raw: Any = response.raw
        choices = getattr(raw, "choices", None) or [None]
        return Completion(
            text=text,
            prompt_tokens=int(counts.get("prompt_tokens") or self.count_messages(messages)),
            completion_tokens=int(counts.get("completion_tokens") or self.count_tokens(text)),
            finish_reason=getattr(choices[0], "finish_reason", None),
        )

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        usage = Usage()
        return TokenStream(self._deltas(messages, max_tokens, usage), usage)

    def _deltas(
        self, messages: Sequence[Message], max_tokens: int | None, usage: Usage
    ) -> Iterator[str]:
        import openai

        deadline = Deadline(self.timeout_s, f"LLM endpoint {self.base_url}")
        text: list[str] = []
        try:
            responses = self.client.stream_chat(
                self._messages(messages), max_tokens=max_tokens or self.max_tokens
            )
            for response in responses:
                counts = response.additional_kwargs
                if counts.get("completion_tokens") is not None:
                    usage.prompt_tokens = int(counts.get("prompt_tokens") or 0)
                    usage.completion_tokens = int(counts["completion_tokens"])
                raw: Any = response.raw
                for choice in getattr(raw, "choices", None) or []:
                    usage.finish_reason = choice.finish_reason or usage.finish_reason
                if response.delta:
                    text.append(response.delta)
                    yield response.delta
                deadline.check()
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        if not usage.completion_tokens:  # the server sent no usage chunk
            usage.prompt_tokens = self.count_messages(messages)
            usage.completion_tokens = self.count_tokens("".join(text))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model": self.model,
            "base_url": self.base_url,
            "context_window": self.context_window,
        }

    def close(self) -> None:
        self._client = None
