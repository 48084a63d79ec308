"""The commands' work through a running server's API, as the API key's user.

Each function makes the requests of one command and returns plain data (the API's JSON);
the command modules print it with the same functions as their local path. An uploaded
ingest shows its progress from the server's jobs.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.client import ApiClient, ClientError
from cli.common import err_console

if TYPE_CHECKING:
    from ingest import SourceDocument
    from retrieval import SearchFilters

#: Seconds between two looks at a running ingest job (the key's rate limit counts them).
POLL_S = 1.0


def refuse_principal(
    as_user: str, groups: list[str] | None, tenant: str | None, default: str
) -> None:
    """Through a server the API key decides who searches: ``--as``, ``--group`` and
    ``--tenant`` would be silently ignored, so they are refused.

    :raises ClientError: one of them was given.
    """
    if as_user != default or groups or tenant:
        raise ClientError(
            "--as, --group and --tenant choose whom to search as when the CLI opens the store; "
            "through a server the API key decides. Use that user's key (DEEPWELL_API_KEY, or "
            "`deepwell login`), or stop the server."
        )


def _filters(filters: SearchFilters | None) -> dict[str, Any] | None:
    return None if filters is None else filters.model_dump(mode="json", exclude_none=True)


def search(
    client: ApiClient,
    query: str,
    *,
    limit: int | None,
    mode: str | None,
    filters: SearchFilters | None,
) -> dict[str, Any]:
    """``POST /v1/search``: the response (query, mode, results, timings)."""
    body = {"query": query, "limit": limit, "mode": mode, "filters": _filters(filters)}
    found: dict[str, Any] = client.post(
        "/v1/search", json={k: v for k, v in body.items() if v is not None}
    )
    return found


def hit_name(hit: dict[str, Any]) -> str:
    """A short name of a hit's document, as :func:`retrieval.doc_name` gives it locally."""
    from retrieval import uri_name

    return uri_name(hit["source_uri"]) or hit["title"] or hit["doc_id"]


def answer_events(
    client: ApiClient, question: str, *, limit: int | None, filters: SearchFilters | None
) -> Iterator[dict[str, Any]]:
    """The events of a streamed ``POST /v1/answer`` as the local answerer yields them
    (``{"type": "sources" | "token" | "done", ...}``).

    :raises ClientError: the request failed, or the server sent an error event.
    """
    from cli.client import server_events

    body = {"question": question, "stream": True, "limit": limit, "filters": _filters(filters)}
    with client.stream(
        "POST", "/v1/answer", json={k: v for k, v in body.items() if v is not None}
    ) as response:
        for event, data in server_events(response):
            if event == "error":
                raise ClientError(f"the answer failed: {data['error']['message']}")
            yield {"type": event, **data}


# --- documents and the corpus ------------------------------------------------------------


def documents(client: ApiClient, *, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` documents the key may read (``GET /v1/documents``, page by page)."""
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None and len(found) < limit:
        params: dict[str, Any] = {"limit": min(500, limit - len(found)), "offset": offset}
        if state:
            params["state"] = state
        page = client.get("/v1/documents", params=params)
        found += page["documents"]
        offset = page["next_offset"]
    return found


def document(client: ApiClient, doc_id: str) -> dict[str, Any] | None:
    """One document, or None when the key may not read it (or it does not exist)."""
    try:
        row: dict[str, Any] = client.get(f"/v1/documents/{doc_id}")
    except ClientError as exc:
        if exc.status == 404:
            return None
        raise
    return row


def delete_document(client: ApiClient, doc_id: str) -> bool:
    """Delete a document; False when the key may not read it (or it does not exist)."""
    try:
        client.request("DELETE", f"/v1/documents/{doc_id}")
    except ClientError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def corpus_report(client: ApiClient) -> dict[str, Any]:
    """The data card of the key's tenant (``GET /v1/corpus/report``, admin role)."""
    report: dict[str, Any] = client.get("/v1/corpus/report")
    return report


# --- ingest: upload, then follow the jobs ------------------------------------------------


@dataclass
class UploadSummary:
    """What the server's ingest jobs did with the uploaded files."""

    counts: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    wall_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: self.counts[k] for k in ("indexed", "unchanged", "failed")},
            "chunks": self.chunks,
            "wall_seconds": round(self.wall_seconds, 3),
            "failures": [{"source_uri": u, "error": e} for u, e in self.failures],
        }


def upload_documents(client: ApiClient, docs: Sequence[SourceDocument]) -> UploadSummary:
    """Upload each file (``POST /v1/documents``, with its ACL and metadata), then wait for
    the ingest jobs, with a progress bar on stderr.

    The server names an upload by its file name: two files of the same name would be one
    document, so that is refused before anything is sent.

    :raises ClientError: two files share a name, or the server refused the key.
    """
    names = Counter(d.filename.rsplit("/", 1)[-1] for d in docs)
    twice = sorted(n for n, c in names.items() if c > 1)
    if twice:
        raise ClientError(
            f"through the server, documents are named by their file name, and these names "
            f"occur more than once: {', '.join(twice[:5])}. Ingest them in separate runs, "
            "rename them, or stop the server and ingest locally."
        )
    summary = UploadSummary()
    start = time.monotonic()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs  {task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
        console=err_console,
    )
    with progress:
        sending = progress.add_task("upload", total=len(docs), chunks=0)
        jobs: dict[str, str] = {}  # job id -> file
        for doc in docs:
            if doc.problem:
                summary.counts["failed"] += 1
                summary.failures.append((doc.source_uri, doc.problem))
            else:
                try:
                    jobs[_upload(client, doc)] = doc.source_uri
                except ClientError as exc:
                    if exc.status in (None, 401, 403, 429) or (exc.status or 0) >= 500:
                        raise
                    summary.counts["failed"] += 1
                    summary.failures.append((doc.source_uri, str(exc)))
            progress.advance(sending)
        ingesting = progress.add_task("ingest", total=len(docs), chunks=0)
        progress.update(ingesting, completed=len(docs) - len(jobs))
        while jobs:  # one job at a time, in the order queued, to spare the rate limit
            job_id = next(iter(jobs))
            job = client.get(f"/v1/jobs/{job_id}")
            if job["status"] in ("queued", "running"):
                time.sleep(POLL_S)
            else:
                source = jobs.pop(job_id)
                summary.counts.update(job["counts"])
                summary.chunks += job["chunks"]
                for failure in job["errors"]:
                    summary.failures.append((source, failure.get("error", "")))
                if job["status"] != "done" and not job["errors"]:
                    summary.counts["failed"] += 1
                    summary.failures.append((source, job["error"] or job["status"]))
                progress.update(ingesting, advance=1, chunks=summary.chunks)
    summary.wall_seconds = time.monotonic() - start
    return summary


def _upload(client: ApiClient, doc: SourceDocument) -> str:
    """Send one file; returns its job id."""
    name = doc.filename.rsplit("/", 1)[-1]
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    form: dict[str, Any] = {"acl": list(doc.acl)}
    if doc.metadata:
        form["metadata"] = json.dumps(doc.metadata, default=str)
    accepted = client.post("/v1/documents", files={"file": (name, doc.read(), kind)}, data=form)
    return str(accepted["job_id"])


# --- keys --------------------------------------------------------------------------------


def keys(client: ApiClient, *, include_revoked: bool) -> list[dict[str, Any]]:
    """The keys of the admin's tenant (``GET /v1/keys``)."""
    found: list[dict[str, Any]] = client.get(
        "/v1/keys", params={"include_revoked": include_revoked}
    )
    return found


def create_key(
    client: ApiClient, *, user: str, groups: list[str], role: str, name: str
) -> dict[str, Any]:
    """A new key of the admin's tenant (``POST /v1/keys``): its record and its secret."""
    body = {"user": user, "groups": groups, "role": role, "name": name}
    created: dict[str, Any] = client.post("/v1/keys", json=body)
    return created


def revoke_key(client: ApiClient, key_id: str) -> dict[str, Any]:
    """Revoke the key whose id (or visible prefix) is ``key_id``; returns its record.

    :raises ClientError: no such key in the admin's tenant.
    """
    known = keys(client, include_revoked=True)
    matches = [k for k in known if k["key_id"] == key_id] or [
        k for k in known if k["prefix"] == key_id
    ]
    if len(matches) != 1:
        raise ClientError(f"no key {key_id!r} in this tenant")
    client.request("DELETE", f"/v1/keys/{matches[0]['key_id']}")
    return matches[0]
