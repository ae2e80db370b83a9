"""Spec of the model bucket (``[model_store]``): name, location, storage class, versions kept,
CMEK, access logs, protection. Construct: ``constructs_lib.model_store.ModelStore``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec
from constructs_lib.naming import BucketName, Labels, check_bucket_name
from constructs_lib.regions import REGIONS
from constructs_lib.values import is_token


MULTI_REGIONS: tuple[str, ...] = ("ASIA", "EU", "US")
"""Cloud Storage multi-region locations."""


DUAL_REGIONS: tuple[str, ...] = ("ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4")
"""Cloud Storage predefined dual-regions."""


_KMS_KEY = re.compile(
    r"^projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/locations/(?P<location>[a-z0-9-]+)/"
    r"keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$"
)


KMS_KEY_RULE = "must be a Cloud KMS key id: projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>"


def _location_kind(location: str) -> Literal["multi-region", "dual-region", "region"] | None:
    upper = location.upper()
    if upper in MULTI_REGIONS:
        return "multi-region"
    if upper in DUAL_REGIONS:
        return "dual-region"
    if location.lower() in REGIONS:
        return "region"
    return None


class ModelStoreSpec(Spec):
    """Tunables of ``ModelStore``; the ``[model_store]`` section of an environment file."""

    bucket_name: BucketName | None = Field(
        default=None,
        description="Bucket name override. Defaults to <project>-<app>-<env>-models: bucket names are one global namespace, "
        "and the project id makes the default unique. Set it to keep a bucket created under an earlier name.",
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

    @field_validator("log_bucket")
    @classmethod
    def _log_bucket(cls, value: str | None) -> str | None:
        if value is not None and not is_token(value):
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
        if value is not None and not is_token(value) and not _KMS_KEY.fullmatch(value):
            raise ValueError(KMS_KEY_RULE)
        return value

    @model_validator(mode="after")
    def _cross(self) -> "ModelStoreSpec":
        if self.kms_key_name and not is_token(self.kms_key_name):
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

