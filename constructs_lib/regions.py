"""Google Cloud regions and their zones, so a typo in a region fails at synth, not at apply.

The table lists the public Compute Engine regions and zone suffixes (checked against the
Compute Engine region list, 2025). A region that is missing here can be passed with
``allow_unknown=True`` by code, but environment files only accept listed regions.
"""

from __future__ import annotations

import re
from typing import Annotated

from constructs_lib.errors import ConfigurationError, rule

_ABC = ("a", "b", "c")

ZONE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "africa-south1": _ABC,
    "asia-east1": _ABC,
    "asia-east2": _ABC,
    "asia-northeast1": _ABC,
    "asia-northeast2": _ABC,
    "asia-northeast3": _ABC,
    "asia-south1": _ABC,
    "asia-south2": _ABC,
    "asia-southeast1": _ABC,
    "asia-southeast2": _ABC,
    "australia-southeast1": _ABC,
    "australia-southeast2": _ABC,
    "europe-central2": _ABC,
    "europe-north1": _ABC,
    "europe-north2": _ABC,
    "europe-southwest1": _ABC,
    "europe-west1": ("b", "c", "d"),
    "europe-west2": _ABC,
    "europe-west3": _ABC,
    "europe-west4": _ABC,
    "europe-west6": _ABC,
    "europe-west8": _ABC,
    "europe-west9": _ABC,
    "europe-west10": _ABC,
    "europe-west12": _ABC,
    "me-central1": _ABC,
    "me-central2": _ABC,
    "me-west1": _ABC,
    "northamerica-northeast1": _ABC,
    "northamerica-northeast2": _ABC,
    "northamerica-south1": _ABC,
    "southamerica-east1": _ABC,
    "southamerica-west1": _ABC,
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": _ABC,
    "us-east5": _ABC,
    "us-south1": _ABC,
    "us-west1": _ABC,
    "us-west2": _ABC,
    "us-west3": _ABC,
    "us-west4": _ABC,
}

REGIONS: tuple[str, ...] = tuple(sorted(ZONE_SUFFIXES))


def check_region(region: str, field: str = "region") -> str:
    """Return ``region`` if it is a known Google Cloud region, else raise ConfigurationError."""
    if region not in ZONE_SUFFIXES:
        close = [r for r in REGIONS if isinstance(region, str) and r.split("-")[0] == region.split("-")[0]]
        hint = ", ".join(close or REGIONS)
        raise ConfigurationError(field, region, f"unknown Google Cloud region; allowed: {hint}")
    return region


def zones_of(region: str) -> tuple[str, ...]:
    """The zones of ``region`` (``us-central1`` -> ``us-central1-a``, ``-b``, ``-c``, ``-f``)."""
    check_region(region)
    return tuple(f"{region}-{suffix}" for suffix in ZONE_SUFFIXES[region])


def check_zone(zone: str, region: str, field: str = "zone") -> str:
    """Return ``zone`` if it is one of ``region``'s zones."""
    allowed = zones_of(region)
    if zone not in allowed:
        raise ConfigurationError(field, zone, f"not a zone of {region}; allowed: {', '.join(allowed)}")
    return zone


Region = Annotated[str, rule(check_region)]
"""A pydantic field type for a known Google Cloud region (errors name the list index)."""


_REGION_PARTS = re.compile(r"^([a-z]+)-([a-z]+?)([0-9]+)$")


_AREA_CODES = {
    "africa": "af", "asia": "as", "australia": "au", "europe": "eu", "me": "me",
    "northamerica": "na", "southamerica": "sa", "us": "us",
}


_DIRECTION_CODES = {
    "central": "c", "east": "e", "west": "w", "north": "n", "south": "s",
    "northeast": "ne", "southeast": "se", "southwest": "sw", "northwest": "nw",
}


def region_code(region: str) -> str:
    """Short region code for tight names: europe-west1 -> euw1, northamerica-northeast1 -> nane1."""
    match = _REGION_PARTS.fullmatch(region)
    if not match:
        return region.replace("-", "")
    area, direction, number = match.groups()
    return f"{_AREA_CODES.get(area, area[:2])}{_DIRECTION_CODES.get(direction, direction[:2])}{number}"

