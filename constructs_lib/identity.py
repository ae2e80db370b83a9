"""``ServiceIdentity``: a dedicated service account with least-privilege project roles.

The one way the library creates a service account (a model's servers, a GKE node pool, a
model's Workload Identity account). Primitive roles and repeated roles are rejected. Construct
ids: the account is ``default`` (or ``resource_id``), each binding ``role-<role name>``.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

from constructs import Construct

from constructs_lib._google import project_iam_member, service_account as google_service_account
from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import check_account_id, check_role
from constructs_lib.naming import Naming
from constructs_lib.values import check_unique, repeated

MAX_ACCOUNT_ID = 30


def derived_account_id(naming: Naming, *parts: str) -> str:
    """``<app>-<env>-<part>...`` as a service account id, cut to 30 characters with a
    deterministic 4-character digest when longer (ids are 6-30 characters)."""
    candidate = "-".join((naming.prefix, *parts))
    if len(candidate) > MAX_ACCOUNT_ID:
        digest = hashlib.sha256(candidate.encode()).hexdigest()[:4]
        candidate = f"{candidate[:25].rstrip('-')}-{digest}"
    if len(candidate) < 6:
        candidate = f"{candidate}-fleet"
    return check_account_id(candidate, "account_id")


class ServiceIdentity(Construct):
    """A service account (``service_account``, ``email``, ``iam_member``) and its project role
    bindings (``role_bindings[role]``). ``project`` defaults to the provider's project; the
    bindings go to the account's own project. Satisfies ``interfaces.Grantee``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        account_id: str,
        display_name: str,
        description: str,
        roles: Sequence[str] = (),
        project: str | None = None,
        resource_id: str = "default",
    ) -> None:
        roles = tuple(roles)
        for index, role in enumerate(roles):
            check_role(role, f"roles[{index}]")
        check_unique(roles, "roles", "role")
        keys = [role.rsplit("/", 1)[-1] for role in roles]
        for key in repeated(keys):
            clash = [role for role in roles if role.rsplit("/", 1)[-1] == key]
            raise ConfigurationError(
                "roles", clash, f"these roles share the binding id role-{key}; grant one of them here and the other "
                "with another ServiceIdentity or a project_iam_member",
            )
        check_account_id(account_id)
        super().__init__(scope, id_)
        self.account_id = account_id
        self.service_account = google_service_account.ServiceAccount(
            self, resource_id,
            account_id=account_id, display_name=display_name, description=description, project=project,
        )
        self.email: str = self.service_account.email
        self.iam_member: str = self.service_account.member
        self.role_bindings: dict[str, project_iam_member.ProjectIamMember] = {
            role: project_iam_member.ProjectIamMember(
                self, f"role-{key}", project=project or self.service_account.project, role=role, member=self.iam_member,
            )
            for role, key in zip(roles, keys)
        }
