"""`deepwell search` and `deepwell ask` on a small real index, as different principals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import ask_cmd
from core import Chunk, InvalidInputError, Principal, Settings, configured_embedding
from retrieval import NO_ANSWER, DenseEmbedder, IndexPoint, encode_documents, open_index

DOCS = [
    # (doc, acl, tenant, page, text)
    ("apple-q3", ["*"], "default", 4, "iPhone net sales were $39,669 million in the quarter."),
    ("apple-q3", ["*"], "default", 5, "Services net sales rose to $21,213 million, a record."),
    ("budget", ["group:finance"], "default", 1, "The confidential iPhone budget is $7 million."),
    ("memo", ["user:bob"], "default", 2, "Bob's private memo on iPhone net sales targets."),
    ("other", ["*"], "acme", 1, "Acme iPhone net sales were $1 million."),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose index holds :data:`DOCS`, written as ingest writes them."""
    data = tmp_path_factory.mktemp("cli-ask") / "data"
    settings = Settings(data_dir=data)
    embedder = DenseEmbedder(configured_embedding(settings))
    texts = [d[4] for d in DOCS]
    dense = embedder.embed_documents(texts)
    sparse = encode_documents(texts)
    with open_index(settings) as index:
        index.ensure_collection(embedder.dim)
        index.upsert(
            [
                IndexPoint(
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc}/{i}")),
                    dense=[float(x) for x in dense[i]],
                    sparse=sparse[i],
                    payload=Chunk(
                        doc_id=doc,
                        chunk_index=i,
                        text=text,
                        title=f"{doc} report",
                        source_uri=f"file:///docs/{doc}.pdf",
                        section=["Item 2"],
                        page_start=page,
                        page_end=page,
                        element_types=["NarrativeText"],
                        acl=acl,
                        tenant=tenant,
                    ).to_payload(),
                )
                for i, (doc, acl, tenant, page, text) in enumerate(DOCS)
            ]
        )
    return data


@pytest.fixture
def run(clean_env: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DEEPWELL_DATA_DIR", str(data_dir))
    return CliRunner()


app = typer.Typer()
app.command("search")(ask_cmd.search)
app.command("ask")(ask_cmd.ask)


def search_docs(run: CliRunner, *args: str) -> list[str]:
    result = run.invoke(app, ["search", "iPhone net sales", "--json", *args])
    assert result.exit_code == 0, result.output
    return [r["doc_id"] for r in json.loads(result.stdout)["results"]]


def test_search_shows_only_what_the_principal_may_read(run: CliRunner) -> None:
    assert set(search_docs(run, "--as", "alice")) == {"apple-q3"}
    assert set(search_docs(run, "--as", "user:alice", "--group", "finance")) == {
        "apple-q3",
        "budget",
    }
    assert set(search_docs(run, "--as", "bob")) == {"apple-q3", "memo"}
    assert set(search_docs(run, "--as", "bob", "--tenant", "acme")) == {"other"}


def test_search_filters_and_modes_narrow_the_results(run: CliRunner) -> None:
    assert set(search_docs(run, "--as", "bob", "--doc", "memo")) == {"memo"}
    assert search_docs(run, "--as", "alice", "--limit", "1", "--mode", "lexical") == ["apple-q3"]


def test_search_prints_a_table(run: CliRunner) -> None:
    result = run.invoke(app, ["search", "Services net sales", "--as", "alice"])
    assert result.exit_code == 0, result.output
    assert "apple-q3.pdf" in result.stdout
    assert "hybrid search" in result.stderr


def test_ask_streams_a_cited_answer_then_the_sources(run: CliRunner) -> None:
    result = run.invoke(
        app, ["ask", "How much were iPhone net sales?", "--as", "alice", "--llm", "extractive"]
    )
    assert result.exit_code == 0, result.output
    answer, _, sources = result.stdout.partition("\nSources\n")
    assert "iPhone net sales were $39,669 million in the quarter. [1]" in answer
    assert "[1] apple-q3.pdf · apple-q3 report, p. 4 — file:///docs/apple-q3.pdf" in sources
    assert "budget" not in result.stdout
    assert "first token" in result.stderr


def test_ask_as_json_carries_citations_and_timings(run: CliRunner) -> None:
    result = run.invoke(
        app, ["ask", "Services net sales?", "--as", "alice", "--llm", "extractive", "--json"]
    )
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["type"] == "done"
    assert done["citations"][0]["source_uri"] == "file:///docs/apple-q3.pdf"
    assert {"retrieve_ms", "generate_ms", "ttft_ms"} <= set(done["timings"])


def test_ask_with_nothing_readable_says_so(run: CliRunner) -> None:
    result = run.invoke(
        app,
        ["ask", "Services net sales?", "--as", "eve", "--tenant", "nowhere", "--llm", "extractive"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == NO_ANSWER


def test_ask_with_the_local_model(run: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPWELL_LLM__MAX_TOKENS", "12")
    monkeypatch.setenv("DEEPWELL_LLM__CONTEXT_WINDOW", "2048")
    result = run.invoke(
        app,
        [
            "ask",
            "iPhone net sales?",
            "--as",
            "alice",
            "--llm",
            "local",
            "--model",
            "smollm2-135m-instruct",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert "smollm2-135m-instruct" in result.stderr
    assert "tok/s" in result.stderr


def test_a_store_held_by_a_server_is_reported(run: CliRunner, data_dir: Path) -> None:
    with open_index(Settings(data_dir=data_dir)):
        result = run.invoke(app, ["search", "iPhone", "--as", "alice"])
    assert result.exit_code == 1
    assert "in use by another process" in result.stderr
    assert "server" in result.stderr


def test_a_bad_principal_is_refused(run: CliRunner) -> None:
    result = run.invoke(app, ["search", "iPhone", "--as", "group:finance"])
    assert result.exit_code == 1
    assert "USER or user:USER" in result.stderr


@pytest.mark.parametrize(
    ("spec", "groups", "expected"),
    [
        ("alice", None, Principal(user="alice")),
        (
            "user:alice",
            ["finance", "group:legal"],
            Principal(user="alice", groups=("finance", "legal")),
        ),
    ],
)
def test_parse_principal(spec: str, groups: list[str] | None, expected: Principal) -> None:
    assert ask_cmd.parse_principal(spec, groups, "default") == expected


@pytest.mark.parametrize("spec", ["", "user:", "group:x", "  "])
def test_parse_principal_refuses(spec: str) -> None:
    with pytest.raises(InvalidInputError):
        ask_cmd.parse_principal(spec, None, "default")


def test_parse_filters() -> None:
    assert ask_cmd.parse_filters(None, None, None, None) is None
    flt = ask_cmd.parse_filters("file:///docs/", ["d1"], ["pdf"], ["year=2023", "team=ops"])
    assert flt is not None
    assert flt.source_prefix == "file:///docs/"
    assert flt.metadata == {"year": 2023, "team": "ops"}
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        ask_cmd.parse_filters(None, None, None, ["novalue"])


def test_ask_prints_what_the_answer_gained_once_written(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A figure found in no passage: the note that says so follows the streamed answer."""
    import retrieval
    from tests.retrieval.answer_testkit import ScriptedLLM

    monkeypatch.setattr(
        retrieval, "get_llm", lambda settings: ScriptedLLM(["iPhone made $5 million [1]."])
    )
    result = run.invoke(
        app, ["ask", "How much were iPhone net sales?", "--as", "alice", "--llm", "extractive"]
    )
    assert result.exit_code == 0, result.output
    answer = result.stdout.partition("\nSources\n")[0]
    assert answer.strip() == (
        "iPhone made $5 million [1].\n\n"
        "Note: $5 million is not in the passages given; it may be wrong."
    )
