from dataclasses import dataclass

import pytest
from cdktf import TerraformOutput, TerraformVariable

from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import check_member
from constructs_lib.identity import ServiceIdentity
from constructs_lib.interfaces import Grant, Grantee, ModelSource
from constructs_lib.model_store import ModelStore, default_bucket_name
from constructs_lib.naming import Naming, check_bucket_name
from constructs_lib.specs.model_store import ModelStoreSpec
from tests.conftest import TEST_PROJECT, only_resource, resources, synth

SA = "serviceAccount:fleet@test-project-123.iam.gserviceaccount.com"
KEY = "projects/test-project-123/locations/us/keyRings/models/cryptoKeys/bucket"


def _store(stack, naming, **spec):
    return ModelStore(stack, "models", naming=naming, project_id=TEST_PROJECT, spec=ModelStoreSpec(**spec))


# -- secure defaults ---------------------------------------------------------------------------

def test_default_bucket_is_private_versioned_and_protected(stack, naming):
    store = _store(stack, naming)
    bucket = only_resource(synth(stack), "google_storage_bucket")
    assert bucket["name"] == "test-project-123-ml-test-models" == store.name
    assert bucket["location"] == "US"
    assert bucket["storage_class"] == "STANDARD"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["force_destroy"] is False
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    assert bucket["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    assert bucket["lifecycle_rule"] == [
        {"action": {"type": "Delete"}, "condition": {"num_newer_versions": 3, "with_state": "ARCHIVED"}},
        {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 30, "with_state": "ARCHIVED"}},
    ]
    assert "encryption" not in bucket and "logging" not in bucket


def test_model_uri_names_the_bucket_literally_and_url_references_it(stack, naming):
    """A server's template gets the bucket's name, not a reference: create-before-destroy of the
    template must not spread to the bucket. The url output still follows the resource."""
    store = _store(stack, naming)
    source = store.model_uri("llama/v3/")
    assert isinstance(source, ModelSource)
    TerraformOutput(stack, "uri", value=source.uri)
    TerraformOutput(stack, "bucket", value=source.bucket)
    TerraformOutput(stack, "url", value=store.url)
    outputs = synth(stack)["output"]
    bucket_id = next(iter(resources(synth(stack), "google_storage_bucket")))
    assert outputs["uri"]["value"] == f"gs://{store.name}/llama/v3/" == "gs://test-project-123-ml-test-models/llama/v3/"
    assert outputs["bucket"]["value"] == store.name
    assert outputs["url"]["value"] == f"${{google_storage_bucket.{bucket_id}.url}}"


@pytest.mark.parametrize("path", ["", "/abs/path", "a//b", "a/../b", "/"])
def test_fails_when_model_path_is_not_a_relative_object_path(stack, naming, path):
    store = _store(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^path = .*: must be a relative object prefix such as resnet/v3"):
        store.model_uri(path)


def test_grant_read_gives_object_viewer_only(stack, naming):
    store = _store(stack, naming)
    grant = store.grant_read(SA)
    assert isinstance(grant, Grant)
    assert (grant.member, grant.roles, grant.target) == (SA, ("roles/storage.objectViewer",), "bucket test-project-123-ml-test-models")
    assert grant.resources == (store.read_grants["sa-fleet-test-project-123"],)
    store.grant_read("group:ml-readers@example.com")
    grants = resources(synth(stack), "google_storage_bucket_iam_member")
    assert sorted(store.read_grants) == ["group-ml-readers-example-com", "sa-fleet-test-project-123"]
    assert len(grants) == 2
    for grant in grants.values():
        assert grant["role"] == "roles/storage.objectViewer"
        assert grant["bucket"].startswith("${google_storage_bucket.models_default_")


def test_grant_read_accepts_token_members(stack, naming):
    store = _store(stack, naming)
    store.grant_read(f"serviceAccount:{store.bucket.name}@p.iam.gserviceaccount.com")
    store.grant_read(f"serviceAccount:{store.bucket.name}@q.iam.gserviceaccount.com", id_="fleet")
    assert sorted(store.read_grants) == ["fleet", "member-1"]


@dataclass(frozen=True)
class _Fleet:
    """A ``Grantee``: anything with ``iam_member``."""

    iam_member: str


def test_grant_read_takes_a_grantee(stack, naming):
    store = _store(stack, naming)
    fleet = _Fleet(iam_member=SA)
    assert isinstance(fleet, Grantee)
    grant = store.grant_read(fleet)
    assert grant.member == SA
    assert sorted(store.read_grants) == ["sa-fleet-test-project-123"]
    assert only_resource(synth(stack), "google_storage_bucket_iam_member")["member"] == SA


def test_grant_read_takes_a_service_identity(stack, naming):
    store = _store(stack, naming)
    identity = ServiceIdentity(stack, "server", account_id="ml-test-server", display_name="server", description="model server")
    store.grant_read(identity)
    assert sorted(store.read_grants) == ["member-1"]  # a token member is numbered
    result = synth(stack)
    account = next(iter(resources(result, "google_service_account")))
    assert only_resource(result, "google_storage_bucket_iam_member")["member"] == f"${{google_service_account.{account}.member}}"


@pytest.mark.parametrize(
    "member",
    ["fleet@x.iam.gserviceaccount.com", "serviceAccount:", "allUsers", "allAuthenticatedUsers", "owner:me@x.com", "user:not-an-email"],
)
def test_fails_when_member_is_not_an_iam_member(member):
    with pytest.raises(ConfigurationError, match=r"^member = .*: must be an IAM member 'serviceAccount:<email>'"):
        check_member(member)


def test_fails_when_grant_read_member_is_bad(stack, naming):
    store = _store(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^grantee = 'allUsers': must be an IAM member"):
        store.grant_read("allUsers")
    with pytest.raises(ConfigurationError, match=r"^grantee = 'int': must be an IAM member string or have iam_member"):
        store.grant_read(42)
    assert store.read_grants == {}


def test_fails_when_grant_read_is_repeated_for_a_member(stack, naming):
    store = _store(stack, naming)
    store.grant_read(SA)
    with pytest.raises(ConfigurationError, match=r"^id_ = 'sa-fleet-test-project-123': a grant with this id exists already"):
        store.grant_read(SA)


# -- bucket name --------------------------------------------------------------------------------

def test_default_bucket_name_carries_the_project_id(naming):
    assert default_bucket_name(naming, "test-project-123") == "test-project-123-ml-test-models"
    assert default_bucket_name(Naming(app="fraud", env="prod"), "acme-ml-prod") == "acme-ml-prod-fraud-prod-models"


def test_default_bucket_name_is_cut_with_a_digest_when_over_63_characters():
    naming = Naming(app="inference-platform", env="production-europe")
    full = "acme-machine-learning-prod-42-inference-platform-production-europe-models"
    name = default_bucket_name(naming, "acme-machine-learning-prod-42")
    assert len(full) > 63 and len(name) == 63
    assert name[:56] == full[:56] and name[56] == "-" and all(c in "0123456789abcdef" for c in name[57:])
    assert check_bucket_name(name) == name
    assert default_bucket_name(naming, "acme-machine-learning-prod-42") == name
    assert default_bucket_name(naming, "acme-machine-learning-prod-43") != name


def test_default_bucket_name_of_exactly_63_characters_is_kept():
    naming = Naming(app="ml", env="e" * 24)
    name = f"{'p' * 28}-ml-{'e' * 24}-models"
    assert len(name) == 63
    assert default_bucket_name(naming, "p" * 28) == name


def test_fails_when_neither_project_id_nor_bucket_name_is_given(stack, naming):
    with pytest.raises(ConfigurationError) as caught:
        ModelStore(stack, "models", naming=naming)
    message = str(caught.value)
    assert message.startswith("project_id = None: is needed for the default bucket name <project>-<app>-<env>-models")
    assert "\n" not in message and "spec.bucket_name" in message
    assert stack.node.try_find_child("models") is None


def test_explicit_bucket_name_needs_no_project_id(stack, naming):
    store = ModelStore(stack, "models", naming=naming, spec=ModelStoreSpec(bucket_name="acme-models"))
    assert store.name == "acme-models"
    assert only_resource(synth(stack), "google_storage_bucket")["name"] == "acme-models"


def test_fails_when_the_default_name_would_come_from_a_token_project_id(stack, naming):
    project = TerraformVariable(stack, "project", type="string")
    with pytest.raises(ConfigurationError, match=r"^project_id = '<token>': must be a literal project id"):
        ModelStore(stack, "models", naming=naming, project_id=project.string_value)
    store = ModelStore(stack, "models", naming=naming, project_id=project.string_value, spec=ModelStoreSpec(bucket_name="acme-models"))
    assert store.name == "acme-models"


def test_fails_when_the_project_id_makes_an_invalid_bucket_name(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^model_store.bucket_name = 'google-ml-ml-test-models': must not start with 'goog'"):
        ModelStore(stack, "models", naming=naming, project_id="google-ml")


# -- options -----------------------------------------------------------------------------------

def test_bucket_name_location_storage_class_labels_and_no_protection(stack, naming):
    _store(
        stack, naming, bucket_name="acme-ml-models.example.com", location="europe-west4", storage_class="NEARLINE",
        labels={"team": "ml"}, prevent_destroy=False,
    )
    bucket = only_resource(synth(stack), "google_storage_bucket")
    assert bucket["name"] == "acme-ml-models.example.com"
    assert bucket["location"] == "EUROPE-WEST4"
    assert bucket["storage_class"] == "NEARLINE"
    assert bucket["labels"]["team"] == "ml"
    assert "lifecycle" not in bucket


@pytest.mark.parametrize("location", ["US", "eu", "asia", "NAM4", "eur4", "us-central1", "EUROPE-WEST1"])
def test_known_locations_are_accepted_and_upper_cased(location):
    assert ModelStoreSpec(location=location).location == location.upper()


def test_noncurrent_rules_are_configurable(stack, naming):
    _store(stack, naming, noncurrent_versions_to_keep=10, noncurrent_days=None)
    bucket = only_resource(synth(stack), "google_storage_bucket")
    assert bucket["lifecycle_rule"] == [
        {"action": {"type": "Delete"}, "condition": {"num_newer_versions": 10, "with_state": "ARCHIVED"}},
    ]


def test_noncurrent_rules_can_both_be_off(stack, naming):
    _store(stack, naming, noncurrent_versions_to_keep=None, noncurrent_days=None)
    assert "lifecycle_rule" not in only_resource(synth(stack), "google_storage_bucket")


def test_cmek_sets_default_key_and_grants_the_storage_service_agent(stack, naming):
    _store(stack, naming, kms_key_name=KEY)
    result = synth(stack)
    bucket = only_resource(result, "google_storage_bucket")
    assert bucket["encryption"] == {"default_kms_key_name": KEY}
    grant = only_resource(result, "google_kms_crypto_key_iam_member")
    assert grant["crypto_key_id"] == KEY
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    agent_id = next(iter(result["data"]["google_storage_project_service_account"]))
    assert grant["member"] == f"${{data.google_storage_project_service_account.{agent_id}.member}}"
    grant_id = next(iter(resources(result, "google_kms_crypto_key_iam_member")))
    assert bucket["depends_on"] == [f"google_kms_crypto_key_iam_member.{grant_id}"]


def test_cmek_without_the_service_agent_grant(stack, naming):
    _store(stack, naming, kms_key_name=KEY, grant_kms_to_service_agent=False)
    result = synth(stack)
    assert resources(result, "google_kms_crypto_key_iam_member") == {}
    assert "depends_on" not in only_resource(result, "google_storage_bucket")


def test_access_logging_to_a_log_bucket(stack, naming):
    _store(stack, naming, log_bucket="ml-test-access-logs", log_object_prefix="models/")
    bucket = only_resource(synth(stack), "google_storage_bucket")
    assert bucket["logging"] == {"log_bucket": "ml-test-access-logs", "log_object_prefix": "models/"}


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("ab", "must be 3-63 characters"),
        ("a" * 64, "must be 3-63 characters"),
        ("Models", "bucket names are 3-63 characters"),
        ("-models", "bucket names are 3-63 characters"),
        ("models-", "bucket names are 3-63 characters"),
        ("mod els", "bucket names are 3-63 characters"),
        ("goog-models", "must not start with 'goog'"),
        ("my-google-models", "contain 'google'"),
        ("192.168.5.4", "must not be an IP address"),
        ("a..b", "each dot-separated part must be 1-63 characters"),
        ("a" * 64 + ".example.com", "each dot-separated part must be 1-63 characters"),
        (".".join(["a" * 60] * 4), "must be 3-222 characters"),
    ],
)
def test_fails_when_bucket_name_breaks_the_rules(name, why):
    with pytest.raises(ConfigurationError, match=why):
        check_bucket_name(name)
    with pytest.raises(ConfigurationError, match=r"bucket_name"):
        ModelStoreSpec(bucket_name=name)


def test_long_dotted_bucket_names_are_accepted():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63])
    assert check_bucket_name(name) == name


def test_fails_when_location_is_unknown():
    with pytest.raises(ConfigurationError) as caught:
        ModelStoreSpec(location="moon-1")
    assert str(caught.value).startswith(
        "ModelStoreSpec: location = 'moon-1': unknown Cloud Storage location; allowed: a multi-region (ASIA, EU, US), a dual-region (ASIA1,"
    )


@pytest.mark.parametrize(
    "key",
    [
        "projects/p/locations/us/keyRings/r/cryptoKeys/k",
        "projects/test-project-123/locations/us/keyRings/r",
        "projects/test-project-123/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "my-key",
    ],
)
def test_fails_when_cmek_key_id_is_malformed(key):
    with pytest.raises(ConfigurationError, match=r"must be a Cloud KMS key id: projects/<project>/locations/<location>/keyRings"):
        ModelStoreSpec(kms_key_name=key)


def test_fails_when_cmek_key_is_in_another_location():
    key = "projects/test-project-123/locations/europe-west1/keyRings/r/cryptoKeys/k"
    with pytest.raises(ConfigurationError, match=r"kms_key_name is in location 'europe-west1' but the bucket is in US"):
        ModelStoreSpec(kms_key_name=key)


def test_fails_when_log_prefix_is_given_without_log_bucket():
    with pytest.raises(ConfigurationError, match=r"log_object_prefix needs log_bucket"):
        ModelStoreSpec(log_object_prefix="x/")


def test_fails_when_noncurrent_settings_are_below_one():
    with pytest.raises(ConfigurationError, match=r"noncurrent_versions_to_keep"):
        ModelStoreSpec(noncurrent_versions_to_keep=0)


# -- snapshots ---------------------------------------------------------------------------------

def test_snapshot_default_model_store(stack, naming, snapshot_json):
    store = _store(stack, naming)
    store.grant_read(SA)
    assert synth(stack) == snapshot_json


def test_snapshot_model_store_with_cmek(stack, naming, snapshot_json):
    store = _store(stack, naming, kms_key_name=KEY)
    store.grant_read(SA)
    assert synth(stack) == snapshot_json
