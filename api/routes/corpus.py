"""The corpus data card of the caller's tenant (admin role): what ``deepwell corpus report``
prints, as the JSON of :meth:`ingest.CorpusReport.as_dict`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import require_role
from api.deps import CallerDep, ServicesDep
from api.errors import error_responses
from api.services import Services
from ingest import build_report, token_counter
from retrieval import Filter, MatchValue

router = APIRouter(prefix="/v1", tags=["documents"])


def _words(text: str) -> int:
    return len(text.split())


def corpus_report(services: Services, tenant: str | None) -> dict[str, Any]:
    """The data card of ``tenant`` (every tenant with None): documents, pages, chunks and
    tokens by tenant, type and source, dropped shares, parse quality, failures.

    Tokens are counted with the embedding model's tokenizer where it has one, else words.
    """
    tokenizer_file = services.embedder.model_info.path / "tokenizer.json"
    count = token_counter(tokenizer_file) if tokenizer_file.is_file() else _words

    def texts(doc_id: str) -> list[str]:
        flt = Filter(must=[MatchValue("doc_id", doc_id)])
        return [str(h.payload.get("text", "")) for h in services.index.scroll(flt)]

    report = build_report(services.registry.documents(tenant=tenant), texts, count)
    return report.as_dict()


@router.get(
    "/corpus/report",
    summary="The corpus data card of the caller's tenant (admin role)",
    description="Documents, pages, chunks and tokens by tenant, type, source, issuer and "
    "document type; chunks dropped by cleaning and their shares; parse quality (tables, "
    "OCRed and empty pages, suspect extractions); parse failures. The same object as "
    "`deepwell corpus report --json`.",
    responses=error_responses(401, 403, 429),
)
def report(caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    require_role(caller.principal, "admin", "the corpus report")
    return corpus_report(services, caller.principal.tenant)
