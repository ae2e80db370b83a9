"""Small IAM rules shared by constructs that create service accounts and bindings.

Primitive roles (owner / editor / viewer) are rejected: they grant far more than any serving
component needs and scanners flag them. Default service accounts (Compute Engine's
``<number>-compute@developer.gserviceaccount.com``, App Engine's ``<project>@appspot...``)
are rejected as workload identities: they are shared by everything in the project and usually
hold Editor.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from constructs_lib.errors import ConfigurationError, rule
from constructs_lib.values import is_token

PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
ROLE_PATTERN = re.compile(
    r"^(roles/[a-zA-Z0-9_.]+|projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/roles/[a-zA-Z0-9_.]{3,64}"
    r"|organizations/[0-9]+/roles/[a-zA-Z0-9_.]{3,64})$"
)
ACCOUNT_ID_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
SERVICE_ACCOUNT_EMAIL_PATTERN = re.compile(r"^[a-z0-9][-a-z0-9_.]*@[a-z0-9][-a-z0-9.]*\.gserviceaccount\.com$")
_MEMBER = re.compile(r"^(serviceAccount|user|group):[^@\s:]+@[^@\s]+\.[^@\s]+$")
MEMBER_RULE = (
    "must be an IAM member 'serviceAccount:<email>', 'user:<email>' or 'group:<email>' "
    "(or a Terraform token that resolves to one)"
)
DEFAULT_SERVICE_ACCOUNT_PATTERNS = (
    re.compile(r"^[0-9]+-compute@developer\.gserviceaccount\.com$"),
    re.compile(r"^[a-z][-a-z0-9:.]*@appspot\.gserviceaccount\.com$"),
)


def check_role(role: str, field: str = "role") -> str:
    """``role`` if it is a predefined or custom role and not a primitive one."""
    if role in PRIMITIVE_ROLES:
        raise ConfigurationError(
            field, role, "primitive roles (roles/owner, roles/editor, roles/viewer) are not allowed; grant a predefined role"
        )
    if not isinstance(role, str) or not ROLE_PATTERN.fullmatch(role):
        raise ConfigurationError(
            field, role,
            "must be a role name: roles/<name>, projects/<project>/roles/<id> or organizations/<number>/roles/<id>",
        )
    return role


def check_account_id(account_id: str, field: str = "account_id") -> str:
    """``account_id`` if it is a valid service account id (6-30 chars, ``^[a-z]([-a-z0-9]*[a-z0-9])$``)."""
    if not isinstance(account_id, str) or not ACCOUNT_ID_PATTERN.fullmatch(account_id) or not 6 <= len(account_id) <= 30:
        raise ConfigurationError(
            field, account_id,
            "must be 6-30 characters matching ^[a-z]([-a-z0-9]*[a-z0-9])$ (lowercase letters, digits, hyphens)",
        )
    return account_id


AccountId = Annotated[str, rule(check_account_id)]
"""Spec field type: a service account id (6-30 characters)."""

Role = Annotated[str, rule(check_role)]
"""Spec field type: a predefined or custom IAM role (never a primitive one)."""


def check_service_account_email(email: str, field: str = "service_account") -> str:
    """``email`` if it names a user-managed service account (Terraform tokens pass unchecked)."""
    if isinstance(email, str) and is_token(email):
        return email
    if not isinstance(email, str) or not SERVICE_ACCOUNT_EMAIL_PATTERN.fullmatch(email):
        raise ConfigurationError(field, email, "must be a service account email (<name>@<project>.iam.gserviceaccount.com)")
    if any(p.fullmatch(email) for p in DEFAULT_SERVICE_ACCOUNT_PATTERNS):
        raise ConfigurationError(
            field, email, "default service accounts are shared and over-privileged; use a dedicated service account"
        )
    return email


def service_account_member(email: str) -> str:
    """``serviceAccount:<email>``: the IAM member string for a service account."""
    return f"serviceAccount:{email}"


def check_member(value: str, field: str = "member") -> str:
    """Return ``value`` if it is an IAM member (``serviceAccount:``/``user:``/``group:`` + email) or a
    token that resolves to one (``f"serviceAccount:{sa.email}"``), else raise ConfigurationError."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(field, value, MEMBER_RULE)
    if is_token(value):
        # A token alone (e.g. a service account's `member` attribute) or a known prefix + token.
        if value.startswith("${") or re.match(r"^(serviceAccount|user|group):\S", value):
            return value
        raise ConfigurationError(field, value, MEMBER_RULE)
    if not _MEMBER.fullmatch(value):
        raise ConfigurationError(field, value, MEMBER_RULE)
    return value


def grant_id(member: str, id_: str | None, taken: set[str], token_count: int) -> str:
    """A stable construct id for an IAM grant: ``id_`` if given, else a slug of a literal member
    (``serviceAccount:fleet@p.iam.gserviceaccount.com`` -> ``sa-fleet-p``), else ``member-<n>`` for the
    n-th token member. Fails if the id is already used."""
    if id_ is None:
        if is_token(member):
            id_ = f"member-{token_count + 1}"
        else:
            kind, _, email = member.partition(":")
            email = email.removesuffix(".iam.gserviceaccount.com").removesuffix(".gserviceaccount.com")
            short = {"serviceAccount": "sa"}.get(kind, kind)
            id_ = f"{short}-" + re.sub(r"[^A-Za-z0-9-]+", "-", email).strip("-")
    if not id_ or "/" in id_:
        raise ConfigurationError("id_", id_, "must be a non-empty construct id without '/'")
    if id_ in taken:
        raise ConfigurationError("id_", id_, "a grant with this id exists already; pass another id_")
    return id_


def grantee_member(grantee: Any) -> str:
    """The IAM member of a ``Grantee`` (anything with ``iam_member``) or of a member string, checked."""
    member = grantee if isinstance(grantee, str) else getattr(grantee, "iam_member", None)
    if member is None:
        raise ConfigurationError("grantee", type(grantee).__name__, "must be an IAM member string or have iam_member (a fleet, workload or ServiceIdentity)")
    return check_member(member, "grantee")
