"""``ServiceIdentity`` (a dedicated service account with least-privilege role bindings) and
``derived_account_id``."""

import pytest
from cdktf import TerraformOutput
from constructs import Construct

from constructs_lib._google import service_account
from constructs_lib.errors import ConfigurationError
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.interfaces import Grantee
from constructs_lib.naming import Naming
from tests.conftest import new_stack, only_resource, resources, synth

ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")


def _identity(scope, id_="server", account_id="ml-test-server", **kwargs):
    return ServiceIdentity(scope, id_, account_id=account_id, display_name="Model server", description="resnet servers", **kwargs)


def _logical_ids(synthesized, resource_type):
    return sorted(resources(synthesized, resource_type))


# -- account and bindings -----------------------------------------------------------------------

def test_account_and_one_binding_per_role(stack):
    identity = _identity(stack, roles=ROLES)
    result = synth(stack)
    account = only_resource(result, "google_service_account")
    assert (account["account_id"], account["display_name"], account["description"]) == ("ml-test-server", "Model server", "resnet servers")
    assert "project" not in account  # the provider's project
    account_id = _logical_ids(result, "google_service_account")[0]
    bindings = sorted(resources(result, "google_project_iam_member").values(), key=lambda b: b["role"])
    assert [b["role"] for b in bindings] == list(ROLES)
    for binding in bindings:
        assert binding["member"] == f"${{google_service_account.{account_id}.member}}"
        assert binding["project"] == f"${{google_service_account.{account_id}.project}}"
    assert sorted(identity.role_bindings) == list(ROLES)


def test_construct_ids_are_default_and_role_names(stack):
    identity = _identity(stack, roles=ROLES)
    assert identity.service_account.node.id == "default"
    assert {role: binding.node.id for role, binding in identity.role_bindings.items()} == {
        "roles/logging.logWriter": "role-logging.logWriter",
        "roles/monitoring.metricWriter": "role-monitoring.metricWriter",
    }
    result = synth(stack)
    assert _logical_ids(result, "google_service_account")[0].startswith("server_default_")
    assert all(lid.startswith("server_role-") for lid in _logical_ids(result, "google_project_iam_member"))


def test_custom_role_binding_id_uses_the_role_name(stack):
    identity = _identity(stack, roles=["projects/test-project-123/roles/modelReader", "organizations/123/roles/auditor"])
    assert sorted(b.node.id for b in identity.role_bindings.values()) == ["role-auditor", "role-modelReader"]


def test_email_and_iam_member_reference_the_account(stack):
    identity = _identity(stack)
    assert isinstance(identity, Grantee)
    TerraformOutput(stack, "email", value=identity.email)
    TerraformOutput(stack, "member", value=identity.iam_member)
    result = synth(stack)
    account_id = _logical_ids(result, "google_service_account")[0]
    assert result["output"]["email"]["value"] == f"${{google_service_account.{account_id}.email}}"
    assert result["output"]["member"]["value"] == f"${{google_service_account.{account_id}.member}}"
    assert identity.account_id == "ml-test-server"


def test_explicit_project_for_account_and_bindings(stack):
    _identity(stack, roles=ROLES[:1], project="serving-project-9")
    result = synth(stack)
    assert only_resource(result, "google_service_account")["project"] == "serving-project-9"
    assert only_resource(result, "google_project_iam_member")["project"] == "serving-project-9"


def test_no_roles_no_bindings(stack):
    identity = _identity(stack)
    assert identity.role_bindings == {}
    assert resources(synth(stack), "google_project_iam_member") == {}


def test_resource_id_default_keeps_the_account_at_the_parents_address():
    """An account created as ``ServiceAccount(parent, "fleet-sa")`` keeps its Terraform address when
    it becomes ``ServiceIdentity(parent, "fleet-sa", resource_id="Default")`` (no replacement)."""

    def account_address(build):
        stack = new_stack()
        build(Construct(stack, "fleet"))
        return _logical_ids(synth(stack), "google_service_account")

    before = account_address(lambda parent: service_account.ServiceAccount(parent, "fleet-sa", account_id="ml-test-fleet"))
    after = account_address(lambda parent: _identity(parent, "fleet-sa", "ml-test-fleet", resource_id="Default"))
    nested = account_address(lambda parent: _identity(parent, "fleet-sa", "ml-test-fleet"))
    assert after == before
    assert nested != before and nested[0].startswith("fleet_fleet-sa_default_")


# -- rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer"])
def test_fails_when_a_role_is_primitive(stack, role):
    with pytest.raises(ConfigurationError, match=rf"^roles\[1\] = '{role}': primitive roles \(roles/owner, roles/editor, roles/viewer\) are not allowed"):
        _identity(stack, roles=["roles/logging.logWriter", role])
    assert stack.node.try_find_child("server") is None


@pytest.mark.parametrize("role", ["logging.logWriter", "roles/", "projects/p/roles/x", "roles/logging logWriter"])
def test_fails_when_a_role_is_not_a_role_name(stack, role):
    with pytest.raises(ConfigurationError, match=r"^roles\[0\] = .*: must be a role name: roles/<name>"):
        _identity(stack, roles=[role])


def test_fails_when_a_role_is_repeated(stack):
    with pytest.raises(ConfigurationError, match=r"^roles = \['roles/logging.logWriter', .*: each role may be listed once; "
                       r"repeated: roles/logging.logWriter$"):
        _identity(stack, roles=[*ROLES, "roles/logging.logWriter"])
    assert stack.node.try_find_child("server") is None


def test_fails_when_two_roles_would_share_a_binding_id(stack):
    with pytest.raises(ConfigurationError, match=r"^roles = \['roles/storage.objectViewer', 'projects/test-project-123/roles/.*: "
                       r"these roles share the binding id role-storage.objectViewer; grant one of them here"):
        _identity(stack, roles=["roles/storage.objectViewer", "projects/test-project-123/roles/storage.objectViewer"])


@pytest.mark.parametrize("account_id", ["short", "a" * 31, "Server-account", "1-server", "server-", "server_account"])
def test_fails_when_the_account_id_is_invalid(stack, account_id):
    with pytest.raises(ConfigurationError, match=rf"^account_id = '{account_id}': must be 6-30 characters matching"):
        _identity(stack, account_id=account_id)
    assert stack.node.try_find_child("server") is None


# -- derived account ids ------------------------------------------------------------------------

def test_derived_account_id_joins_the_prefix_and_parts(naming):
    assert derived_account_id(naming, "resnet") == "ml-test-resnet"
    assert derived_account_id(naming, "resnet", "euw1") == "ml-test-resnet-euw1"


def test_derived_account_id_is_cut_to_30_characters_with_a_digest(naming):
    full = "ml-test-image-classification-europe-west1"
    cut = derived_account_id(naming, "image-classification", "europe-west1")
    assert len(full) > 30 and len(cut) == 30
    assert cut[:25] == full[:25] and cut[25] == "-" and all(c in "0123456789abcdef" for c in cut[26:])
    assert derived_account_id(naming, "image-classification", "europe-west1") == cut
    assert derived_account_id(naming, "image-classification", "europe-west4") != cut


def test_derived_account_id_cut_does_not_leave_a_double_hyphen(naming):
    # the 25th character is a hyphen: it is dropped before the digest
    cut = derived_account_id(naming, "abcdefghijklmnop", "qrstuvwxyz")
    assert "--" not in cut and len(cut) <= 30 and cut.startswith("ml-test-abcdefghijklmnop-")


def test_derived_account_id_of_exactly_30_characters_is_kept(naming):
    assert derived_account_id(naming, "a" * 22) == "ml-test-" + "a" * 22


def test_derived_account_id_pads_ids_shorter_than_6_characters():
    assert derived_account_id(Naming(app="a", env="b")) == "a-b-fleet"


def test_fails_when_a_derived_account_id_part_is_invalid(naming):
    with pytest.raises(ConfigurationError, match=r"^account_id = 'ml-test-Res_Net': must be 6-30 characters"):
        derived_account_id(naming, "Res_Net")
