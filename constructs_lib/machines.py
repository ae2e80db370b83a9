"""Machine types and the GPU catalogue: shapes (vCPUs, memory), which accelerator types exist,
in what counts, on which machine types, where. One table for VM fleets and GKE node pools.

A fleet that asks for a GPU Compute Engine cannot give fails at apply time, often only when
the MIG tries to create its first VM. This table lets ``ModelSpec`` / ``ModelServerFleet`` (and
GKE node pools) fail at synth with a message that says what would work instead.

The availability data is per ZONE and APPROXIMATE: accelerator types per zone as the Compute
Engine API lists them (``gcloud compute accelerator-types list``; transcribed from the SkyPilot
GCP catalogue, which is generated from that API, and checked against the "GPU regions and
zones" page, 2025) for the GPU types below. Accelerators are in only some zones of a region, so:

* a GPU fleet's zones default to the zones of its region that offer the GPU
  (``gpu_zones``), explicit zones without it are rejected (``check_gpu_zone``), and region
  checks (``check_gpu_region``, also used by GKE node pools) are derived from the zones;
* the table says a zone *offers* a GPU, not that it has stock: fleets spread BALANCED so a
  zone that runs out does not stall the group;
* ``skip_region_check=True`` (``AcceleratorSpec``, ``NodeGpuSpec``) bypasses the table when
  Google offers the GPU somewhere it does not list yet (then every zone of the region is used).

Machine families: N1 takes T4 / V100 / P4 / P100 in the listed counts (with a vCPU ceiling
per count); accelerator-optimized families come with a fixed number of GPUs per machine type
(G2 -> L4, A2 high/mega -> A100 40GB, A2 ultra -> A100 80GB, A3 -> H100 80GB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Mapping

from constructs_lib.errors import ConfigurationError, rule
from constructs_lib.regions import zones_of

MACHINE_TYPE_PATTERN = re.compile(
    r"^(?P<family>[a-z]{1,2}[0-9][a-z]?)-(?P<kind>[a-z]+)(?:-(?P<size>[0-9]+)(?P<unit>g)?)?(?:-[a-z0-9]+)*$"
)
"""``<family>-<kind>[-<size>[g]][-<suffix>...]``: n2-standard-4, e2-medium, a2-highgpu-1g,
n1-custom-8-30720, c3-standard-4-lssd."""

_LEGACY_CUSTOM = re.compile(r"^custom-(?P<size>[0-9]+)-[0-9]+(?:-ext)?$")
"""N1 custom machine types may be written without the family: custom-4-15360."""

MACHINE_TYPE_RULE = (
    "must be a Compute Engine machine type such as n2-standard-4, g2-standard-8, a2-highgpu-1g "
    "or n1-custom-4-15360 (<family>-<kind>[-<size>])"
)


_N2 = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
_N1 = (1, 2, 4, 8, 16, 32, 64, 96)
_C3 = (4, 8, 22, 44, 88, 176)
MACHINE_FAMILIES: dict[tuple[str, str], tuple[float, tuple[int, ...]]] = {
    ("e2", "standard"): (4, (2, 4, 8, 16, 32)),
    ("e2", "highmem"): (8, (2, 4, 8, 16)),
    ("e2", "highcpu"): (1, (2, 4, 8, 16, 32)),
    ("n1", "standard"): (3.75, _N1),
    ("n1", "highmem"): (6.5, _N1[1:]),
    ("n1", "highcpu"): (0.9, _N1[1:]),
    ("n2", "standard"): (4, _N2),
    ("n2", "highmem"): (8, _N2),
    ("n2", "highcpu"): (1, _N2[:-1]),
    ("n2d", "standard"): (4, (*_N2, 224)),
    ("n2d", "highmem"): (8, _N2[:-1]),
    ("n2d", "highcpu"): (1, (*_N2, 224)),
    ("c2", "standard"): (4, (4, 8, 16, 30, 60)),
    ("c2d", "standard"): (4, (2, 4, 8, 16, 32, 56, 112)),
    ("c3", "standard"): (4, _C3),
    ("c3", "highmem"): (8, _C3),
    ("c3", "highcpu"): (2, _C3),
    ("g2", "standard"): (4, (4, 8, 12, 16, 24, 32, 48, 96)),
}
"""(family, kind) -> (GiB of memory per vCPU, vCPU sizes) of the predefined shapes of common
families (Compute Engine machine family pages, 2025). Families and kinds not listed are checked
by pattern only; custom types are free-form."""

ACCELERATOR_SHAPES: dict[str, tuple[int, float]] = {
    "a2-highgpu-1g": (12, 85), "a2-highgpu-2g": (24, 170), "a2-highgpu-4g": (48, 340), "a2-highgpu-8g": (96, 680),
    "a2-megagpu-16g": (96, 1360),
    "a2-ultragpu-1g": (12, 170), "a2-ultragpu-2g": (24, 340), "a2-ultragpu-4g": (48, 680), "a2-ultragpu-8g": (96, 1360),
    "a3-highgpu-1g": (26, 234), "a3-highgpu-2g": (52, 468), "a3-highgpu-4g": (104, 936), "a3-highgpu-8g": (208, 1872),
    "a3-megagpu-8g": (208, 1872), "a3-edgegpu-8g": (208, 1872),
}
"""Accelerator-optimized machine types -> (vCPUs, memory GB): their names do not state either."""


def machine_shape(machine_type: str) -> tuple[int, float] | None:
    """(vCPUs, memory GiB) of a predefined machine type, or None when the tables do not know it."""
    if machine_type in ACCELERATOR_SHAPES:
        return ACCELERATOR_SHAPES[machine_type]
    match = MACHINE_TYPE_PATTERN.fullmatch(machine_type)
    if not match or not match["size"] or match["unit"]:
        return None
    family = MACHINE_FAMILIES.get((match["family"], match["kind"]))
    vcpus = int(match["size"])
    if family is None or vcpus not in family[1]:
        return None
    return vcpus, family[0] * vcpus


@dataclass(frozen=True)
class MachineType:
    """A parsed machine type: ``family`` (n1, g2...), ``kind`` (standard, highgpu...) and the
    vCPU count when the name states it (standard/highmem/highcpu/custom)."""

    name: str
    family: str
    kind: str
    vcpus: int | None


def parse_machine_type(value: str, field_name: str = "machine_type") -> MachineType:
    """Parse ``value`` or raise ConfigurationError naming ``field_name``."""
    if not isinstance(value, str):
        raise ConfigurationError(field_name, value, MACHINE_TYPE_RULE)
    legacy = _LEGACY_CUSTOM.fullmatch(value)
    if legacy:
        return MachineType(value, "n1", "custom", int(legacy["size"]))
    match = MACHINE_TYPE_PATTERN.fullmatch(value)
    if not match:
        raise ConfigurationError(field_name, value, MACHINE_TYPE_RULE)
    vcpus = None
    if match["size"] and not match["unit"] and match["kind"] in ("standard", "highmem", "highcpu", "custom", "megamem", "ultramem"):
        vcpus = int(match["size"])
    family = MACHINE_FAMILIES.get((match["family"], match["kind"]))
    sizes = family[1] if family is not None else None
    if sizes is not None and vcpus not in sizes:
        shapes = ", ".join(f"{match['family']}-{match['kind']}-{n}" for n in sizes)
        raise ConfigurationError(field_name, value, f"is not a predefined machine type; {match['family']}-{match['kind']} comes in {shapes}")
    return MachineType(value, match["family"], match["kind"], vcpus)


@dataclass(frozen=True)
class GpuType:
    """One accelerator type.

    ``counts`` are the counts one VM may attach; ``zones`` the zones that offer it (``regions``
    is derived from them). ``machine_types`` (accelerator-optimized families) maps each machine
    type that carries this GPU to its fixed GPU count; when it is empty, ``machine_families``
    lists the general-purpose families that take the GPU and ``max_vcpus`` the largest vCPU
    count per GPU count.
    """

    name: str
    description: str
    counts: tuple[int, ...]
    zones: frozenset[str]
    machine_families: tuple[str, ...] = ()
    machine_types: Mapping[str, int] = field(default_factory=dict)
    max_vcpus: Mapping[int, int] = field(default_factory=dict)

    @property
    def regions(self) -> frozenset[str]:
        """The regions with at least one zone that offers this GPU."""
        return frozenset(zone.rsplit("-", 1)[0] for zone in self.zones)

    def zones_in(self, region: str) -> tuple[str, ...]:
        """The zones of ``region`` that offer this GPU, in the region's zone order."""
        return tuple(zone for zone in zones_of(region) if zone in self.zones)

    def fixed_count(self, machine_type: str) -> int | None:
        """The GPU count ``machine_type`` comes with, if it is accelerator-optimized for this GPU."""
        return self.machine_types.get(machine_type)

    def allowed_machines(self) -> str:
        """Human-readable list of the machine types / families that take this GPU."""
        if self.machine_types:
            return ", ".join(f"{m} ({c})" for m, c in self.machine_types.items())
        return ", ".join(f"{f}-*" for f in self.machine_families)


def _zones(*groups: str) -> frozenset[str]:
    """``"us-central1: a b c"`` groups -> {us-central1-a, us-central1-b, us-central1-c}."""
    zones = set()
    for group in groups:
        region, suffixes = group.split(":")
        zones.update(f"{region}-{suffix}" for suffix in suffixes.split())
    return frozenset(zones)


_T4_ZONES = _zones(
    "asia-east1: a c", "asia-east2: a c", "asia-northeast1: a c", "asia-northeast3: b c", "asia-south1: a b",
    "asia-southeast1: a b c", "asia-southeast2: a b", "australia-southeast1: a c", "europe-central2: b c",
    "europe-west1: b c d", "europe-west2: a b", "europe-west3: b", "europe-west4: a b c", "me-west1: b c",
    "northamerica-northeast1: c", "southamerica-east1: a b c", "us-central1: a b c f", "us-east1: b c d",
    "us-east4: a b c", "us-west1: a b", "us-west2: b c", "us-west3: b", "us-west4: a b",
)
_L4_ZONES = _zones(
    "asia-east1: a b c", "asia-northeast1: a b c", "asia-northeast3: a b", "asia-south1: a b c",
    "asia-southeast1: a b c", "europe-west1: b c", "europe-west2: a b", "europe-west3: a b", "europe-west4: a b c",
    "europe-west6: b c", "me-central2: a c", "northamerica-northeast1: b c", "northamerica-northeast2: a b",
    "us-central1: a b c", "us-east1: b c d", "us-east4: a c", "us-west1: a b c", "us-west4: a c",
)
_A100_ZONES = _zones(
    "asia-northeast1: a c", "asia-northeast3: a b", "asia-southeast1: a b c", "europe-west4: a b", "me-west1: a c",
    "us-central1: a b c f", "us-east1: b", "us-west1: b", "us-west3: b", "us-west4: b",
)
_A100_80_ZONES = _zones(
    "asia-southeast1: c", "europe-west4: a", "us-central1: a c", "us-east4: c", "us-east5: a b",
)
_H100_ZONES = _zones(
    "asia-east1: c", "asia-northeast1: b", "asia-northeast3: a c", "asia-south1: c", "asia-south2: b",
    "asia-southeast1: b c", "australia-southeast1: c", "europe-north1: c", "europe-west1: b c", "europe-west2: b",
    "europe-west3: a c", "europe-west4: b c", "europe-west8: c", "europe-west9: c", "northamerica-northeast2: c",
    "us-central1: a b c", "us-east4: a b c", "us-east5: a", "us-west1: a b", "us-west4: a",
)
_H100_MEGA_ZONES = _zones(
    "asia-northeast1: b", "asia-northeast3: a c", "asia-south1: c", "asia-southeast1: b c", "australia-southeast1: c",
    "europe-west1: b c", "europe-west3: a c", "europe-west4: b c", "northamerica-northeast2: c", "us-central1: a b c",
    "us-east4: a b c", "us-east5: a", "us-west1: a b", "us-west4: a",
)
_V100_ZONES = _zones(
    "asia-east1: c", "europe-west4: a b c", "us-central1: a b c f", "us-east1: b c", "us-west1: a b",
)
_P4_ZONES = _zones(
    "asia-southeast1: a b c", "australia-southeast1: a b", "europe-west4: b c", "northamerica-northeast1: a b c",
    "us-central1: a c", "us-east4: a b c", "us-west2: b c",
)
_P100_ZONES = _zones(
    "asia-east1: a c", "australia-southeast1: b", "europe-west1: b d", "europe-west4: a", "us-central1: c f",
    "us-east1: b c", "us-west1: a b",
)


def _n1_gpu(name: str, description: str, zones: frozenset[str], max_vcpus: Mapping[int, int]) -> GpuType:
    """A GPU attached to N1 machines: the counts are those of its vCPU limits (GPUs -> max vCPUs)."""
    return GpuType(name=name, description=f"{description}, N1 only", counts=tuple(max_vcpus), zones=zones,
                   machine_families=("n1",), max_vcpus=dict(max_vcpus))


def _bundled_gpu(name: str, description: str, family: str, zones: frozenset[str], machine_types: Mapping[str, int]) -> GpuType:
    """A GPU that comes with accelerator-optimized machine types (machine type -> GPUs): the counts are theirs."""
    return GpuType(name=name, description=description, counts=tuple(sorted(set(machine_types.values()))), zones=zones,
                   machine_families=(family,), machine_types=dict(machine_types))


GPU_TYPES: dict[str, GpuType] = {gpu.name: gpu for gpu in (
    _n1_gpu("nvidia-tesla-t4", "NVIDIA T4 (16 GB)", _T4_ZONES, {1: 48, 2: 48, 4: 96}),
    _n1_gpu("nvidia-tesla-v100", "NVIDIA V100 (16 GB)", _V100_ZONES, {1: 12, 2: 24, 4: 48, 8: 96}),
    _n1_gpu("nvidia-tesla-p4", "NVIDIA P4 (8 GB)", _P4_ZONES, {1: 24, 2: 48, 4: 96}),
    _n1_gpu("nvidia-tesla-p100", "NVIDIA P100 (16 GB)", _P100_ZONES, {1: 16, 2: 32, 4: 96}),
    _bundled_gpu("nvidia-l4", "NVIDIA L4 (24 GB), G2 machine types", "g2", _L4_ZONES, {
        "g2-standard-4": 1, "g2-standard-8": 1, "g2-standard-12": 1, "g2-standard-16": 1,
        "g2-standard-32": 1, "g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8,
    }),
    _bundled_gpu("nvidia-tesla-a100", "NVIDIA A100 40GB, A2 high/mega machine types", "a2", _A100_ZONES, {
        "a2-highgpu-1g": 1, "a2-highgpu-2g": 2, "a2-highgpu-4g": 4, "a2-highgpu-8g": 8, "a2-megagpu-16g": 16,
    }),
    _bundled_gpu("nvidia-a100-80gb", "NVIDIA A100 80GB, A2 ultra machine types", "a2", _A100_80_ZONES,
                 {"a2-ultragpu-1g": 1, "a2-ultragpu-2g": 2, "a2-ultragpu-4g": 4, "a2-ultragpu-8g": 8}),
    _bundled_gpu("nvidia-h100-80gb", "NVIDIA H100 80GB, A3 high/edge machine types", "a3", _H100_ZONES, {
        "a3-highgpu-1g": 1, "a3-highgpu-2g": 2, "a3-highgpu-4g": 4, "a3-highgpu-8g": 8, "a3-edgegpu-8g": 8,
    }),
    _bundled_gpu("nvidia-h100-mega-80gb", "NVIDIA H100 80GB Mega, A3 mega machine type", "a3", _H100_MEGA_ZONES,
                 {"a3-megagpu-8g": 8}),
)}

ACCELERATOR_OPTIMIZED_FAMILIES = ("a2", "a3", "g2")
"""Families whose machine types come with their GPUs (a GPU type must match the machine type)."""


def gpu_type(name: str, field_name: str = "gpu.type") -> GpuType:
    """The catalogue entry for ``name`` or a ConfigurationError listing the known types."""
    try:
        return GPU_TYPES[name]
    except (KeyError, TypeError):
        raise ConfigurationError(field_name, name, f"unknown GPU type; allowed: {', '.join(GPU_TYPES)}") from None


def check_gpu_count(name: str, count: int, field_name: str = "gpu.count") -> int:
    """``count`` if ``name`` may be attached that many times to one VM."""
    gpu = gpu_type(name)
    if count not in gpu.counts:
        raise ConfigurationError(
            field_name, count, f"{name} may be attached {', '.join(map(str, gpu.counts))} at a time"
        )
    return count


def resolve_gpu_count(
    name: str, count: int | None, machine_type: str, field_prefix: str = "", *,
    machine_field: str | None = None, gpu_field: str | None = None,
) -> int:
    """The GPU count for ``name`` on ``machine_type``, checking the pair fits.

    Accelerator-optimized machine types carry a fixed count (``count`` may be omitted and must
    equal it when given); N1 takes the listed counts (default 1) up to a vCPU ceiling. Messages
    name ``machine_field`` (default ``<field_prefix>machine_type``) and ``<gpu_field>.type`` /
    ``<gpu_field>.count`` (default ``<field_prefix>gpu``; a model's GPUs are its ``accelerator``).
    """
    machine_field = machine_field or f"{field_prefix}machine_type"
    gpu_field = gpu_field or f"{field_prefix}gpu"
    gpu = gpu_type(name, f"{gpu_field}.type")
    machine = parse_machine_type(machine_type, machine_field)
    if gpu.machine_types:
        fixed = gpu.fixed_count(machine.name)
        if fixed is None:
            raise ConfigurationError(
                machine_field, machine.name,
                f"cannot take {name}; machine types that carry it: {gpu.allowed_machines()}",
            )
        if count is not None and count != fixed:
            raise ConfigurationError(
                f"{gpu_field}.count", count, f"{machine.name} comes with exactly {fixed} x {name}; omit count or set {fixed}"
            )
        return fixed
    if machine.family not in gpu.machine_families:
        hint = (
            f" ({machine.family} machine types carry their own GPUs)" if machine.family in ACCELERATOR_OPTIMIZED_FAMILIES else ""
        )
        raise ConfigurationError(
            machine_field, machine.name,
            f"cannot take {name}{hint}; use a {' or '.join(f'{f}-*' for f in gpu.machine_families)} machine type",
        )
    resolved = 1 if count is None else count
    check_gpu_count(name, resolved, f"{gpu_field}.count")
    ceiling = gpu.max_vcpus.get(resolved)
    if ceiling is not None and machine.vcpus is not None and machine.vcpus > ceiling:
        raise ConfigurationError(
            machine_field, machine.name,
            f"has {machine.vcpus} vCPUs; with {resolved} x {name} at most {ceiling} vCPUs are allowed",
        )
    return resolved


def check_machine_without_gpu(machine_type: str, field_name: str = "machine_type", gpu_field: str = "gpu") -> None:
    """Accelerator-optimized machine types need their GPU declared as ``<gpu_field>.type`` (the
    fleet sets TERMINATE etc.)."""
    machine = parse_machine_type(machine_type, field_name)
    if machine.family in ACCELERATOR_OPTIMIZED_FAMILIES:
        carriers = [g.name for g in GPU_TYPES.values() if machine.name in g.machine_types]
        what = f"set {gpu_field}.type = {carriers[0]!r}" if carriers else "use a known accelerator-optimized machine type"
        raise ConfigurationError(field_name, machine.name, f"is accelerator-optimized and comes with GPUs; {what}")


def check_gpu_region(name: str, region: str, field_name: str = "region", gpu_field: str = "gpu") -> str:
    """``region`` if at least one of its zones offers ``name`` (approximate: see the module
    docstring); the message points at ``<gpu_field>.skip_region_check``."""
    gpu = gpu_type(name)
    if region not in gpu.regions:
        raise ConfigurationError(
            field_name, region,
            f"{name} is not offered there (approximate table); regions with it: {', '.join(sorted(gpu.regions))}; "
            f"set {gpu_field}.skip_region_check = true if Google has added it",
        )
    return region


def gpu_zones(name: str, region: str) -> tuple[str, ...]:
    """The zones of ``region`` that offer ``name`` (empty when none does), in zone order."""
    return gpu_type(name).zones_in(region)


def check_gpu_zone(name: str, zone: str, field_name: str = "zone", gpu_field: str = "gpu") -> str:
    """``zone`` if it offers ``name`` (approximate: see the module docstring)."""
    gpu = gpu_type(name)
    if zone not in gpu.zones:
        region = zone.rsplit("-", 1)[0]
        where = f"zones of {region} with it: {', '.join(gpu.zones_in(region))}" if region in gpu.regions else (
            f"no zone of {region} has it"
        )
        raise ConfigurationError(
            field_name, zone,
            f"{name} is not offered in that zone (approximate table; a regional group would never start its VMs there); "
            f"{where}; set {gpu_field}.skip_region_check = true if Google has added it",
        )
    return zone


DEFAULT_CPU_MACHINE = "n2-standard-4"
"""Machine of a CPU model: 4 dedicated vCPUs / 16 GB, enough for a CPU model server."""

PREFERRED_SINGLE_GPU_MACHINES = {"nvidia-l4": "g2-standard-8"}
"""One-GPU machines with more host memory than the smallest carrier: g2-standard-8 (32 GB) holds
an L4's 24 GB of weights while loading them; g2-standard-4 (16 GB) does not."""

GENERAL_PURPOSE_GPU_MACHINE = "n1-standard-8"
"""Machine for GPUs that attach to N1 (T4, V100, P4, P100): 8 vCPUs are within every GPU's ceiling."""


def default_machine_type(accelerator: str | None, count: int | None = None) -> str:
    """The usual machine for a model: ``DEFAULT_CPU_MACHINE`` without GPUs, the smallest
    accelerator-optimized type that carries ``count`` (default: one) of ``accelerator``, or an
    N1 machine for GPUs that attach to N1."""
    if accelerator is None:
        return DEFAULT_CPU_MACHINE
    gpu = gpu_type(accelerator)
    if not gpu.machine_types:
        return GENERAL_PURPOSE_GPU_MACHINE
    wanted = count or min(gpu.machine_types.values())
    if wanted == 1 and accelerator in PREFERRED_SINGLE_GPU_MACHINES:
        return PREFERRED_SINGLE_GPU_MACHINES[accelerator]
    for machine, fixed in gpu.machine_types.items():
        if fixed == wanted:
            return machine
    raise ConfigurationError(
        "accelerator.count", count, f"no machine type carries {wanted} x {accelerator}; machine types: {gpu.allowed_machines()}",
    )


MachineTypeName = Annotated[str, rule(parse_machine_type)]
"""Spec field type: a Compute Engine machine type (``MACHINE_TYPE_RULE``)."""

GpuTypeName = Annotated[str, rule(gpu_type)]
"""Spec field type: an accelerator type of the catalogue (``GPU_TYPES``)."""
