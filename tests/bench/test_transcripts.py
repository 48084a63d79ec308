"""bench.transcripts' reading of what the CLI printed and of the answer's event stream."""

from __future__ import annotations

import json

import pytest

from bench.transcripts import _sse_done, answer_times


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        # a log line first, then the reading line, then the answer's first word
        (
            [
                (1.0, "warning: slow disk\n"),
                (2.0, "reading 3 passages from a.pdf…\n"),
                (2.5, "Rev"),
            ],
            (2.0, 2.5),
        ),
        # the reading line and the first word read in one chunk, after an empty one
        ([(1.0, ""), (3.0, "reading 1 passage from a.pdf…\nRevenue was")], (3.0, 3.0)),
        # whitespace after the reading line is not the answer yet
        ([(1.0, "reading 2 passages from a.pdf…\n"), (1.5, "\n"), (4.0, "No")], (1.0, 4.0)),
        # no reading line (no passages to read): the first text is the answer
        ([(0.5, "  "), (2.0, "I could not find that.")], (None, 2.0)),
        # nothing after the reading line (the process died)
        ([(1.0, "reading 2 passages from a.pdf…\n")], (1.0, None)),
    ],
)
def test_answer_times(
    chunks: list[tuple[float, str]], expected: tuple[float | None, float | None]
) -> None:
    assert answer_times(chunks) == expected


def test_sse_done_is_the_done_events_data() -> None:
    done = {"answer": "Up to 160 euros [1].", "figures": [{"text": "160 euros"}]}
    body = (
        'event: sources\ndata: {"context": []}\n\n'
        'event: token\ndata: {"text": "Up to"}\n\n'
        f"event: done\ndata: {json.dumps(done)}\n\n"
    )
    assert _sse_done(body) == done
    assert _sse_done('event: error\ndata: {"error": {}}\n\n') == {}
