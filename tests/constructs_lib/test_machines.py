"""The machine-type and GPU catalogue (``constructs_lib.machines``): one table for VM fleets and
GKE node pools."""

import pytest

from constructs_lib.errors import ConfigurationError
from constructs_lib.machines import (
    ACCELERATOR_SHAPES,
    DEFAULT_CPU_MACHINE,
    GPU_TYPES,
    check_gpu_count,
    check_gpu_region,
    check_gpu_zone,
    check_machine_without_gpu,
    default_machine_type,
    gpu_type,
    gpu_zones,
    machine_shape,
    parse_machine_type,
    resolve_gpu_count,
)
from constructs_lib.regions import ZONE_SUFFIXES, zones_of


def test_catalogue_lists_the_common_gpu_types():
    assert {
        "nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb",
        "nvidia-tesla-v100", "nvidia-tesla-p4", "nvidia-tesla-p100",
    } <= set(GPU_TYPES)


def test_catalogue_zones_are_known_zones_and_fixed_counts_are_allowed_counts():
    for gpu in GPU_TYPES.values():
        assert gpu.zones and gpu.regions <= set(ZONE_SUFFIXES), gpu.name
        for zone in gpu.zones:
            assert zone in zones_of(zone.rsplit("-", 1)[0]), (gpu.name, zone)
        assert set(gpu.machine_types.values()) <= set(gpu.counts), gpu.name
        for machine in gpu.machine_types:
            assert parse_machine_type(machine).family in gpu.machine_families, machine


@pytest.mark.parametrize(("value", "family", "kind", "vcpus"), [
    ("n2-standard-4", "n2", "standard", 4),
    ("e2-medium", "e2", "medium", None),
    ("n2d-highmem-16", "n2d", "highmem", 16),
    ("n1-custom-8-30720", "n1", "custom", 8),
    ("custom-4-15360", "n1", "custom", 4),
    ("c3-standard-4-lssd", "c3", "standard", 4),
    ("a2-highgpu-1g", "a2", "highgpu", None),
    ("t2a-standard-8", "t2a", "standard", 8),
])
def test_parse_machine_type(value, family, kind, vcpus):
    machine = parse_machine_type(value)
    assert (machine.family, machine.kind, machine.vcpus) == (family, kind, vcpus)


@pytest.mark.parametrize("value", ["N2-standard-4", "standard-4", "n2_standard_4", "n2-", "", "n2-standard-4 "])
def test_fails_when_machine_type_is_malformed(value):
    with pytest.raises(ConfigurationError, match=r"machine_type = .*: must be a Compute Engine machine type"):
        parse_machine_type(value)


def test_fixed_count_comes_from_the_accelerator_optimized_machine_type():
    assert resolve_gpu_count("nvidia-l4", None, "g2-standard-8") == 1
    assert resolve_gpu_count("nvidia-l4", None, "g2-standard-24") == 2
    assert resolve_gpu_count("nvidia-l4", 4, "g2-standard-48") == 4
    assert resolve_gpu_count("nvidia-tesla-a100", None, "a2-megagpu-16g") == 16
    assert resolve_gpu_count("nvidia-a100-80gb", None, "a2-ultragpu-2g") == 2
    assert resolve_gpu_count("nvidia-h100-80gb", None, "a3-highgpu-8g") == 8


def test_n1_gpus_default_to_one_and_take_the_listed_counts():
    assert resolve_gpu_count("nvidia-tesla-t4", None, "n1-standard-8") == 1
    assert resolve_gpu_count("nvidia-tesla-t4", 4, "n1-standard-32") == 4
    assert resolve_gpu_count("nvidia-tesla-v100", 8, "n1-highmem-96") == 8
    assert resolve_gpu_count("nvidia-tesla-p100", 2, "n1-custom-8-30720") == 2


def test_fails_when_gpu_type_is_unknown():
    with pytest.raises(ConfigurationError, match=r"gpu.type = 'nvidia-rtx-4090': unknown GPU type; allowed: nvidia-tesla-t4, "):
        gpu_type("nvidia-rtx-4090")


def test_fails_when_gpu_count_is_not_offered():
    with pytest.raises(ConfigurationError, match=r"gpu.count = 3: nvidia-tesla-t4 may be attached 1, 2, 4 at a time"):
        check_gpu_count("nvidia-tesla-t4", 3)


def test_fails_when_n1_gpu_is_put_on_another_family():
    with pytest.raises(ConfigurationError, match=r"machine_type = 'n2-standard-8': cannot take nvidia-tesla-t4; use a n1-\* machine type"):
        resolve_gpu_count("nvidia-tesla-t4", 1, "n2-standard-8")


def test_fails_when_n1_gpu_is_put_on_an_accelerator_optimized_machine():
    with pytest.raises(ConfigurationError, match=r"cannot take nvidia-tesla-t4 \(g2 machine types carry their own GPUs\)"):
        resolve_gpu_count("nvidia-tesla-t4", 1, "g2-standard-8")


def test_fails_when_l4_is_put_on_n1():
    with pytest.raises(ConfigurationError, match=r"machine_type = 'n1-standard-8': cannot take nvidia-l4; machine types that carry it: g2-standard-4 \(1\)"):
        resolve_gpu_count("nvidia-l4", 1, "n1-standard-8")


def test_fails_when_a100_80gb_is_put_on_a_40gb_machine():
    with pytest.raises(ConfigurationError, match=r"'a2-highgpu-1g': cannot take nvidia-a100-80gb; machine types that carry it: a2-ultragpu-1g"):
        resolve_gpu_count("nvidia-a100-80gb", None, "a2-highgpu-1g")


def test_fails_when_count_differs_from_the_machine_types_fixed_count():
    with pytest.raises(ConfigurationError, match=r"gpu.count = 2: g2-standard-8 comes with exactly 1 x nvidia-l4; omit count or set 1"):
        resolve_gpu_count("nvidia-l4", 2, "g2-standard-8")


def test_fails_when_n1_has_more_vcpus_than_the_gpu_count_allows():
    with pytest.raises(ConfigurationError, match=r"'n1-standard-16': has 16 vCPUs; with 1 x nvidia-tesla-v100 at most 12 vCPUs"):
        resolve_gpu_count("nvidia-tesla-v100", 1, "n1-standard-16")


def test_fails_when_accelerator_optimized_machine_has_no_gpu_declared():
    with pytest.raises(ConfigurationError, match=r"machine_type = 'g2-standard-8': is accelerator-optimized and comes with GPUs; set gpu.type = 'nvidia-l4'"):
        check_machine_without_gpu("g2-standard-8")
    check_machine_without_gpu("n2-standard-4")


def test_region_check():
    assert check_gpu_region("nvidia-l4", "europe-west1") == "europe-west1"
    with pytest.raises(ConfigurationError, match=r"region = 'africa-south1': nvidia-h100-80gb is not offered there \(approximate table\); regions with it: asia-east1, "):
        check_gpu_region("nvidia-h100-80gb", "africa-south1")


def test_regions_are_derived_from_the_zones():
    for gpu in GPU_TYPES.values():
        assert gpu.regions == {zone.rsplit("-", 1)[0] for zone in gpu.zones}, gpu.name
        for region in gpu.regions:
            assert check_gpu_region(gpu.name, region) == region
            assert gpu_zones(gpu.name, region), (gpu.name, region)


@pytest.mark.parametrize(("gpu", "region", "zones"), [
    ("nvidia-l4", "europe-west1", ("europe-west1-b", "europe-west1-c")),
    ("nvidia-l4", "us-central1", ("us-central1-a", "us-central1-b", "us-central1-c")),
    ("nvidia-tesla-t4", "us-central1", ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")),
    ("nvidia-tesla-a100", "us-east1", ("us-east1-b",)),
    ("nvidia-a100-80gb", "us-central1", ("us-central1-a", "us-central1-c")),
    ("nvidia-h100-80gb", "europe-west4", ("europe-west4-b", "europe-west4-c")),
    ("nvidia-tesla-v100", "europe-west4", ("europe-west4-a", "europe-west4-b", "europe-west4-c")),
    ("nvidia-tesla-p4", "us-west2", ("us-west2-b", "us-west2-c")),
    ("nvidia-tesla-p100", "europe-west1", ("europe-west1-b", "europe-west1-d")),
    ("nvidia-l4", "africa-south1", ()),
])
def test_gpu_zones_per_region(gpu, region, zones):
    assert gpu_zones(gpu, region) == zones


def test_zone_check():
    assert check_gpu_zone("nvidia-l4", "europe-west1-b") == "europe-west1-b"
    with pytest.raises(ConfigurationError, match=(
        r"^zone = 'us-central1-f': nvidia-l4 is not offered in that zone \(approximate table; a regional group would never start "
        r"its VMs there\); zones of us-central1 with it: us-central1-a, us-central1-b, us-central1-c; "
        r"set gpu.skip_region_check = true if Google has added it$"
    )):
        check_gpu_zone("nvidia-l4", "us-central1-f")
    with pytest.raises(ConfigurationError, match=r"^vm.zones\[0\] = 'africa-south1-a': nvidia-l4 is not offered in that zone .*; no zone of africa-south1 has it; set accelerator"):
        check_gpu_zone("nvidia-l4", "africa-south1-a", "vm.zones[0]", gpu_field="accelerator")


@pytest.mark.parametrize("name", ["n2-standard-3", "e2-standard-64", "g2-standard-2", "c3-standard-5"])
def test_fails_when_machine_shape_does_not_exist(name):
    with pytest.raises(ConfigurationError, match=rf"machine_type = '{name}': is not a predefined machine type"):
        parse_machine_type(name)


@pytest.mark.parametrize("name", ["n2-standard-4", "e2-medium", "n2-custom-6-24576", "a2-highgpu-1g", "c3-standard-8-lssd", "m3-ultramem-32"])
def test_real_machine_shapes_parse(name):
    assert parse_machine_type(name).name == name


def test_messages_can_name_a_models_keys():
    """A model's GPUs are its ``accelerator`` and its machine is ``vm.machine_type``."""
    with pytest.raises(ConfigurationError, match=r"^accelerator.count = 2: g2-standard-8 comes with exactly 1 x nvidia-l4"):
        resolve_gpu_count("nvidia-l4", 2, "g2-standard-8", machine_field="vm.machine_type", gpu_field="accelerator")
    with pytest.raises(ConfigurationError, match=r"^vm.machine_type = 'n2-standard-8': cannot take nvidia-tesla-t4"):
        resolve_gpu_count("nvidia-tesla-t4", None, "n2-standard-8", machine_field="vm.machine_type", gpu_field="accelerator")
    with pytest.raises(ConfigurationError, match=r"^vm.gpu.type = 'nvidia-x': unknown GPU type"):
        resolve_gpu_count("nvidia-x", None, "g2-standard-8", "vm.")
    with pytest.raises(ConfigurationError, match=r"^vm.machine_type = 'g2-standard-8': .*; set accelerator.type = 'nvidia-l4'$"):
        check_machine_without_gpu("g2-standard-8", "vm.machine_type", gpu_field="accelerator")
    with pytest.raises(ConfigurationError, match=r"; set accelerator.skip_region_check = true if Google has added it$"):
        check_gpu_region("nvidia-l4", "africa-south1", gpu_field="accelerator")
    with pytest.raises(ConfigurationError, match=r"; set gpu.skip_region_check = true if Google has added it$"):
        check_gpu_region("nvidia-l4", "africa-south1")


@pytest.mark.parametrize(("accelerator", "count", "machine"), [
    (None, None, DEFAULT_CPU_MACHINE),
    ("nvidia-l4", None, "g2-standard-8"),
    ("nvidia-l4", 1, "g2-standard-8"),
    ("nvidia-l4", 2, "g2-standard-24"),
    ("nvidia-l4", 4, "g2-standard-48"),
    ("nvidia-l4", 8, "g2-standard-96"),
    ("nvidia-tesla-t4", None, "n1-standard-8"),
    ("nvidia-tesla-t4", 4, "n1-standard-8"),
    ("nvidia-tesla-v100", None, "n1-standard-8"),
    ("nvidia-tesla-a100", None, "a2-highgpu-1g"),
    ("nvidia-tesla-a100", 16, "a2-megagpu-16g"),
    ("nvidia-a100-80gb", None, "a2-ultragpu-1g"),
    ("nvidia-h100-80gb", None, "a3-highgpu-1g"),
    ("nvidia-h100-mega-80gb", None, "a3-megagpu-8g"),
])
def test_default_machine_type_per_accelerator(accelerator, count, machine):
    assert DEFAULT_CPU_MACHINE == "n2-standard-4"
    assert default_machine_type(accelerator, count) == machine
    if accelerator is not None:
        assert resolve_gpu_count(accelerator, count, machine) == (count or GPU_TYPES[accelerator].fixed_count(machine) or 1)
    else:
        check_machine_without_gpu(machine)


def test_every_default_gpu_machine_fits_its_gpu_in_every_allowed_count():
    for gpu in GPU_TYPES.values():
        for count in gpu.counts:
            if gpu.machine_types and count not in gpu.machine_types.values():
                continue
            assert resolve_gpu_count(gpu.name, count, default_machine_type(gpu.name, count)) == count, (gpu.name, count)


def test_fails_when_no_machine_type_carries_the_count():
    with pytest.raises(ConfigurationError, match=r"^accelerator.count = 16: no machine type carries 16 x nvidia-l4; machine types: g2-standard-4 \(1\)"):
        default_machine_type("nvidia-l4", 16)


@pytest.mark.parametrize(("name", "shape"), [
    ("n2-standard-4", (4, 16)), ("n1-standard-8", (8, 30.0)), ("e2-highcpu-16", (16, 16)),
    ("g2-standard-8", (8, 32)), ("a2-highgpu-1g", (12, 85)), ("a3-highgpu-8g", (208, 1872)),
])
def test_machine_shape(name, shape):
    assert machine_shape(name) == shape


@pytest.mark.parametrize("name", ["n2-custom-6-24576", "e2-medium", "m3-ultramem-32", "n2-standard-3"])
def test_machine_shape_is_none_for_shapes_the_tables_do_not_know(name):
    assert machine_shape(name) is None


def test_accelerator_shapes_cover_every_accelerator_optimized_gpu_machine():
    carriers = {machine for gpu in GPU_TYPES.values() for machine in gpu.machine_types if not machine.startswith("g2-")}
    assert carriers <= set(ACCELERATOR_SHAPES)
