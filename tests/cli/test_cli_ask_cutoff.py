"""`deepwell ask` when the model is slow or fails: the passages it reads are named before it
writes, a cut-off answer keeps its text and says why, and an error starts a line of its own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from typer.testing import CliRunner

import retrieval
from core import DeepwellError, LLMTimeoutError, ModelError
from retrieval import ExtractiveLLM, Message, TokenStream, Usage
from tests.cli.test_cli_ask import app, data_dir, run

__all__ = ["data_dir", "run"]

ASK = ["ask", "How much were iPhone net sales?", "--as", "alice", "--llm", "extractive"]


class Stalling(ExtractiveLLM):
    """Writes ``words``, then fails with ``error``."""

    def __init__(self, words: Sequence[str], error: DeepwellError) -> None:
        super().__init__()
        self.words = list(words)
        self.error = error

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None) -> TokenStream:
        def deltas() -> Iterator[str]:
            yield from self.words
            raise self.error

        return TokenStream(deltas(), Usage(prompt_tokens=50))


def use(monkeypatch: pytest.MonkeyPatch, llm: ExtractiveLLM) -> None:
    monkeypatch.setattr(retrieval, "get_llm", lambda settings: llm)


def test_a_time_out_after_the_first_words_keeps_them_and_says_why(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = LLMTimeoutError("local model did not finish within llm.timeout_s=120s")
    use(monkeypatch, Stalling(["Revenue", " was"], error))
    result = run.invoke(app, ASK)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Revenue was\n")
    assert "cut off:" in result.stderr
    assert "llm.timeout_s=120s" in result.stderr
    assert "error:" not in result.stderr
    # The passages are named before the model writes.
    assert "reading 2 passages from apple-q3.pdf" in result.stderr
    assert result.output.index("reading 2 passages") < result.output.index("Revenue")


def test_an_error_after_words_starts_a_line_of_its_own(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Not "Revenue": words that may still become the prompt's example are held back.)
    use(monkeypatch, Stalling(["iPhone"], ModelError("the model file went away")))
    result = run.invoke(app, ASK)
    assert result.exit_code == 1
    assert result.stdout == "iPhone\n"
    assert "iPhone\nerror: the model file went away" in result.output


def test_a_time_out_before_the_first_word_is_an_error(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = LLMTimeoutError("local model did not finish within llm.timeout_s=120s (reading)")
    use(monkeypatch, Stalling([], error))
    result = run.invoke(app, ASK)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: local model did not finish within llm.timeout_s=120s" in result.stderr
