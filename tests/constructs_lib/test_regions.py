import pytest

from constructs_lib.errors import ConfigurationError
from constructs_lib.regions import REGIONS, check_region, check_zone, zones_of


def test_zones_of_known_regions():
    assert zones_of("us-central1") == ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f")
    assert zones_of("europe-west1") == ("europe-west1-b", "europe-west1-c", "europe-west1-d")


def test_every_region_has_at_least_three_zones():
    assert all(len(zones_of(region)) >= 3 for region in REGIONS)


def test_fails_when_region_is_unknown():
    with pytest.raises(ConfigurationError, match=r"region = 'us-central9': unknown Google Cloud region; allowed: us-central1"):
        check_region("us-central9")


def test_fails_when_zone_is_not_in_region():
    with pytest.raises(ConfigurationError, match=r"zone = 'us-east1-a': not a zone of us-east1; allowed: us-east1-b"):
        check_zone("us-east1-a", "us-east1")
