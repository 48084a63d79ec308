"""Who may change what: the rules behind key creation and document deletion.

Roles are about administration, never about reading: what a principal may *read*
is its ACL alone (:mod:`retrieval.acl`), and no role lets anyone reach further.
Two rules keep that true where the API changes things:

**Keys (``api.key_delegation``).** The CLI (``deepwell keys create``) runs with
direct access to the database: it is the operator and may create any key. Through
the API, an admin creates keys of its own tenant only, and with the default policy
``within-reach`` the new key can never read more than the admin who made it:

- its user is new (no key of that user exists in the tenant, revoked ones
  included) or the admin itself — so an admin cannot become an existing person;
- its groups are groups the admin itself holds;
- no document of the tenant names the new user in its ACL unless the admin may
  read that document too (documents shared with ``user:<id>`` before the person
  had a key stay theirs).

Together: everything the new key can read, the admin could already read. An
operator who wants admins to provision any user and group sets
``api.key_delegation = "any"``; that is a deliberate widening, logged in the audit
trail with each key made.

**Documents.** Deleting or replacing a document needs the writer role and read
access to it, and then being its owner (the user who uploaded it) or an admin of
its tenant. Documents synced from a folder have no owner: only admins delete them.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import PermissionDeniedError, Principal, Settings
from ingest import DocumentRow, Registry
from retrieval import can_read


def within_reach(
    admin: Principal,
    *,
    user: str,
    groups: Iterable[str],
    existing_users: Iterable[str],
    access_lists: Iterable[tuple[str, list[str]]],
) -> str | None:
    """Why a key for ``user`` with ``groups`` would read more than ``admin``; None if it can't.

    Args:
        admin: the principal creating the key (its tenant is the new key's tenant).
        user: the new key's user (without ``user:``).
        groups: the new key's groups (without ``group:``).
        existing_users: users that already hold a key in the tenant (revoked included).
        access_lists: ``(doc_id, acl)`` of every document of the tenant.
    """
    if user != admin.user and user in set(existing_users):
        return f"user {user!r} already has an identity; a key for it would act as that person"
    extra = sorted(set(groups) - set(admin.groups))
    if extra:
        return f"group(s) {', '.join(extra)} are not yours to grant"
    token = f"user:{user}"
    for doc_id, acl in access_lists:
        if token in acl and not can_read(admin, {"tenant": admin.tenant, "acl": acl}):
            return f"document {doc_id} is shared with {token} and you may not read it"
    return None


def check_key_grant(
    admin: Principal,
    settings: Settings,
    registry: Registry,
    *,
    user: str,
    groups: Iterable[str],
    existing_users: Iterable[str],
) -> None:
    """Refuse (403) a key an admin may not create under ``api.key_delegation``."""
    if settings.api.key_delegation == "any":
        return
    clean_user = user.strip().removeprefix("user:")
    clean_groups = [g.strip().removeprefix("group:") for g in groups]
    reason = within_reach(
        admin,
        user=clean_user,
        groups=clean_groups,
        existing_users=existing_users,
        access_lists=registry.access_lists(admin.tenant),
    )
    if reason is not None:
        raise PermissionDeniedError(
            f"cannot create this key: {reason}. A key made through the API never reads more "
            "than its creator (api.key_delegation = 'within-reach'); an operator can create it "
            "with `deepwell keys create`"
        )


def may_change(principal: Principal, row: DocumentRow) -> bool:
    """Whether ``principal`` may delete or replace the document of ``row``.

    The writer role, read access, and ownership or the admin role in its tenant.
    """
    if principal.role == "reader":
        return False
    if not can_read(principal, {"tenant": row.tenant, "acl": row.acl}):
        return False
    return principal.role == "admin" or (row.owner is not None and row.owner == principal.user)


def require_change(principal: Principal, row: DocumentRow, what: str) -> None:
    """Raise :class:`PermissionDeniedError` unless :func:`may_change` (the caller can read it)."""
    if principal.role == "reader":
        raise PermissionDeniedError(f"{what} needs the writer role; this key has the reader role")
    if not may_change(principal, row):
        raise PermissionDeniedError(
            f"{what}: only its owner (the user who uploaded it) or an admin of its tenant may"
        )
