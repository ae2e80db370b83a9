"""``ModelStore``: the Cloud Storage bucket model servers load their artifacts from.

Secure by default: uniform bucket-level access (IAM only, no ACLs), public access prevention
enforced, object versioning on with a lifecycle rule that prunes old noncurrent versions, and
``prevent_destroy`` with ``force_destroy = False`` so a plan can never delete the models. Readers
are granted through ``grant_read(member)``; nobody writes bucket IAM by hand.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from cdktf import TerraformResourceLifecycle, Token
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    data_google_storage_project_service_account,
    kms_crypto_key_iam_member,
    storage_bucket,
    storage_bucket_iam_member,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import check_member, grant_id
from constructs_lib.interfaces import ModelSource
from constructs_lib.naming import Labels, Naming
from constructs_lib.regions import REGIONS

MULTI_REGIONS: tuple[str, ...] = ("ASIA", "EU", "US")
"""Cloud Storage multi-region locations."""

DUAL_REGIONS: tuple[str, ...] = ("ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4")
"""Cloud Storage predefined dual-regions."""

BUCKET_NAME_RULE = (
    "bucket names are 3-63 characters (up to 222 with dots, each dot-separated part at most 63) of "
    "lowercase letters, digits, '-', '_' and '.', start and end with a letter or digit, do not start "
    "with 'goog', do not contain 'google' and are not an IP address"
)

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")
_KMS_KEY = re.compile(
    r"^projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/locations/(?P<location>[a-z0-9-]+)/"
    r"keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
)
KMS_KEY_RULE = "must be a Cloud KMS key id: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"


def check_bucket_name(value: str, field: str = "bucket_name") -> str:
    """Return ``value`` if it obeys Cloud Storage's bucket-name rules, else raise ConfigurationError."""
    if not isinstance(value, str) or not _BUCKET_CHARS.fullmatch(value):
        raise ConfigurationError(field, value, BUCKET_NAME_RULE)
    max_length = 222 if "." in value else 63
    if not 3 <= len(value) <= max_length:
        raise ConfigurationError(field, value, f"must be 3-{max_length} characters (has {len(value)}); {BUCKET_NAME_RULE}")
    if any(not 1 <= len(part) <= 63 for part in value.split(".")):
        raise ConfigurationError(field, value, f"each dot-separated part must be 1-63 characters; {BUCKET_NAME_RULE}")
    if value.startswith("goog") or "google" in value or "g00gle" in value:
        raise ConfigurationError(field, value, f"must not start with 'goog' or contain 'google'; {BUCKET_NAME_RULE}")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        raise ConfigurationError(field, value, f"must not be an IP address; {BUCKET_NAME_RULE}")
    return value


def _location_kind(location: str) -> Literal["multi-region", "dual-region", "region"] | None:
    upper = location.upper()
    if upper in MULTI_REGIONS:
        return "multi-region"
    if upper in DUAL_REGIONS:
        return "dual-region"
    if location.lower() in REGIONS:
        return "region"
    return None


class ModelStoreSpec(BaseModel):
    """Tunables of ``ModelStore``; the ``[model_store]`` section of an environment file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket_name: str | None = Field(
        default=None,
        description="Bucket name override. Defaults to <app>-<env>-models; bucket names are global, "
        "so set this when that name is taken.",
    )
    location: str = Field(
        default="US",
        description="Multi-region (US, EU, ASIA), predefined dual-region (NAM4, EUR4...) or region. "
        "Defaults to US: model files stay readable through a regional outage, for fleets in many regions.",
    )
    storage_class: Literal["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] = Field(
        default="STANDARD",
        description="Default storage class. Defaults to STANDARD: models are read at every VM start.",
    )
    noncurrent_versions_to_keep: int | None = Field(
        default=3, ge=1,
        description="Delete a noncurrent version once this many newer versions exist. Defaults to 3 "
        "(rollback to the last few models); None keeps all.",
    )
    noncurrent_days: int | None = Field(
        default=30, ge=1,
        description="Delete a noncurrent version this many days after it was replaced. Defaults to 30; None turns the rule off.",
    )
    kms_key_name: str | None = Field(
        default=None,
        description="Cloud KMS key for default encryption (CMEK), in the bucket's location. Defaults to "
        "None (Google-managed keys).",
    )
    grant_kms_to_service_agent: bool = Field(
        default=True,
        description="With kms_key_name: grant the project's Cloud Storage service agent "
        "roles/cloudkms.cryptoKeyEncrypterDecrypter on the key, so the bucket can use it. Defaults to on.",
    )
    log_bucket: str | None = Field(
        default=None,
        description="Bucket that receives usage/access logs. Defaults to None: Cloud Audit Logs cover data access.",
    )
    log_object_prefix: str | None = Field(default=None, description="Prefix of log objects; defaults to the bucket name.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on the bucket (common labels are always set).")
    prevent_destroy: bool = Field(
        default=True,
        description="Terraform refuses to destroy the bucket. Defaults to on: models are hard to rebuild; turn off for dev.",
    )

    @field_validator("bucket_name")
    @classmethod
    def _bucket_name(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_bucket_name(value)
            except ConfigurationError as error:
                raise ValueError(error.allowed) from None
        return value

    @field_validator("log_bucket")
    @classmethod
    def _log_bucket(cls, value: str | None) -> str | None:
        if value is not None and not Token.is_unresolved(value):
            try:
                check_bucket_name(value, "log_bucket")
            except ConfigurationError as error:
                raise ValueError(error.allowed) from None
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if _location_kind(value) is None:
            raise ValueError(
                f"unknown Cloud Storage location; allowed: a multi-region ({', '.join(MULTI_REGIONS)}), "
                f"a dual-region ({', '.join(DUAL_REGIONS)}) or a Google Cloud region such as europe-west1"
            )
        return value.upper()

    @field_validator("kms_key_name")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is not None and not Token.is_unresolved(value) and not _KMS_KEY.fullmatch(value):
            raise ValueError(KMS_KEY_RULE)
        return value

    @model_validator(mode="after")
    def _cross(self) -> "ModelStoreSpec":
        if self.kms_key_name and not Token.is_unresolved(self.kms_key_name):
            key_location = _KMS_KEY.fullmatch(self.kms_key_name).group("location")  # type: ignore[union-attr]
            kind = _location_kind(self.location)
            if kind in ("multi-region", "region") and key_location != self.location.lower():
                raise ValueError(
                    f"kms_key_name is in location {key_location!r} but the bucket is in {self.location}; "
                    f"a CMEK key must be in the bucket's location ({self.location.lower()})"
                )
        if self.log_object_prefix is not None and self.log_bucket is None:
            raise ValueError("log_object_prefix needs log_bucket")
        return self


class ModelStore(Construct):
    """Versioned, private Cloud Storage bucket for model artifacts.

    Exposes ``bucket`` (the ``google_storage_bucket``), ``name`` (the bucket name, a plain string),
    ``url`` (``gs://<name>``) and ``read_grants[id]``. Intent methods: ``grant_read(member)`` and
    ``model_uri(path)`` -> ``ModelSource`` for the fleet.
    """

    def __init__(self, scope: Construct, id_: str, *, naming: Naming, spec: ModelStoreSpec | None = None) -> None:
        super().__init__(scope, id_)
        spec = spec or ModelStoreSpec()
        self.naming = naming
        self.spec = spec
        self.name: str = spec.bucket_name or check_bucket_name(naming.name("models"))
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
            labels=naming.common_labels(**spec.labels),
            force_destroy=False,
            depends_on=[self.kms_grant] if self.kms_grant else None,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if spec.prevent_destroy else None,
        )
        self.url: str = self.bucket.url

    def grant_read(self, member: str, *, id_: str | None = None) -> storage_bucket_iam_member.StorageBucketIamMember:
        """Grant ``member`` ``roles/storage.objectViewer`` on this bucket (read models, nothing else).

        The construct id is ``read-<id_>``; ``id_`` defaults to a slug of a literal member, or
        ``member-<n>`` for the n-th token member (pass ``id_`` to pin it).
        """
        check_member(member)
        key = grant_id(member, id_, set(self.read_grants), self._token_grants)
        if id_ is None and Token.is_unresolved(member):
            self._token_grants += 1
        grant = storage_bucket_iam_member.StorageBucketIamMember(
            self, f"read-{key}",
            bucket=self.bucket.name,
            role="roles/storage.objectViewer",
            member=member,
        )
        self.read_grants[key] = grant
        return grant

    def model_uri(self, path: str) -> ModelSource:
        """``ModelSource`` for ``gs://<bucket>/<path>`` (references the bucket, so Terraform orders it first)."""
        if (
            not isinstance(path, str) or not path.strip("/") or path.startswith("/")
            or "//" in path or ".." in path.split("/") or "\n" in path
        ):
            raise ConfigurationError(
                "path", path, "must be a relative object path such as 'llama/v3/' (no leading '/', no '..', no '//')",
            )
        return ModelSource(uri=f"gs://{self.bucket.name}/{path}", bucket=self.bucket.name)
