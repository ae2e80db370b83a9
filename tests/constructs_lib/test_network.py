import pytest
from cdktf import TerraformOutput

from constructs_lib.cache import InferenceCache
from constructs_lib.errors import ConfigurationError
from constructs_lib.network import HEALTH_CHECK_RANGES, NetworkReference, ServingNetwork, check_served
from constructs_lib.specs.cache import CacheSpec
from constructs_lib.specs.network import IAP_RANGE, FlowLogsSpec, NetworkSpec, RouteSpec, plan_subnets
from tests.conftest import only_resource, resource_by_path, resources, synth


def _network(stack, naming, regions=("us-central1",), **spec):
    return ServingNetwork(stack, "network", naming=naming, regions=list(regions), spec=NetworkSpec(**spec))


def test_custom_mode_vpc(stack, naming):
    _network(stack, naming)
    vpc = only_resource(synth(stack), "google_compute_network")
    assert vpc["name"] == "ml-test-vpc"
    assert vpc["auto_create_subnetworks"] is False
    assert vpc["routing_mode"] == "REGIONAL"
    assert vpc["mtu"] == 1460


def test_one_subnet_per_region_with_private_google_access_and_flow_logs(stack, naming):
    _network(stack, naming, regions=("us-central1", "europe-west4"))
    subnets = resources(synth(stack), "google_compute_subnetwork")
    by_region = {s["region"]: s for s in subnets.values()}
    assert sorted(by_region) == ["europe-west4", "us-central1"]
    assert by_region["us-central1"]["ip_cidr_range"] == "10.10.0.0/20"
    assert by_region["europe-west4"]["ip_cidr_range"] == "10.10.16.0/20"
    assert by_region["us-central1"]["name"] == "ml-test-serving-us-central1"
    for subnet in subnets.values():
        assert subnet["private_ip_google_access"] is True
        assert subnet["log_config"] == {
            "aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA",
        }
        assert subnet["network"] == "${google_compute_network.network_default_09D2BCBB.id}"


def test_flow_logs_can_be_tuned_or_turned_off(stack, naming):
    _network(stack, naming, flow_logs=FlowLogsSpec(enabled=False))
    assert "log_config" not in only_resource(synth(stack), "google_compute_subnetwork")


def test_flow_logs_sampling_is_configurable(stack, naming):
    _network(stack, naming, flow_logs=FlowLogsSpec(flow_sampling=0.1, aggregation_interval="INTERVAL_1_MIN"))
    log_config = only_resource(synth(stack), "google_compute_subnetwork")["log_config"]
    assert log_config["flow_sampling"] == 0.1 and log_config["aggregation_interval"] == "INTERVAL_1_MIN"


def test_router_and_nat_per_region(stack, naming):
    _network(stack, naming, regions=("us-central1", "us-east1"))
    result = synth(stack)
    assert len(resources(result, "google_compute_router")) == 2
    nat = resource_by_path(result, "google_compute_router_nat", "network/nat-us-east1")
    assert nat["region"] == "us-east1"
    assert nat["nat_ip_allocate_option"] == "AUTO_ONLY"
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetwork"][0]["source_ip_ranges_to_nat"] == ["ALL_IP_RANGES"]
    assert "google_compute_subnetwork.network_subnet-us-east1" in nat["subnetwork"][0]["name"]
    assert nat["log_config"] == {"enable": True, "filter": "ERRORS_ONLY"}
    assert nat["min_ports_per_vm"] == 64


def test_nat_logging_can_be_turned_off(stack, naming):
    _network(stack, naming, nat_log_filter=None)
    assert "log_config" not in only_resource(synth(stack), "google_compute_router_nat")


def test_health_check_firewall_admits_google_ranges_to_serving_port_of_fleet_tag_only(stack, naming):
    _network(stack, naming, serving_port=9000)
    rule = only_resource(synth(stack), "google_compute_firewall")
    assert rule["name"] == "ml-test-allow-health-checks"
    assert rule["direction"] == "INGRESS"
    assert rule["source_ranges"] == list(HEALTH_CHECK_RANGES) == ["35.191.0.0/16", "130.211.0.0/22"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["9000"]}]
    assert rule["target_tags"] == ["model-server"]
    assert "target_service_accounts" not in rule


def test_iap_ssh_is_off_by_default_and_opt_in(stack, naming):
    _network(stack, naming, iap_ssh=True)
    rule = resource_by_path(synth(stack), "google_compute_firewall", "network/allow-iap-ssh")
    assert rule["source_ranges"] == [IAP_RANGE]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert rule["target_tags"] == ["model-server"]


def test_no_iap_rule_by_default(stack, naming):
    _network(stack, naming)
    assert len(resources(synth(stack), "google_compute_firewall")) == 1


def test_allow_health_checks_for_another_port_by_service_account(stack, naming):
    network = _network(stack, naming)
    network.allow_health_checks(port=8501, target_service_accounts=["fleet@p.iam.gserviceaccount.com"])
    rule = resource_by_path(synth(stack), "google_compute_firewall", "network/allow-health-checks-8501")
    assert rule["target_service_accounts"] == ["fleet@p.iam.gserviceaccount.com"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["8501"]}]
    assert network.admits_health_checks(8501, service_account="fleet@p.iam.gserviceaccount.com")
    assert network.admits_health_checks(8080, tag="model-server")
    assert not network.admits_health_checks(8501, tag="model-server")
    assert not network.admits_health_checks(9999, tag="model-server")


def test_fails_when_health_check_rule_has_no_target(stack, naming):
    network = _network(stack, naming)
    with pytest.raises(ConfigurationError, match="give exactly one of them"):
        network.allow_health_checks(port=8501)


def test_fails_when_health_check_rule_has_both_targets(stack, naming):
    network = _network(stack, naming)
    with pytest.raises(ConfigurationError, match="give exactly one of them"):
        network.allow_health_checks(port=8501, target_tags=["a"], target_service_accounts=["b"])


def test_fails_when_health_check_port_is_out_of_range(stack, naming):
    network = _network(stack, naming)
    with pytest.raises(ConfigurationError, match=r"port = 70000: must be a TCP port"):
        network.allow_health_checks(port=70000, target_tags=["a"])


def test_fails_when_health_check_rule_id_is_reused(stack, naming):
    network = _network(stack, naming)
    network.allow_health_checks(port=8501, target_tags=["a"])
    with pytest.raises(ConfigurationError, match="exists already"):
        network.allow_health_checks(port=8501, target_tags=["b"])


def test_no_private_services_access_by_default(stack, naming):
    network = _network(stack, naming)
    result = synth(stack)
    assert resources(result, "google_compute_global_address") == {}
    assert resources(result, "google_service_networking_connection") == {}
    assert network.private_services_range is None and network.private_services_connection is None
    assert network.private_services_range_name == "ml-test-psa"


def test_private_services_access_for_memorystore(stack, naming):
    network = _network(stack, naming)
    connection = network.enable_private_services()
    result = synth(stack)
    reserved = only_resource(result, "google_compute_global_address")
    assert reserved["purpose"] == "VPC_PEERING"
    assert reserved["address_type"] == "INTERNAL"
    assert reserved["prefix_length"] == 20
    assert "address" not in reserved
    assert reserved["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    connection = only_resource(result, "google_service_networking_connection")
    assert connection["service"] == "servicenetworking.googleapis.com"
    range_id = next(iter(resources(result, "google_compute_global_address")))
    assert connection["reserved_peering_ranges"] == [f"${{google_compute_global_address.{range_id}.name}}"]
    assert connection["deletion_policy"] == "ABANDON"
    assert network.private_services_connection is not None
    assert network.enable_private_services() is network.private_services_connection


def test_enable_private_services_is_idempotent(stack, naming):
    network = _network(stack, naming)
    first = network.enable_private_services()
    assert network.enable_private_services() is first
    TerraformOutput(stack, "range-name", value=network.private_services_range_name)
    result = synth(stack)
    assert len(resources(result, "google_service_networking_connection")) == 1
    range_id = next(iter(resources(result, "google_compute_global_address")))
    assert range_id.startswith("network_private-services-range_")
    assert result["output"]["range-name"]["value"] == f"${{google_compute_global_address.{range_id}.name}}"


def test_inference_cache_enables_private_services_access(stack, naming):
    network = _network(stack, naming)
    InferenceCache(stack, "cache", network=network, naming=naming)
    result = synth(stack)
    reserved = only_resource(result, "google_compute_global_address")
    assert reserved["name"] == "ml-test-psa" and reserved["purpose"] == "VPC_PEERING"
    range_id = next(iter(resources(result, "google_compute_global_address")))
    connection_id = next(iter(resources(result, "google_service_networking_connection")))
    redis = only_resource(result, "google_redis_instance")
    assert redis["reserved_ip_range"] == f"${{google_compute_global_address.{range_id}.name}}"
    assert redis["depends_on"] == [f"google_service_networking_connection.{connection_id}"]


@pytest.mark.parametrize("spec", [CacheSpec(connect_mode="DIRECT_PEERING"), CacheSpec(mode="cluster")])
def test_caches_without_private_services_access_do_not_enable_it(stack, naming, spec):
    network = _network(stack, naming)
    InferenceCache(stack, "cache", network=network, naming=naming, spec=spec)
    result = synth(stack)
    assert resources(result, "google_compute_global_address") == {}
    assert resources(result, "google_service_networking_connection") == {}
    assert network.private_services_connection is None


def test_private_services_range_can_be_pinned(stack, naming):
    _network(stack, naming, private_services_address="10.200.0.0", private_services_prefix_length=16).enable_private_services()
    reserved = only_resource(synth(stack), "google_compute_global_address")
    assert reserved["address"] == "10.200.0.0" and reserved["prefix_length"] == 16


def test_fails_when_the_pinned_private_services_range_overlaps_a_subnet(stack, naming):
    network = _network(stack, naming, regions=("us-central1", "us-east1"), private_services_address="10.10.16.0",
                       private_services_prefix_length=24)
    with pytest.raises(ConfigurationError) as failed:
        network.enable_private_services()
    assert str(failed.value) == (
        "network.private_services_address = '10.10.16.0/24': overlaps the subnet of us-east1 (10.10.16.0/20); "
        "pick a range outside the serving subnets"
    )
    assert network.private_services_connection is None and network.private_services_range is None
    assert stack.node.try_find_child("network").node.try_find_child("private-services-range") is None


def test_custom_routes(stack, naming):
    _network(stack, naming, routes=(
        RouteSpec(name="egress", dest_range="0.0.0.0/0", next_hop_gateway="default-internet-gateway", priority=900, tags=("model-server",)),
        RouteSpec(name="onprem", dest_range="192.168.0.0/16", next_hop_ip="10.10.0.5"),
    ))
    result = synth(stack)
    egress = resource_by_path(result, "google_compute_route", "network/route-egress")
    assert egress["name"] == "ml-test-route-egress"
    assert egress["next_hop_gateway"] == "default-internet-gateway"
    assert egress["priority"] == 900 and egress["tags"] == ["model-server"]
    onprem = resource_by_path(result, "google_compute_route", "network/route-onprem")
    assert onprem["next_hop_ip"] == "10.10.0.5" and "tags" not in onprem


def test_explicit_subnet_cidrs_win_and_allocation_skips_them():
    spec = NetworkSpec(subnet_cidrs={"us-east1": "10.10.0.0/20"})
    assert plan_subnets(["us-central1", "us-east1"], spec) == {"us-central1": "10.10.16.0/20", "us-east1": "10.10.0.0/20"}


def test_exposes_subnets_by_region(stack, naming):
    network = _network(stack, naming, regions=("us-central1", "us-east1"))
    assert sorted(network.subnets) == ["us-central1", "us-east1"]
    assert network.fleet_tag == "model-server"
    assert network.regions == ("us-central1", "us-east1")
    assert network.subnet_cidrs == {"us-central1": "10.10.0.0/20", "us-east1": "10.10.16.0/20"}


def test_network_id_and_subnet_references(stack, naming):
    network = _network(stack, naming, regions=("us-central1", "us-east1"))
    probes = {
        "network-id": network.network_id,
        "self-link": network.subnet_self_link("us-east1"),
        "subnet-id": network.subnet_id("us-east1"),
    }
    for key, value in probes.items():
        TerraformOutput(stack, key, value=value)
    outputs = synth(stack)["output"]
    subnet = next(lid for lid in resources(synth(stack), "google_compute_subnetwork") if lid.startswith("network_subnet-us-east1_"))
    assert {key: outputs[key]["value"] for key in probes} == {
        "network-id": "${google_compute_network.network_default_09D2BCBB.id}",
        "self-link": f"${{google_compute_subnetwork.{subnet}.self_link}}",
        "subnet-id": f"${{google_compute_subnetwork.{subnet}.id}}",
    }


@pytest.mark.parametrize("method", ["subnet_self_link", "subnet_id"])
def test_fails_when_asking_for_the_subnet_of_an_unserved_region(stack, naming, method):
    network = _network(stack, naming, regions=("us-central1", "us-east1"))
    with pytest.raises(ConfigurationError, match=r"^region = 'europe-west1': must be among the network's regions \(us-central1, us-east1\)$"):
        getattr(network, method)("europe-west1")


def test_check_served_is_the_one_region_rule_of_every_construct(stack, naming):
    network = _network(stack, naming, regions=("us-central1", "us-east1"))
    reference = NetworkReference(network=network, project_id="test-project-123")
    for served in (network, reference):
        check_served(served, ["us-east1", "us-central1"], "regions")
        check_served(served, "us-east1", "region")
    with pytest.raises(ConfigurationError) as caught:
        check_served(reference, ("us-east1", "europe-west1", "asia-east1"), "models[m].regions")
    assert str(caught.value) == ("models[m].regions = ['us-east1', 'europe-west1', 'asia-east1']: must be among the "
                                 "network's regions (us-central1, us-east1); not served: europe-west1, asia-east1")
    with pytest.raises(ConfigurationError, match=r"^regions = \[\]: must be among the network's regions \(us-central1, us-east1\)$"):
        check_served(network, [], "regions")
    with pytest.raises(ConfigurationError, match=r"^region = 'asia-east1': must be among the network's regions \(us-central1, us-east1\): why$"):
        check_served(network, "asia-east1", "region", why="why")


def test_network_reference_uses_deterministic_ids_of_the_other_stack(stack, naming):
    network = _network(stack, naming, regions=("us-central1",))
    reference = NetworkReference(network=network, project_id="test-project-123")
    assert reference.network_id == "projects/test-project-123/global/networks/ml-test-vpc"
    assert reference.subnet_self_link("us-central1") == "projects/test-project-123/regions/us-central1/subnetworks/ml-test-serving-us-central1"
    assert reference.subnet_id("us-central1") == reference.subnet_self_link("us-central1")
    assert (reference.regions, reference.fleet_tag, reference.naming) == (network.regions, network.fleet_tag, naming)
    assert reference.private_services_range_name == "ml-test-psa"
    with pytest.raises(ConfigurationError, match=r"^region = 'us-east1': must be among the network's regions \(us-central1\)$"):
        reference.subnet_id("us-east1")
    with pytest.raises(AttributeError):
        reference.subnets  # noqa: B018 - only the listed attributes are shared


def test_network_reference_acts_on_the_real_network(stack, naming):
    network = _network(stack, naming)
    reference = NetworkReference(network=network, project_id="test-project-123")
    reference.allow_health_checks(port=9000, target_tags=["gke-node"])
    assert reference.admits_health_checks(9000, tag="gke-node") and network.admits_health_checks(9000, tag="gke-node")
    assert reference.enable_private_services() is None
    assert network.private_services_connection is not None
    assert len(resources(synth(stack), "google_service_networking_connection")) == 1


def test_fails_when_no_region(stack, naming):
    with pytest.raises(ConfigurationError, match=r"regions = \[\]: at least one serving region is required"):
        _network(stack, naming, regions=())


def test_fails_when_region_unknown(stack, naming):
    with pytest.raises(ConfigurationError, match=r"regions\[1\] = 'us-centrall1': unknown Google Cloud region"):
        _network(stack, naming, regions=("us-east1", "us-centrall1"))


def test_fails_when_region_repeated(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^regions = \['us-east1', 'us-east1'\]: each region may be listed once; repeated: us-east1$"):
        _network(stack, naming, regions=("us-east1", "us-east1"))


def test_a_rejected_network_leaves_nothing_behind(stack, naming):
    with pytest.raises(ConfigurationError):
        _network(stack, naming, regions=("us-centrall1",))
    assert stack.node.try_find_child("network") is None
    _network(stack, naming, regions=("us-central1",))
    assert len(resources(synth(stack), "google_compute_network")) == 1


@pytest.mark.parametrize("cidr", ["10.10.0.0/33", "not-a-cidr", "8.8.8.0/24", "10.10.0.1/16", "fd00::/8"])
def test_fails_when_subnet_base_is_not_a_private_ipv4_cidr(cidr):
    with pytest.raises(ConfigurationError, match="subnet_cidr_base"):
        NetworkSpec(subnet_cidr_base=cidr)


def test_fails_when_subnet_cidr_names_unknown_region():
    with pytest.raises(ConfigurationError, match="unknown Google Cloud region"):
        NetworkSpec(subnet_cidrs={"mars-1": "10.0.0.0/20"})


def test_fails_when_subnet_cidr_is_for_an_unserved_region():
    with pytest.raises(ConfigurationError, match=r"network.subnet_cidrs = \['us-east1'\]: names regions that are not served"):
        plan_subnets(["us-central1"], NetworkSpec(subnet_cidrs={"us-east1": "10.0.0.0/20"}))


def test_fails_when_explicit_subnets_overlap():
    spec = NetworkSpec(subnet_cidrs={"us-central1": "10.0.0.0/16", "us-east1": "10.0.1.0/24"})
    with pytest.raises(ConfigurationError, match=r"network.subnet_cidrs.us-east1 = '10.0.1.0/24': overlaps the subnet of us-central1"):
        plan_subnets(["us-central1", "us-east1"], spec)


def test_fails_when_base_range_is_exhausted():
    spec = NetworkSpec(subnet_cidr_base="10.10.0.0/20", subnet_prefix_length=20)
    with pytest.raises(ConfigurationError, match="has no free /20 left for region us-east1"):
        plan_subnets(["us-central1", "us-east1"], spec)


def test_fails_when_prefix_length_is_shorter_than_base():
    with pytest.raises(ConfigurationError, match=r"subnet_prefix_length = 12: must be >= the prefix"):
        plan_subnets(["us-central1"], NetworkSpec(subnet_prefix_length=12))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"serving_port": 0}, "serving_port"),
        ({"serving_port": 65536}, "serving_port"),
        ({"fleet_tag": "Model_Server"}, "fleet_tag"),
        ({"mtu": 9000}, "mtu"),
        ({"private_services_prefix_length": 30}, "private_services_prefix_length"),
        ({"private_services_address": "10.0.0"}, r"private_services_address = '10.0.0': must be an IPv4 address"),
        ({"nat_log_filter": "SOME"}, "nat_log_filter"),
        ({"routing_mode": "global"}, "routing_mode"),
        ({"flow_logs": {"flow_sampling": 0}}, "flow_sampling"),
        ({"unknown": 1}, r"unknown = 1: unknown key; allowed keys: fleet_tag, flow_logs"),
        ({"fleet_tags": "x"}, r"fleet_tags = 'x': unknown key; did you mean 'fleet_tag'\?"),
    ],
)
def test_fails_when_network_spec_field_is_invalid(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        NetworkSpec(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dest_range": "0.0.0.0/0"}, "must set exactly one of next_hop_gateway, next_hop_ip, next_hop_ilb"),
        ({"dest_range": "0.0.0.0/0", "next_hop_ip": "10.0.0.1", "next_hop_gateway": "default-internet-gateway"}, "exactly one"),
        ({"dest_range": "10.0.0.0/33", "next_hop_ip": "10.0.0.1"}, r"dest_range = '10.0.0.0/33': must be a CIDR block"),
        ({"dest_range": "2001:db8::/32", "next_hop_ip": "10.0.0.1"}, r"dest_range = '2001:db8::/32': must be an IPv4 CIDR block"),
        ({"dest_range": "10.0.0.0/8", "next_hop_ip": "10.0.0.300"}, r"next_hop_ip = '10.0.0.300': must be an IPv4 address"),
        ({"dest_range": "10.0.0.0/8", "next_hop_ip": "10.0.0.1", "priority": 70000}, "priority"),
    ],
)
def test_fails_when_route_is_invalid(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        RouteSpec(name="r", **kwargs)


def test_fails_when_route_names_repeat():
    route = RouteSpec(name="r", dest_range="10.0.0.0/8", next_hop_ip="10.0.0.1")
    with pytest.raises(ConfigurationError, match=r"^NetworkSpec: routes = .*: each route name may be listed once; repeated: r$"):
        NetworkSpec(routes=(route, route))


def test_network_snapshot(stack, naming, snapshot_json):
    _network(stack, naming, regions=("us-central1", "europe-west4"), iap_ssh=True,
             routes=(RouteSpec(name="egress", dest_range="0.0.0.0/0", next_hop_gateway="default-internet-gateway"),))
    assert synth(stack) == snapshot_json
