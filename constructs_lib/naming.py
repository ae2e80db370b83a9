"""GCP naming and labelling rules, and the deterministic ``<app>-<env>-<role>`` names.

Physical names are derived, never random: the same environment always yields the same names,
so a plan shows a rename as exactly that. Every name is checked against GCP's resource-name
rule (RFC 1035: ``^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$``) and every label against GCP's label
rules, at construction time, so a bad name never reaches the API.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Mapping

from pydantic import AfterValidator, Field

from constructs_lib.errors import ConfigurationError, Spec, invalid, rule

NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
"""GCP resource names (Compute Engine, Memorystore, service accounts' ids are stricter)."""

LABEL_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_PATTERN = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64
MANAGED_BY = "cdktf"

NAME_RULE = "must match ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ (lowercase letters, digits and hyphens, start with a letter, end with a letter or digit, at most 63 characters)"
PART_RULE = "must match ^[a-z][a-z0-9-]*$ and not end with a hyphen (lowercase letters, digits and hyphens, start with a letter)"
_PART_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def check_name(value: str, field: str = "name", *, max_length: int = 63) -> str:
    """Return ``value`` if it is a valid GCP resource name, else raise ConfigurationError."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigurationError(field, value, NAME_RULE)
    if len(value) > max_length:
        raise ConfigurationError(field, value, f"must be at most {max_length} characters (has {len(value)})")
    return value


def check_name_part(value: str, field: str) -> str:
    """Return ``value`` if it can be one hyphen-joined part of a name (app, env, role)."""
    if not isinstance(value, str) or not _PART_PATTERN.fullmatch(value):
        raise ConfigurationError(field, value, PART_RULE)
    return value


def check_labels(labels: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    """Return ``labels`` as a plain dict if every key and value obeys GCP's label rules."""
    if len(labels) > MAX_LABELS:
        raise ConfigurationError(field, f"{len(labels)} labels", f"at most {MAX_LABELS} labels are allowed")
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY_PATTERN.fullmatch(key):
            raise ConfigurationError(
                f"{field}.{key}", key,
                "label keys must match ^[a-z][a-z0-9_-]{0,62}$ (start with a lowercase letter, at most 63 characters)",
            )
        if not isinstance(value, str) or not LABEL_VALUE_PATTERN.fullmatch(value):
            raise ConfigurationError(
                f"{field}.{key}", value,
                "label values must match ^[a-z0-9_-]{0,63}$ (lowercase letters, digits, _ and -, at most 63 characters)",
            )
    return dict(labels)


RESERVED_LABELS = ("app", "env", "managed-by")
"""Set on every resource from the naming; an extra label with one of these keys would be lost."""


def _labels_value(value: dict[str, str]) -> dict[str, str]:
    check_labels(value)  # its ConfigurationError names labels.<key>; pydantic prefixes the table's path
    reserved = sorted(set(value) & set(RESERVED_LABELS))
    if reserved:
        key = reserved[0]
        raise invalid(
            f"labels.{key}", value[key], f"{', '.join(RESERVED_LABELS)} are reserved: they are set from the app and environment names",
        )
    return value


NamePart = Annotated[str, rule(check_name_part)]
"""Spec field type: one hyphen-joined part of a physical name (app, env, role, model, tag)."""


def resource_name(max_length: int = 63) -> Any:
    """Spec field type: a whole GCP resource name of at most ``max_length`` characters (some
    resources take fewer than the general 63: GKE node pools 40)."""
    return Annotated[str, rule(lambda value, field: check_name(value, field, max_length=max_length))]


ResourceName = resource_name()
"""Spec field type: a whole GCP resource name (``NAME_RULE``)."""

Labels = Annotated[dict[str, str], AfterValidator(_labels_value)]
"""Spec field type: extra labels, checked against GCP's label rules."""


class Naming(Spec):
    """Deterministic names and common labels for one application environment.

    ``Naming(app="ml", env="dev").name("net")`` is ``ml-dev-net``. Constructs receive a
    ``Naming`` (``naming=``) and derive every physical name and label set from it.
    """

    app: NamePart = Field(default="ml", description="Application prefix of every name. Defaults to 'ml'.")
    env: NamePart = Field(description="Environment name, the second part of every name (dev, prod...).")
    labels: Labels = Field(
        default_factory=dict,
        description="Extra labels on every resource that takes labels; app, env and managed-by are always added.",
    )

    @property
    def prefix(self) -> str:
        """``<app>-<env>``: the start of every physical name."""
        return f"{self.app}-{self.env}"

    def name(self, *parts: str, max_length: int = 63) -> str:
        """``<app>-<env>-<part>-<part>...``, validated against GCP's name rule and ``max_length``."""
        for index, part in enumerate(parts):
            check_name_part(part, f"name part {index + 1}")
        return check_name("-".join((self.prefix, *parts)), "name", max_length=max_length)

    def common_labels(self, **extra: str) -> dict[str, str]:
        """``app``, ``env``, ``managed-by`` plus the environment's and the caller's extra labels."""
        merged = {**self.labels, **extra, "app": self.app, "env": self.env, "managed-by": MANAGED_BY}
        return check_labels(merged)


# -- Cloud Storage bucket names (one global namespace) -------------------------------------------

BUCKET_NAME_RULE = (
    "bucket names are 3-63 characters (up to 222 with dots, each dot-separated part at most 63) of "
    "lowercase letters, digits, '-', '_' and '.', start and end with a letter or digit, do not start "
    "with 'goog', do not contain 'google' and are not an IP address"
)


_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$")


MAX_BUCKET_NAME = 63
"""Bucket names without dots are at most 63 characters."""


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



BucketName = Annotated[str, rule(check_bucket_name)]
"""Spec field type: a Cloud Storage bucket name."""
