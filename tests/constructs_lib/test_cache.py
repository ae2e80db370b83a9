from dataclasses import dataclass

import re

import pytest
from cdktf import TerraformOutput

from constructs_lib.cache import InferenceCache
from constructs_lib.errors import ConfigurationError
from constructs_lib.identity import ServiceIdentity
from constructs_lib.interfaces import CacheConnection, Grant, Grantee
from constructs_lib.network import ServingNetwork
from constructs_lib.specs.cache import EVICTION_POLICIES, CacheClusterSpec, CacheSpec, MaintenanceWindow
from tests.conftest import only_resource, resource_by_path, resources, synth

SA = "serviceAccount:fleet@test-project-123.iam.gserviceaccount.com"
NETWORK = "${google_compute_network.network_default_09D2BCBB.id}"


def _network(stack, naming, regions=("europe-west1",)):
    return ServingNetwork(stack, "network", naming=naming, regions=list(regions))


def _resolved(stack, **values):
    """What each token becomes in the synthesized JSON (through probe outputs)."""
    for key, value in values.items():
        TerraformOutput(stack, f"probe-{key}", value=value)
    outputs = synth(stack)["output"]
    return {key: outputs[f"probe-{key}"]["value"] for key in values}


def _cache(stack, naming, regions=("europe-west1",), cache_regions=None, **spec):
    network = _network(stack, naming, regions)
    return InferenceCache(stack, "cache", network=network, naming=naming, regions=cache_regions, spec=CacheSpec(**spec))


# -- instance mode: secure defaults ------------------------------------------------------------

def test_default_instance_is_ha_with_auth_tls_and_private_service_access(stack, naming):
    _cache(stack, naming)
    result = synth(stack)
    redis = only_resource(result, "google_redis_instance")
    assert redis["name"] == "ml-test-cache-europe-west1"
    assert redis["region"] == "europe-west1"
    assert redis["tier"] == "STANDARD_HA"
    assert redis["memory_size_gb"] == 5
    assert redis["redis_version"] == "REDIS_7_2"
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis["authorized_network"] == NETWORK
    assert redis["reserved_ip_range"] == "${google_compute_global_address.network_private-services-range_64993B9D.name}"
    assert redis["depends_on"] == ["google_service_networking_connection.network_private-services-connection_29E859E4"]
    assert redis["read_replicas_mode"] == "READ_REPLICAS_DISABLED"
    assert "replica_count" not in redis
    assert redis["persistence_config"] == {"persistence_mode": "DISABLED"}
    assert redis["redis_configs"] == {"maxmemory-policy": "allkeys-lru"}
    assert redis["maintenance_policy"] == {"weekly_maintenance_window": [
        {"day": "SUNDAY", "start_time": {"hours": 3, "minutes": 0, "seconds": 0, "nanos": 0}},
    ]}
    assert redis["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    assert redis["lifecycle"] == {"prevent_destroy": True}


def test_one_instance_per_network_region_by_default(stack, naming):
    _cache(stack, naming, regions=("europe-west1", "us-central1"))
    instances = resources(synth(stack), "google_redis_instance")
    assert sorted(i["region"] for i in instances.values()) == ["europe-west1", "us-central1"]


def test_regions_can_be_a_subset_of_the_network(stack, naming):
    _cache(stack, naming, regions=("europe-west1", "us-central1"), cache_regions=["us-central1"])
    assert only_resource(synth(stack), "google_redis_instance")["region"] == "us-central1"


def test_auth_string_and_ca_bundle_go_to_regional_secrets(stack, naming):
    _cache(stack, naming)
    result = synth(stack)
    auth = resource_by_path(result, "google_secret_manager_secret", "cache/auth-secret-europe-west1")
    assert auth["secret_id"] == "ml-test-cache-auth-europe-west1"
    assert auth["replication"] == {"user_managed": {"replicas": [{"location": "europe-west1"}]}}
    assert auth["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    auth_version = resource_by_path(result, "google_secret_manager_secret_version", "cache/auth-secret-version-europe-west1")
    assert auth_version["secret"] == "${google_secret_manager_secret.cache_auth-secret-europe-west1_D17A3C9E.id}"
    assert auth_version["secret_data"] == "${google_redis_instance.cache_redis-europe-west1_38C24200.auth_string}"
    ca = resource_by_path(result, "google_secret_manager_secret", "cache/ca-secret-europe-west1")
    assert ca["secret_id"] == "ml-test-cache-ca-europe-west1"
    ca_version = resource_by_path(result, "google_secret_manager_secret_version", "cache/ca-secret-version-europe-west1")
    assert ca_version["secret_data"] == (
        '${join("\\n", google_redis_instance.cache_redis-europe-west1_38C24200.server_ca_certs[*].cert)}'
    )


def test_connection_points_to_the_latest_versions_of_secrets_never_to_the_cache(stack, naming):
    """A server's template refers to secrets, not to the Redis instance: otherwise create-before-destroy
    on the template spreads to the cache, and a cache replacement creates a second cache under the same
    name (refused by the API) before destroying the first."""
    cache = _cache(stack, naming)
    connection = cache.connection("europe-west1")
    assert isinstance(connection, CacheConnection)
    assert connection.tls is True
    resolved = _resolved(
        stack, endpoint=connection.endpoint_secret, auth_secret=connection.auth_secret, ca_secret=connection.ca_secret,
    )
    for key, kind in (("endpoint", "host"), ("auth_secret", "auth"), ("ca_secret", "ca")):
        assert re.fullmatch(rf"\$\{{google_secret_manager_secret\.cache_{kind}-secret-europe-west1_[0-9A-F]{{8}}\.id\}}/versions/latest", resolved[key])


def test_endpoint_secret_holds_host_port_and_read_host_as_json(stack, naming):
    _cache(stack, naming, read_replica_count=1)
    result = synth(stack)
    secret = resource_by_path(result, "google_secret_manager_secret", "cache/host-secret-europe-west1")
    assert secret["secret_id"] == "ml-test-cache-host-europe-west1"
    version = resource_by_path(result, "google_secret_manager_secret_version", "cache/host-secret-version-europe-west1")
    redis = "google_redis_instance.cache_redis-europe-west1_38C24200"
    assert version["secret_data"] == f'${{jsonencode({{"host" = {redis}.host, "port" = {redis}.port, "read_host" = {redis}.read_endpoint}})}}'


def test_connection_fails_for_a_region_without_cache(stack, naming):
    cache = _cache(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^region = 'us-east1': the cache is in europe-west1$"):
        cache.connection("us-east1")


def test_grant_connect_gives_secret_accessor_on_every_secret(stack, naming):
    cache = _cache(stack, naming, regions=("europe-west1", "us-central1"))
    grant = cache.grant_connect(SA)
    assert isinstance(grant, Grant)
    assert (grant.member, grant.roles, grant.target) == (SA, ("roles/secretmanager.secretAccessor",), "cache in europe-west1, us-central1")
    created = grant.resources
    assert len(created) == 6, "auth, CA and endpoint secrets in two regions"
    assert cache.grants["sa-fleet-test-project-123"] == list(created)
    members = resources(synth(stack), "google_secret_manager_secret_iam_member")
    assert len(members) == 6
    for member in members.values():
        assert member["role"] == "roles/secretmanager.secretAccessor"
        assert member["member"] == SA
    grant = resource_by_path(
        synth(stack), "google_secret_manager_secret_iam_member", "cache/connect-sa-fleet-test-project-123-auth-us-central1",
    )
    assert grant["secret_id"].startswith("${google_secret_manager_secret.cache_auth-secret-us-central1_")
    assert resources(synth(stack), "google_project_iam_member") == {}


def test_grant_connect_accepts_a_token_member_and_numbers_it(stack, naming):
    cache = _cache(stack, naming)
    network = cache.network
    cache.grant_connect(f"serviceAccount:{network.network.name}@x.iam.gserviceaccount.com")
    cache.grant_connect(SA, id_="fleet")
    assert sorted(cache.grants) == ["fleet", "member-1"]


@dataclass(frozen=True)
class _Workload:
    """A ``Grantee``: anything with ``iam_member``."""

    iam_member: str


def test_grant_connect_takes_a_grantee(stack, naming):
    cache = _cache(stack, naming)
    workload = _Workload(iam_member=SA)
    assert isinstance(workload, Grantee)
    grant = cache.grant_connect(workload, id_="workload")
    assert grant.member == SA
    assert sorted(cache.grants) == ["workload"]
    assert {m["member"] for m in resources(synth(stack), "google_secret_manager_secret_iam_member").values()} == {SA}


def test_grant_connect_takes_a_service_identity(stack, naming):
    cache = _cache(stack, naming)
    identity = ServiceIdentity(stack, "server", account_id="ml-test-server", display_name="server", description="model server")
    grant = cache.grant_connect(identity)
    assert sorted(cache.grants) == ["member-1"]
    result = synth(stack)
    account_id = next(iter(resources(result, "google_service_account")))
    assert {m["member"] for m in resources(result, "google_secret_manager_secret_iam_member").values()} == {
        f"${{google_service_account.{account_id}.member}}",
    }
    assert len(grant.resources) == 3, "auth, CA and endpoint secrets"


def test_fails_when_grant_connect_member_is_not_an_iam_member(stack, naming):
    cache = _cache(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^grantee = 'fleet@x.com': must be an IAM member 'serviceAccount:<email>'"):
        cache.grant_connect("fleet@x.com")
    with pytest.raises(ConfigurationError, match=r"^grantee = 'object': must be an IAM member string or have iam_member"):
        cache.grant_connect(object())
    assert cache.grants == {}


def test_fails_when_grant_connect_id_is_reused(stack, naming):
    cache = _cache(stack, naming)
    cache.grant_connect(SA)
    with pytest.raises(ConfigurationError, match=r"^id_ = 'sa-fleet-test-project-123': a grant with this id exists already"):
        cache.grant_connect(SA)


def test_add_outputs_marks_secret_values_sensitive(stack, naming):
    cache = _cache(stack, naming)
    outputs = cache.add_outputs()
    assert sorted(outputs) == [
        "auth-secret-europe-west1", "auth-string-europe-west1", "ca-certs-europe-west1",
        "ca-secret-europe-west1", "host-europe-west1", "port-europe-west1",
    ]
    result = synth(stack)["output"]
    assert result["cache-auth-string-europe-west1"]["sensitive"] is True
    assert result["cache-ca-certs-europe-west1"]["sensitive"] is True
    assert "sensitive" not in result["cache-host-europe-west1"]
    assert result["cache-host-europe-west1"]["value"] == "${google_redis_instance.cache_redis-europe-west1_38C24200.host}"


# -- instance mode: options --------------------------------------------------------------------

def test_read_replicas_expose_a_read_endpoint(stack, naming):
    cache = _cache(stack, naming, read_replica_count=2)
    redis = only_resource(synth(stack), "google_redis_instance")
    assert redis["read_replicas_mode"] == "READ_REPLICAS_ENABLED"
    assert redis["replica_count"] == 2
    assert "read_endpoint" in resource_by_path(
        synth(stack), "google_secret_manager_secret_version", "cache/host-secret-version-europe-west1",
    )["secret_data"]
    outputs = cache.add_outputs()
    assert "read-host-europe-west1" in outputs and "read-port-europe-west1" in outputs


def test_rdb_persistence(stack, naming):
    _cache(stack, naming, rdb_snapshot_period="SIX_HOURS")
    redis = only_resource(synth(stack), "google_redis_instance")
    assert redis["persistence_config"] == {"persistence_mode": "RDB", "rdb_snapshot_period": "SIX_HOURS"}


def test_basic_tier_without_auth_tls_or_maintenance_window(stack, naming):
    cache = _cache(
        stack, naming, tier="BASIC", memory_size_gb=1, auth_enabled=False, transit_encryption_mode="DISABLED",
        maintenance_window=None, prevent_destroy=False,
    )
    result = synth(stack)
    redis = only_resource(result, "google_redis_instance")
    assert redis["tier"] == "BASIC" and redis["memory_size_gb"] == 1
    assert redis["auth_enabled"] is False
    assert redis["transit_encryption_mode"] == "DISABLED"
    assert "read_replicas_mode" not in redis
    assert "maintenance_policy" not in redis
    assert "lifecycle" not in redis
    assert [body["secret_id"] for body in resources(result, "google_secret_manager_secret").values()] == ["ml-test-cache-host-europe-west1"]
    connection = cache.connection("europe-west1")
    assert connection.auth_secret is None and connection.ca_secret is None and connection.tls is False
    grant = cache.grant_connect(SA)
    assert grant.roles == ("roles/secretmanager.secretAccessor",) and len(grant.resources) == 1


def test_direct_peering_has_no_reserved_range_or_psa_dependency(stack, naming):
    _cache(stack, naming, connect_mode="DIRECT_PEERING")
    redis = only_resource(synth(stack), "google_redis_instance")
    assert redis["connect_mode"] == "DIRECT_PEERING"
    assert "reserved_ip_range" not in redis and "depends_on" not in redis


def test_eviction_policy_redis_configs_version_window_and_labels(stack, naming):
    _cache(
        stack, naming, eviction_policy="allkeys-lfu", redis_configs={"notify-keyspace-events": "Ex"},
        redis_version="REDIS_6_X", maintenance_window=MaintenanceWindow(day="TUESDAY", hour=22),
        labels={"team": "ml-platform"},
    )
    redis = only_resource(synth(stack), "google_redis_instance")
    assert redis["redis_configs"] == {"maxmemory-policy": "allkeys-lfu", "notify-keyspace-events": "Ex"}
    assert redis["redis_version"] == "REDIS_6_X"
    assert redis["maintenance_policy"]["weekly_maintenance_window"][0]["day"] == "TUESDAY"
    assert redis["maintenance_policy"]["weekly_maintenance_window"][0]["start_time"]["hours"] == 22
    assert redis["labels"]["team"] == "ml-platform"


@pytest.mark.parametrize("policy", EVICTION_POLICIES)
def test_every_redis_eviction_policy_is_accepted(policy):
    assert CacheSpec(eviction_policy=policy).eviction_policy == policy


# -- instance mode: validation -----------------------------------------------------------------

@pytest.mark.parametrize(("tier", "size"), [("BASIC", 0), ("BASIC", 301), ("STANDARD_HA", 0), ("STANDARD_HA", 400)])
def test_fails_when_memory_is_out_of_range_for_the_tier(tier, size):
    with pytest.raises(ConfigurationError, match=rf"memory_size_gb = {size}: tier {tier} allows 1-300 GB"):
        CacheSpec(tier=tier, memory_size_gb=size)


def test_fails_when_read_replicas_are_asked_on_basic():
    with pytest.raises(ConfigurationError, match=r"read_replica_count = 1: read replicas need tier STANDARD_HA \(tier is BASIC\)"):
        CacheSpec(tier="BASIC", read_replica_count=1)


def test_fails_when_read_replicas_are_asked_below_5_gb():
    with pytest.raises(ConfigurationError, match=r"read replicas need memory_size_gb >= 5 \(is 4\)"):
        CacheSpec(memory_size_gb=4, read_replica_count=1)


def test_fails_when_read_replicas_are_asked_on_redis_4():
    with pytest.raises(ConfigurationError, match=r"read replicas need redis_version >= REDIS_5_0 \(is REDIS_4_0\)"):
        CacheSpec(redis_version="REDIS_4_0", read_replica_count=1)


def test_fails_when_read_replica_count_is_above_5():
    with pytest.raises(ConfigurationError, match=r"^CacheSpec: read_replica_count = 6: Input should be less than or equal to 5$"):
        CacheSpec(read_replica_count=6)


@pytest.mark.parametrize("day", ["FUNDAY", "sunday", ""])
def test_fails_when_maintenance_day_is_not_a_weekday_name(day):
    with pytest.raises(ConfigurationError, match=r"^MaintenanceWindow: day = '.*': Input should be 'MONDAY', 'TUESDAY'"):
        MaintenanceWindow(day=day)


@pytest.mark.parametrize("hour", [-1, 24])
def test_fails_when_maintenance_hour_is_out_of_range(hour):
    with pytest.raises(ConfigurationError, match=rf"^MaintenanceWindow: hour = {hour}: Input should be (greater|less) than or equal to (0|23)$"):
        MaintenanceWindow(hour=hour)


def test_fails_when_eviction_policy_is_unknown():
    with pytest.raises(ConfigurationError, match=r"unknown maxmemory-policy; allowed: volatile-lru, allkeys-lru"):
        CacheSpec(eviction_policy="lru")


def test_fails_when_maxmemory_policy_is_set_in_redis_configs():
    with pytest.raises(ConfigurationError, match=r"set the eviction policy with eviction_policy"):
        CacheSpec(redis_configs={"maxmemory-policy": "noeviction"})


def test_fails_when_redis_version_is_unknown():
    with pytest.raises(ConfigurationError, match=r"unknown Memorystore Redis version; allowed: REDIS_3_2, .*REDIS_7_2"):
        CacheSpec(redis_version="REDIS_8_0")


def test_fails_when_labels_break_gcp_rules():
    with pytest.raises(ConfigurationError, match=r"labels.Team"):
        CacheSpec(labels={"Team": "x"})


def test_fails_when_a_cache_region_is_not_served_by_the_network(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^regions = \['us-east1'\]: must be among the network's regions \(europe-west1\); not served: us-east1$"):
        _cache(stack, naming, cache_regions=["us-east1"])


def test_fails_when_a_cache_region_is_repeated(stack, naming):
    with pytest.raises(ConfigurationError, match=r"each region may be listed once; repeated: europe-west1"):
        _cache(stack, naming, cache_regions=["europe-west1", "europe-west1"])


def test_fails_when_no_cache_region_is_given(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^regions = \[\]: at least one cache region is required$"):
        _cache(stack, naming, cache_regions=[])


def test_fails_when_the_instance_name_exceeds_memorystores_40_characters(stack):
    from constructs_lib.naming import Naming

    long_naming = Naming(app="inference-platform", env="production")
    network = _network(stack, long_naming, regions=("northamerica-northeast1",))
    with pytest.raises(ConfigurationError, match=r"^name = 'inference-platform-production-cache-northamerica-northeast1': must be at most 40 characters"):
        InferenceCache(stack, "cache", network=network, naming=long_naming)
    # rejected before anything was created: no half cache, no private services access
    assert stack.node.try_find_child("cache") is None
    assert network.private_services_connection is None


def test_cluster_names_may_be_longer_than_an_instance_name(stack):
    from constructs_lib.naming import Naming

    long_naming = Naming(app="inference-platform", env="production")
    network = _network(stack, long_naming, regions=("northamerica-northeast1",))
    cache = InferenceCache(stack, "cache", network=network, naming=long_naming, spec=CacheSpec(mode="cluster"))
    assert only_resource(synth(stack), "google_redis_cluster")["name"] == "inference-platform-production-cache-northamerica-northeast1"
    assert cache.regions == ("northamerica-northeast1",)


def test_a_rejected_cache_leaves_nothing_behind(stack, naming):
    network = _network(stack, naming)
    with pytest.raises(ConfigurationError):
        InferenceCache(stack, "cache", network=network, naming=naming, regions=["us-east1"])
    assert stack.node.try_find_child("cache") is None
    InferenceCache(stack, "cache", network=network, naming=naming)
    assert len(resources(synth(stack), "google_redis_instance")) == 1


# -- cluster mode ------------------------------------------------------------------------------

def test_cluster_mode_uses_psc_iam_auth_tls_and_multi_zone(stack, naming):
    cache = _cache(stack, naming, mode="cluster")
    result = synth(stack)
    assert resources(result, "google_redis_instance") == {}
    cluster = only_resource(result, "google_redis_cluster")
    assert cluster["name"] == "ml-test-cache-europe-west1"
    assert cluster["region"] == "europe-west1"
    assert cluster["shard_count"] == 3 and cluster["replica_count"] == 1
    assert cluster["node_type"] == "REDIS_HIGHMEM_MEDIUM"
    assert cluster["authorization_mode"] == "AUTH_MODE_IAM_AUTH"
    assert cluster["transit_encryption_mode"] == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
    assert cluster["zone_distribution_config"] == {"mode": "MULTI_ZONE"}
    assert cluster["deletion_protection_enabled"] is True
    assert cluster["psc_configs"] == [{"network": NETWORK}]
    assert cluster["redis_configs"] == {"maxmemory-policy": "allkeys-lru"}
    assert cluster["persistence_config"] == {"mode": "DISABLED"}
    assert cluster["lifecycle"] == {"prevent_destroy": True}
    policy = only_resource(result, "google_network_connectivity_service_connection_policy")
    assert policy["service_class"] == "gcp-memorystore-redis"
    assert policy["location"] == "europe-west1"
    assert policy["network"] == NETWORK
    assert policy["psc_config"] == {"subnetworks": ["${google_compute_subnetwork.network_subnet-europe-west1_02BD014D.id}"]}
    policy_id = next(iter(resources(result, "google_network_connectivity_service_connection_policy")))
    assert cluster["depends_on"] == [f"google_network_connectivity_service_connection_policy.{policy_id}"]
    # IAM auth: no AUTH secret; the CA bundle and the endpoint (discovery address and port).
    assert sorted(s["secret_id"] for s in resources(result, "google_secret_manager_secret").values()) == [
        "ml-test-cache-ca-europe-west1", "ml-test-cache-host-europe-west1",
    ]
    connection = cache.connection("europe-west1")
    assert connection.auth_secret is None and connection.tls is True
    cluster_id = next(iter(resources(result, "google_redis_cluster")))
    endpoint = resource_by_path(result, "google_secret_manager_secret_version", "cache/host-secret-version-europe-west1")
    assert f"google_redis_cluster.{cluster_id}.discovery_endpoints[0].address" in endpoint["secret_data"]
    assert f"google_redis_cluster.{cluster_id}.discovery_endpoints[0].port" in endpoint["secret_data"]


def test_cluster_grant_connect_adds_db_connection_user(stack, naming):
    cache = _cache(stack, naming, mode="cluster")
    grant = cache.grant_connect(SA)
    assert grant.roles == ("roles/secretmanager.secretAccessor", "roles/redis.dbConnectionUser")
    assert len(grant.resources) == 3
    result = synth(stack)
    iam = only_resource(result, "google_project_iam_member")
    assert iam["role"] == "roles/redis.dbConnectionUser"
    assert iam["member"] == SA
    assert iam["project"].endswith(".project}")
    secret_grants = sorted(g["secret_id"] for g in resources(result, "google_secret_manager_secret_iam_member").values())
    assert [g.split(".")[1].split("-secret")[0] for g in secret_grants] == ["cache_ca", "cache_host"]


def test_cluster_options(stack, naming):
    cache = _cache(
        stack, naming, mode="cluster", rdb_snapshot_period="ONE_HOUR", prevent_destroy=False,
        cluster=CacheClusterSpec(
            shard_count=10, replica_count=2, node_type="REDIS_HIGHMEM_XLARGE", authorization_mode="AUTH_MODE_DISABLED",
            transit_encryption_mode="TRANSIT_ENCRYPTION_MODE_DISABLED", zone_distribution="SINGLE_ZONE",
            zones={"europe-west1": "europe-west1-c"}, deletion_protection=False,
        ),
    )
    cache.grant_connect(SA)
    result = synth(stack)
    cluster = only_resource(result, "google_redis_cluster")
    assert cluster["shard_count"] == 10 and cluster["replica_count"] == 2
    assert cluster["node_type"] == "REDIS_HIGHMEM_XLARGE"
    assert cluster["authorization_mode"] == "AUTH_MODE_DISABLED"
    assert cluster["transit_encryption_mode"] == "TRANSIT_ENCRYPTION_MODE_DISABLED"
    assert cluster["zone_distribution_config"] == {"mode": "SINGLE_ZONE", "zone": "europe-west1-c"}
    assert cluster["deletion_protection_enabled"] is False
    assert cluster["persistence_config"] == {"mode": "RDB", "rdb_config": {"rdb_snapshot_period": "ONE_HOUR"}}
    assert "lifecycle" not in cluster
    assert [s["secret_id"] for s in resources(result, "google_secret_manager_secret").values()] == ["ml-test-cache-host-europe-west1"]
    assert resources(result, "google_project_iam_member") == {}


def test_fails_when_single_zone_cluster_has_no_zone():
    with pytest.raises(ConfigurationError, match=r"zone_distribution = 'SINGLE_ZONE' needs cluster.zones"):
        CacheClusterSpec(zone_distribution="SINGLE_ZONE")


def test_fails_when_multi_zone_cluster_names_zones():
    with pytest.raises(ConfigurationError, match=r"cluster.zones is only allowed with zone_distribution = 'SINGLE_ZONE'"):
        CacheClusterSpec(zones={"europe-west1": "europe-west1-b"})


def test_fails_when_cluster_zone_is_not_in_its_region():
    with pytest.raises(ConfigurationError, match=r"cluster.zones.europe-west1 = 'europe-west1-a': not a zone of europe-west1; allowed: europe-west1-b"):
        CacheClusterSpec(zone_distribution="SINGLE_ZONE", zones={"europe-west1": "europe-west1-a"})


def test_fails_when_single_zone_cluster_misses_a_cache_region(stack, naming):
    spec = CacheClusterSpec(zone_distribution="SINGLE_ZONE", zones={"europe-west1": "europe-west1-b"})
    with pytest.raises(ConfigurationError, match=r"SINGLE_ZONE needs a zone for every cache region; missing: us-central1"):
        _cache(stack, naming, regions=("europe-west1", "us-central1"), mode="cluster", cluster=spec)


def test_fails_when_single_zone_cluster_names_a_region_outside_the_cache(stack, naming):
    spec = CacheClusterSpec(zone_distribution="SINGLE_ZONE", zones={"europe-west1": "europe-west1-b", "us-central1": "us-central1-a"})
    with pytest.raises(ConfigurationError, match=r"names regions the cache is not in: us-central1"):
        _cache(stack, naming, mode="cluster", cluster=spec)


@pytest.mark.parametrize(("field", "value"), [("shard_count", 0), ("shard_count", 251), ("replica_count", 3)])
def test_fails_when_cluster_sizes_are_out_of_range(field, value):
    with pytest.raises(ConfigurationError, match=field):
        CacheClusterSpec(**{field: value})


def test_fails_when_instance_only_settings_are_given_in_cluster_mode():
    with pytest.raises(ConfigurationError, match=r"tier, read_replica_count only apply to mode = 'instance'"):
        CacheSpec(mode="cluster", tier="STANDARD_HA", read_replica_count=1)


# -- snapshots ---------------------------------------------------------------------------------

def test_snapshot_default_ha_cache_one_region(stack, naming, snapshot_json):
    cache = _cache(stack, naming)
    cache.grant_connect(SA)
    cache.add_outputs()
    assert synth(stack) == snapshot_json


def test_snapshot_read_replicas_and_persistence_two_regions(stack, naming, snapshot_json):
    cache = _cache(
        stack, naming, regions=("europe-west1", "us-central1"), memory_size_gb=10, read_replica_count=2,
        rdb_snapshot_period="TWELVE_HOURS",
    )
    cache.grant_connect(SA)
    cache.add_outputs()
    assert synth(stack) == snapshot_json


def test_snapshot_cluster_mode(stack, naming, snapshot_json):
    cache = _cache(stack, naming, mode="cluster")
    cache.grant_connect(SA)
    cache.add_outputs()
    assert synth(stack) == snapshot_json
