"""``ModelStore``: the Cloud Storage bucket model servers load their artifacts from.

Secure by default: uniform bucket-level access (IAM only, no ACLs), public access prevention
enforced, object versioning on with a lifecycle rule that prunes old noncurrent versions, and
``prevent_destroy`` with ``force_destroy = False`` so a plan can never delete the models. Readers
are granted through ``grant_read(grantee)``; nobody writes bucket IAM by hand.

Bucket names share one global namespace: the default name carries the project id
(``<project>-<app>-<env>-models``) so a first apply does not collide with someone else's bucket.
Spec: ``constructs_lib.specs.model_store``.
"""

from __future__ import annotations

import hashlib

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from constructs_lib._google import (
    data_google_storage_project_service_account,
    kms_crypto_key_iam_member,
    storage_bucket,
    storage_bucket_iam_member,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import grant_id, grantee_member
from constructs_lib.interfaces import Grant, Grantee, ModelSource
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import MAX_BUCKET_NAME, Naming, check_bucket_name
from constructs_lib.specs.model_store import ModelStoreSpec
from constructs_lib.values import check_object_path, is_token

READER_ROLE = "roles/storage.objectViewer"


def default_bucket_name(naming: Naming, project_id: str) -> str:
    """``<project>-<app>-<env>-models``: unique in Cloud Storage's global namespace because project
    ids are; cut with a 6-character digest when longer than 63 characters."""
    name = f"{project_id}-{naming.prefix}-models"
    if len(name) > MAX_BUCKET_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        name = f"{name[:MAX_BUCKET_NAME - 7].rstrip('-')}-{digest}"
    return check_bucket_name(name, "model_store.bucket_name")


class ModelStore(Construct):
    """Versioned, private Cloud Storage bucket for model artifacts.

    Exposes ``bucket`` (the ``google_storage_bucket``), ``name`` (the bucket name, a plain string),
    ``url`` (``gs://<name>``) and ``read_grants[id]``. Intent methods: ``grant_read(grantee)`` and
    ``model_uri(path)`` -> ``ModelSource`` for the fleet. ``project_id`` is needed for the default
    bucket name; with ``spec.bucket_name`` it may be omitted.
    """

    def __init__(
        self, scope: Construct, id_: str, *, naming: Naming, project_id: str | None = None, spec: ModelStoreSpec | None = None,
    ) -> None:
        spec = spec or ModelStoreSpec()
        if spec.bucket_name is None and project_id is None:
            raise ConfigurationError(
                "project_id", None, "is needed for the default bucket name <project>-<app>-<env>-models (bucket names are global); "
                "pass project_id or set spec.bucket_name",
            )
        if spec.bucket_name is None and is_token(project_id):
            raise ConfigurationError(
                "project_id", "<token>", "must be a literal project id: the default bucket name is derived and checked "
                "from it at synth; pass the project id or set spec.bucket_name",
            )
        name = spec.bucket_name or default_bucket_name(naming, project_id)  # type: ignore[arg-type]
        apply_common_labels(scope, naming)  # before the construct exists: a naming conflict leaves nothing behind
        super().__init__(scope, id_)
        self.naming = naming
        self.spec = spec
        self.name: str = name
        self.read_grants: dict[str, storage_bucket_iam_member.StorageBucketIamMember] = {}
        self._token_grants = 0

        lifecycle_rules = []
        if spec.noncurrent_versions_to_keep is not None:
            lifecycle_rules.append(storage_bucket.StorageBucketLifecycleRule(
                action=storage_bucket.StorageBucketLifecycleRuleAction(type="Delete"),
                condition=storage_bucket.StorageBucketLifecycleRuleCondition(
                    num_newer_versions=spec.noncurrent_versions_to_keep, with_state="ARCHIVED",
                ),
            ))
        if spec.noncurrent_days is not None:
            lifecycle_rules.append(storage_bucket.StorageBucketLifecycleRule(
                action=storage_bucket.StorageBucketLifecycleRuleAction(type="Delete"),
                condition=storage_bucket.StorageBucketLifecycleRuleCondition(
                    days_since_noncurrent_time=spec.noncurrent_days, with_state="ARCHIVED",
                ),
            ))

        self.kms_grant: kms_crypto_key_iam_member.KmsCryptoKeyIamMember | None = None
        if spec.kms_key_name and spec.grant_kms_to_service_agent:
            agent = data_google_storage_project_service_account.DataGoogleStorageProjectServiceAccount(
                self, "storage-service-agent",
            )
            self.kms_grant = kms_crypto_key_iam_member.KmsCryptoKeyIamMember(
                self, "kms-encrypter-decrypter",
                crypto_key_id=spec.kms_key_name,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=agent.member,
            )

        self.bucket = storage_bucket.StorageBucket(
            self, "default",
            name=self.name,
            location=spec.location,
            storage_class=spec.storage_class,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=storage_bucket.StorageBucketVersioning(enabled=True),
            lifecycle_rule=lifecycle_rules or None,
            encryption=storage_bucket.StorageBucketEncryption(default_kms_key_name=spec.kms_key_name)
            if spec.kms_key_name else None,
            logging=storage_bucket.StorageBucketLogging(
                log_bucket=spec.log_bucket, log_object_prefix=spec.log_object_prefix,
            ) if spec.log_bucket else None,
            labels=dict(spec.labels),
            force_destroy=False,
            depends_on=[self.kms_grant] if self.kms_grant else None,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if spec.prevent_destroy else None,
        )
        self.url: str = self.bucket.url

    def grant_read(self, grantee: Grantee | str, *, id_: str | None = None) -> Grant:
        """Grant ``grantee`` (a fleet, workload or identity, or an IAM member string)
        ``roles/storage.objectViewer`` on this bucket: read models, nothing else.

        The construct id is ``read-<id_>``; ``id_`` defaults to a slug of a literal member, or
        ``member-<n>`` for the n-th token member (pass ``id_`` to pin it).
        """
        member = grantee_member(grantee)
        key = grant_id(member, id_, set(self.read_grants), self._token_grants)
        if id_ is None and is_token(member):
            self._token_grants += 1
        binding = storage_bucket_iam_member.StorageBucketIamMember(
            self, f"read-{key}", bucket=self.bucket.name, role=READER_ROLE, member=member,
        )
        self.read_grants[key] = binding
        return Grant(member=member, roles=(READER_ROLE,), target=f"bucket {self.name}", resources=(binding,))

    def model_uri(self, path: str) -> ModelSource:
        """``ModelSource`` for ``gs://<bucket>/<path>``, with the bucket's name as a literal: a server's
        instance template must not reference the bucket (create-before-destroy would spread to it)."""
        check_object_path(path, "path")
        return ModelSource(uri=f"gs://{self.name}/{path}", bucket=self.name)
