"""``deepwell search`` and ``deepwell ask``: find passages, or get a cited answer, as someone.

Both open the embedded store, or, while a server runs on the data directory (or
``--url`` names one), ask it through its API (:mod:`cli.remote`) as the API key's user
and print the same way. Locally they search as the principal given with ``--as``/
``--group``/``--tenant`` (the ACL filter is applied inside retrieval). Both take the
same narrowing filters. ``ask`` says which passages the model reads as soon as
retrieval ends, streams the answer to the terminal as it is generated, then lists
the sources it cited. A cut-off answer keeps what was written and says why; an
error always starts a line of its own.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from cli import remote
from cli.common import URL, console, domain_errors, err_console, load_settings, server_client
from core import InvalidInputError, Principal, Settings

if TYPE_CHECKING:  # heavy: engines and models load only when a command runs
    from ingest import Store
    from retrieval import Citation, Searcher, SearchFilters

DEFAULT_USER = "cli"


class Mode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    lexical = "lexical"


class Backend(StrEnum):
    local = "local"
    openai = "openai"
    extractive = "extractive"


def parse_principal(spec: str, groups: list[str] | None, tenant: str) -> Principal:
    """``alice`` or ``user:alice`` (plus ``--group`` and ``--tenant``) as a principal."""
    kind, sep, name = spec.partition(":")
    if sep and kind != "user":
        raise InvalidInputError(f"--as {spec!r}: use USER or user:USER (groups go in --group)")
    user = name if sep else spec
    if not user.strip():
        raise InvalidInputError("--as needs a user name")
    clean = tuple(g.removeprefix("group:") for g in groups or ())
    return Principal(user=user.strip(), groups=clean, tenant=tenant)


def parse_filters(
    source: str | None, docs: list[str] | None, types: list[str] | None, meta: list[str] | None
) -> SearchFilters | None:
    """The narrowing filters of the command line, or None when none was given."""
    from retrieval import SearchFilters

    metadata: dict[str, Any] = {}
    for item in meta or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--meta {item!r}: use KEY=VALUE")
        metadata[key] = int(value) if value.lstrip("-").isdigit() else value
    fields: dict[str, Any] = {
        "source_prefix": source,
        "doc_ids": docs or None,
        "file_types": types or None,
        "metadata": metadata or None,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    try:
        return SearchFilters(**given) if given else None
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidInputError(f"invalid filter: {exc}") from exc


@contextlib.contextmanager
def _opened(settings: Settings, *, warm_up: bool) -> Iterator[tuple[Store, Searcher]]:
    from ingest import Store
    from retrieval import Searcher

    with domain_errors():
        store = Store.open(settings, warm_up=warm_up)
    with store:
        with domain_errors():
            searcher = Searcher.from_settings(settings, store.index, store.embedder)
        yield store, searcher


# Options both commands share (typer reads them from the defaults).
AS = typer.Option(DEFAULT_USER, "--as", help="Search as USER or user:USER.")
GROUP = typer.Option(None, "--group", help="A group of the principal (repeat).")
TENANT = typer.Option(None, "--tenant", help="Tenant (default: ingest.default_tenant).")
SOURCE = typer.Option(None, "--source", help="Only sources whose URI starts with this.")
DOC = typer.Option(None, "--doc", help="Only this document id (repeat).")
TYPE = typer.Option(None, "--type", help="Only this file type, e.g. pdf (repeat).")
META = typer.Option(None, "--meta", help="Only documents with metadata KEY=VALUE (repeat).")


def search(
    query: str = typer.Argument(..., help="What to look for."),
    as_user: str = AS,
    group: list[str] = GROUP,
    tenant: str = TENANT,
    limit: int = typer.Option(None, "--limit", help="How many results (default: search.top_k)."),
    mode: Mode = typer.Option(None, "--mode", help="hybrid (default), dense or lexical."),
    source: str = SOURCE,
    doc: list[str] = DOC,
    file_type: list[str] = TYPE,
    meta: list[str] = META,
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    url: str = URL,
) -> None:
    """Find the passages PRINCIPAL may read that best match QUERY."""
    settings = load_settings()
    client = server_client(settings, url)
    if client is not None:  # a server holds the store: it searches, as the key's user
        with client, domain_errors():
            filters = parse_filters(source, doc, file_type, meta)
            remote.refuse_principal(as_user, group, tenant, DEFAULT_USER)
            found = remote.search(
                client, query, limit=limit, mode=mode.value if mode else None, filters=filters
            )
            who = None if as_json or found["results"] else client.get("/v1/me")
        if as_json:
            console.print_json(json.dumps(found))
            return
        if who is not None:
            _nothing_found(who["user"], who["tenant"], through=client.url)
        hits = [
            (h["score"], remote.hit_name(h), h["page_start"], h["section"], h["text"])
            for h in found["results"]
        ]
        _print_hits(hits, found["mode"], found["timings"])
        return
    with domain_errors():
        principal = parse_principal(as_user, group, tenant or settings.ingest.default_tenant)
        filters = parse_filters(source, doc, file_type, meta)
    with _opened(settings, warm_up=False) as (_, searcher), domain_errors():
        result = searcher.search(
            query, principal, filters=filters, limit=limit, mode=mode.value if mode else None
        )
    if as_json:
        rows = [{"rank": i, **c.to_dict()} for i, c in enumerate(result.chunks, start=1)]
        payload = {"query": query, "mode": result.mode, "results": rows, "timings": result.timings}
        console.print_json(json.dumps(payload, default=str))
        return
    if not result.chunks:
        _nothing_found(principal.user, principal.tenant)
    from retrieval import doc_name

    hits = [(c.score, doc_name(c), c.page_start, c.section, c.text) for c in result.chunks]
    _print_hits(hits, result.mode, result.timings)


def _nothing_found(user: str, tenant: str, through: str | None = None) -> NoReturn:
    where = f" (through the server at {through})" if through else ""
    err_console.print(f"nothing found for {user!r} in tenant {tenant!r}{where}")
    raise typer.Exit(1)


def _print_hits(
    hits: Sequence[tuple[float, str, int | None, Sequence[str], str]],
    mode: str,
    timings: dict[str, float],
) -> None:
    """The ranked passages as a table: score, document, page, section, text."""
    from retrieval import snippet

    table = Table("#", "score", "document", "page", "section", "text", show_lines=False)
    for i, (score, name, page, section, text) in enumerate(hits, start=1):
        table.add_row(
            str(i),
            f"{score:.3f}",
            name,
            "" if page is None else str(page),
            " > ".join(section[-2:]),
            snippet(text, 160),
        )
    console.print(table)
    spent = ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if v)
    err_console.print(f"[dim]{mode} search, {len(hits)} results; ms: {spent}[/dim]")


def ask(
    question: str = typer.Argument(..., help="The question."),
    as_user: str = AS,
    group: list[str] = GROUP,
    tenant: str = TENANT,
    llm: Backend | None = typer.Option(
        None, "--llm", help="Answer backend (default: llm.backend)."
    ),
    model: str | None = typer.Option(None, "--model", help="Model name (default: llm.model)."),
    limit: int = typer.Option(
        None, "--limit", help="Passages to retrieve (default: search.top_k)."
    ),
    source: str = SOURCE,
    doc: list[str] = DOC,
    file_type: list[str] = TYPE,
    meta: list[str] = META,
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
    url: str = URL,
) -> None:
    """Answer QUESTION from the documents PRINCIPAL may read, with cited sources."""
    from retrieval import Answerer, get_llm

    settings = load_settings()
    client = server_client(settings, url)
    if client is not None:  # a server holds the store: it answers, as the key's user
        with client, domain_errors():
            filters = parse_filters(source, doc, file_type, meta)
            remote.refuse_principal(as_user, group, tenant, DEFAULT_USER)
            if llm is not None or model is not None:
                err_console.print(
                    "[yellow]warning:[/yellow] --llm and --model choose a model of this "
                    f"machine; the server at {client.url} answers with its own"
                )
            events = remote.answer_events(client, question, limit=limit, filters=filters)
            done, said = _stream_answer(events, as_json=as_json)
        _end_answer(done, said, as_json=as_json)
        return
    if llm is not None:
        settings.llm.backend = llm.value
    if model is not None:
        settings.llm.model = model
    with domain_errors():
        principal = parse_principal(as_user, group, tenant or settings.ingest.default_tenant)
        filters = parse_filters(source, doc, file_type, meta)
        writer = get_llm(settings)
    local = settings.llm.backend == "local"
    with (
        contextlib.closing(writer),
        _opened(settings, warm_up=local) as (_, searcher),
        domain_errors(),
    ):
        with err_console.status(f"loading {settings.llm.backend} model…", spinner="dots"):
            writer.warm_up()
        answerer = Answerer(searcher, writer, settings, retrieve_limit=limit)
        events = answerer.answer(question, principal, filters=filters, stream=True)
        done, said = _stream_answer(events, as_json=as_json)
    _end_answer(done, said, as_json=as_json)


def _stream_answer(
    events: Iterable[dict[str, Any]], *, as_json: bool
) -> tuple[dict[str, Any], str]:
    """Print the events of an answer as they come (what the model reads, then its words);
    returns the ``done`` event and the words written."""
    done: dict[str, Any] = {}
    wrote = False
    streamed: list[str] = []
    try:
        for event in events:
            if event["type"] == "done":
                done = event
            elif as_json:
                continue
            elif event["type"] == "sources":
                _print_reading(event)
            elif event["type"] == "token":
                sys.stdout.write(event["text"])
                sys.stdout.flush()
                streamed.append(event["text"])
                wrote = True
    except BaseException:
        if wrote:  # the error goes on a line of its own, not after the last word
            sys.stdout.write("\n")
            sys.stdout.flush()
        raise
    return done, "".join(streamed).strip()


def _end_answer(done: dict[str, Any], said: str, *, as_json: bool) -> None:
    """After the streamed words: what the answer gained once written, notes, the sources."""
    if as_json:
        console.print_json(json.dumps(done, default=str))
        return
    sys.stdout.write("\n")
    # What the answer gained once written: a figure computed from it, a note on its key figure.
    answer = str(done.get("answer", ""))
    if said and answer.startswith(said) and (more := answer[len(said) :].strip()):
        sys.stdout.write(f"\n{more}\n")
    if done.get("note"):
        level = "[yellow]warning:[/yellow]" if done.get("truncated") else "[dim]note:[/dim]"
        err_console.print(f"{level} {escape(done['note'])}", highlight=False)
    _print_sources(done)


def _print_reading(sources: dict[str, Any]) -> None:
    """What the model is about to read, on stderr, before it starts writing."""
    context = sources["context"]
    if not sources["generate"] or not context:
        return
    from retrieval import uri_name

    names = list(dict.fromkeys(uri_name(c["source_uri"]) or c["title"] for c in context))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    plural = "s" if len(context) != 1 else ""
    err_console.print(
        f"[dim]reading {len(context)} passage{plural} from {escape(shown)}…[/dim]",
        highlight=False,
    )


def _print_sources(done: dict[str, Any]) -> None:
    from retrieval import Citation

    if done["unsupported_numbers"]:
        figures = ", ".join(done["unsupported_numbers"])
        err_console.print(f"[yellow]warning:[/yellow] not found in the sources: {figures}")
    cited = [Citation.from_dict(c) for c in done["citations"]]
    if cited:
        console.print("\n[bold]Sources[/bold]")
        for c in cited:
            console.print(_source_line(c), markup=False, highlight=False)
    elif done["context"] and not done["no_answer"]:
        console.print("\n[bold]Sources[/bold] (none cited; passages given to the model)")
        for raw in done["context"]:
            c = Citation.from_dict(raw)
            console.print(_source_line(c), markup=False, highlight=False)
    t = done["timings"]
    model = done["model"].get("model") or done["model"]["backend"]
    rate = f"{done['tokens_per_s']:.1f} tok/s" if done["tokens_per_s"] else "n/a tok/s"
    ttft = f"{t['ttft_ms'] / 1000:.2f} s" if t.get("ttft_ms") is not None else "n/a"
    err_console.print(
        f"[dim]first token {ttft} · {rate} · {done['prompt_tokens']} prompt + "
        f"{done['completion_tokens']} completion tokens · retrieve {t['retrieve_ms']:.0f} ms · "
        f"total {t['total_ms'] / 1000:.2f} s · {model}"
        "[/dim]"
    )


def _source_line(c: Citation) -> str:
    """``[n] file · title, p. 4 — source URI`` (the title only where it says more)."""
    from retrieval import snippet, uri_name

    name = uri_name(c.source_uri)
    title = snippet(c.title, 60)
    head = f"{name} · {title}" if name and title and title != name else (name or title)
    page = ""
    if c.page_start is not None:
        page = f", p. {c.page_start}" + (
            f"–{c.page_end}" if c.page_end not in (None, c.page_start) else ""
        )
    return f"[{c.n}] {head}{page} — {c.source_uri}"
