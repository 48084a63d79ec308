"""LLM backends behind one interface, chosen by ``settings.llm.backend``.

- ``local``: a verified GGUF model through llama-cpp-python (:class:`LocalLLM`);
- ``openai``: any OpenAI-compatible endpoint (:class:`OpenAICompatLLM`);
- ``extractive``: no model, cited sentences of the context (:class:`ExtractiveLLM`).

Typical use::

    llm = get_llm(settings)
    llm.warm_up()
    for delta in llm.stream([Message("user", "Hello")]):
        print(delta, end="")
"""

from __future__ import annotations

from core import Settings
from retrieval.llm.base import (
    LLM,
    Completion,
    Message,
    TokenStream,
    Usage,
    backends,
    estimate_tokens,
    get_llm,
    register_backend,
)
from retrieval.llm.prompts import NO_ANSWER

__all__ = [
    "LLM",
    "NO_ANSWER",
    "Completion",
    "Message",
    "TokenStream",
    "Usage",
    "backends",
    "estimate_tokens",
    "get_llm",
    "register_backend",
]


# The backend modules import their engines (llama.cpp, the OpenAI SDK) only when built.
def _local(settings: Settings) -> LLM:
    from retrieval.llm.local import LocalLLM

    return LocalLLM.from_settings(settings)


def _openai(settings: Settings) -> LLM:
    from retrieval.llm.openai_compat import OpenAICompatLLM

    return OpenAICompatLLM.from_settings(settings)


def _extractive(settings: Settings) -> LLM:
    from retrieval.llm.extractive import ExtractiveLLM

    return ExtractiveLLM.from_settings(settings)


register_backend("local", _local)
register_backend("openai", _openai)
register_backend("extractive", _extractive)
