"""Typed dependencies: request code receives services and the caller, never builds them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Caller, KeyStore, dev_caller
from api.security import release_address_token
from api.services import Services
from core import AuthenticationError
from ingest import JobQueue
from retrieval import Records, Searcher


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`dw_...`): `Authorization: Bearer <key>`.",
)
_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="The same API key in an `X-API-Key` header.",
)


def get_caller(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key)],
) -> Caller:
    """The authenticated caller (and one token of its rate limit).

    In development mode a request without a key is the ``dev`` principal; a key that
    is presented is checked all the same. A request that gets this far has spent a token
    of its client address's bucket (:mod:`api.security`); a valid caller gives it back,
    a failed key check leaves it spent.
    """
    keys = services.keys
    secret = bearer.credentials if bearer is not None else header_key
    if secret:
        caller = keys.authenticate(secret.strip())
    elif services.settings.api.dev_mode:
        caller = dev_caller(services.settings)
    else:
        raise AuthenticationError(
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    request.state.caller = caller  # who made the request, for the request log
    release_address_token(request.scope)
    services.limiter.check(caller.rate_key)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_searcher(services: ServicesDep) -> Searcher:
    return services.searcher


def get_keys(services: ServicesDep) -> KeyStore:
    return services.keys


def get_records(services: ServicesDep) -> Records:
    return services.records


def get_jobs(services: ServicesDep) -> JobQueue:
    return services.jobs


SearcherDep = Annotated[Searcher, Depends(get_searcher)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
RecordsDep = Annotated[Records, Depends(get_records)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
