import pytest
from cdktf import TerraformVariable

from constructs_lib._google import compute_global_address
from constructs_lib.edge.load_balancer import GlobalLoadBalancer
from constructs_lib.errors import ConfigurationError
from constructs_lib.specs.backends import (
    BackendBucketSpec,
    BackendHealthCheckSpec,
    BackendServiceSpec,
    CacheKeyPolicySpec,
    CdnPolicySpec,
    IapSpec,
    OutlierDetectionSpec,
)
from tests.conftest import only_resource, resources, synth
from tests.constructs_lib.edge.fakes import DEFAULT_NEG_RATE, FakeNegs, group


def _backend(stack, naming, targets=None, **spec):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    handle = lb.add_backend_service("resnet", targets=targets or [group("fleet")], spec=BackendServiceSpec(**spec))
    return handle, synth(stack)


# -- defaults -----------------------------------------------------------------------------------

def test_backend_service_defaults(stack, naming):
    handle, out = _backend(stack, naming)
    service = only_resource(out, "google_compute_backend_service")
    assert service["name"] == "ml-test-lb-bs-resnet"
    assert service["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert service["protocol"] == "HTTP"
    assert service["port_name"] == "http"
    assert service["timeout_sec"] == 60
    assert service["connection_draining_timeout_sec"] == 60
    assert service["session_affinity"] == "NONE"
    assert service["log_config"] == {"enable": True, "sample_rate": 1}
    assert service["enable_cdn"] is False
    for absent in ("cdn_policy", "security_policy", "iap", "outlier_detection", "locality_lb_policy",
                   "custom_request_headers", "custom_response_headers", "consistent_hash", "affinity_cookie_ttl_sec"):
        assert absent not in service, absent
    assert service["backend"] == [{
        "group": group("fleet").instance_group, "balancing_mode": "UTILIZATION", "max_utilization": 0.8, "capacity_scaler": 1,
    }]
    hc_id = next(iter(resources(out, "google_compute_health_check")))
    assert service["health_checks"] == [f"${{google_compute_health_check.{hc_id}.id}}"]
    assert handle.name == "resnet" and handle.backend_service is not None
    assert handle.id.startswith("${TfToken[")


def test_health_check_defaults(stack, naming):
    _, out = _backend(stack, naming)
    check = only_resource(out, "google_compute_health_check")
    assert check["name"] == "ml-test-lb-hc-resnet"
    assert check["http_health_check"] == {"port_specification": "USE_SERVING_PORT", "request_path": "/healthz"}
    assert (check["check_interval_sec"], check["timeout_sec"]) == (10, 5)
    assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (2, 3)
    assert check["log_config"] == {"enable": True}


def test_health_check_probes_the_models_health_path_unless_the_spec_names_one(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    lb.add_backend_service("triton", targets=[group("a")], health_path="/v2/health/ready")
    lb.add_backend_service("other", targets=[group("b")], health_path="/v2/health/ready",
                           spec=BackendServiceSpec(health_check=BackendHealthCheckSpec(request_path="/ping")))
    checks = {c["name"]: c["http_health_check"]["request_path"] for c in resources(synth(stack), "google_compute_health_check").values()}
    assert checks == {"ml-test-lb-hc-triton": "/v2/health/ready", "ml-test-lb-hc-other": "/ping"}


def test_fails_when_health_path_is_not_a_request_path(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError, match=r"^backend_services\[m\]\.health_path = 'healthz': must be an absolute request path"):
        lb.add_backend_service("m", targets=[group("a")], health_path="healthz")
    assert lb.backend_services == {}


@pytest.mark.parametrize(
    ("hc", "block", "expected"),
    [
        (BackendHealthCheckSpec(protocol="HTTPS", request_path="/v2/health/ready", port=8443, host="models.internal"),
         "https_health_check", {"port": 8443, "port_specification": "USE_FIXED_PORT", "request_path": "/v2/health/ready", "host": "models.internal"}),
        (BackendHealthCheckSpec(protocol="HTTP2"), "http2_health_check", {"port_specification": "USE_SERVING_PORT", "request_path": "/healthz"}),
        (BackendHealthCheckSpec(protocol="GRPC", grpc_service_name="inference.GRPCInferenceService"),
         "grpc_health_check", {"port_specification": "USE_SERVING_PORT", "grpc_service_name": "inference.GRPCInferenceService"}),
    ],
)
def test_health_check_protocols(stack, naming, hc, block, expected):
    _, out = _backend(stack, naming, health_check=hc, protocol="HTTP2" if hc.protocol == "GRPC" else "HTTP")
    check = only_resource(out, "google_compute_health_check")
    assert check[block] == expected
    assert not any(k in check for k in ("http_health_check", "https_health_check", "http2_health_check", "grpc_health_check") if k != block)


def test_health_check_intervals_and_logging(stack, naming):
    hc = BackendHealthCheckSpec(check_interval_sec=30, timeout_sec=30, healthy_threshold=1, unhealthy_threshold=5, logging=False)
    _, out = _backend(stack, naming, health_check=hc)
    check = only_resource(out, "google_compute_health_check")
    assert (check["check_interval_sec"], check["timeout_sec"], check["healthy_threshold"], check["unhealthy_threshold"]) == (30, 30, 1, 5)
    assert check["log_config"] == {"enable": False}


# -- options ------------------------------------------------------------------------------------

def test_backend_service_options(stack, naming):
    _, out = _backend(
        stack, naming,
        protocol="HTTP2", timeout_sec=600, connection_draining_timeout_sec=120,
        locality_lb_policy="LEAST_REQUEST", session_affinity="GENERATED_COOKIE", affinity_cookie_ttl_sec=3600,
        balancing_mode="RATE", max_rate_per_instance=20, capacity_scaler=0.5,
        outlier_detection=OutlierDetectionSpec(), log_sample_rate=0.1,
        custom_request_headers=("X-Client-Region: {client_region}",),
        custom_response_headers=("X-Cache-Status: {cdn_cache_status}",),
        targets=[group("fleet", port_name="grpc")],
    )
    service = only_resource(out, "google_compute_backend_service")
    assert (service["protocol"], service["port_name"], service["timeout_sec"]) == ("HTTP2", "grpc", 600)
    assert service["connection_draining_timeout_sec"] == 120
    assert service["locality_lb_policy"] == "LEAST_REQUEST"
    assert (service["session_affinity"], service["affinity_cookie_ttl_sec"]) == ("GENERATED_COOKIE", 3600)
    assert service["backend"] == [{"group": group("fleet").instance_group, "balancing_mode": "RATE",
                                   "max_rate_per_instance": 20, "capacity_scaler": 0.5}]
    assert service["outlier_detection"] == {
        "consecutive_errors": 5, "consecutive_gateway_failure": 3, "interval": {"seconds": 10},
        "base_ejection_time": {"seconds": 30}, "max_ejection_percent": 50,
    }
    assert service["log_config"] == {"enable": True, "sample_rate": 0.1}
    assert service["custom_request_headers"] == ["X-Client-Region: {client_region}"]
    assert service["custom_response_headers"] == ["X-Cache-Status: {cdn_cache_status}"]


@pytest.mark.parametrize(
    ("spec", "draining"),
    [
        ({}, 60),  # the default request timeout
        ({"timeout_sec": 300}, 300),  # long inferences are not cut on scale-in or rollout
        ({"timeout_sec": 7200}, 3600),  # capped at the API's maximum
        ({"timeout_sec": 300, "connection_draining_timeout_sec": 30}, 30),  # an explicit value stays
        ({"timeout_sec": 300, "connection_draining_timeout_sec": 0}, 0),
    ],
)
def test_connection_draining_covers_the_request_timeout_by_default(stack, naming, spec, draining):
    _, out = _backend(stack, naming, **spec)
    service = only_resource(out, "google_compute_backend_service")
    assert service["connection_draining_timeout_sec"] == draining, (
        "in-flight requests admitted before a replica drains must get the whole request timeout to finish"
    )
    assert BackendServiceSpec(**spec).draining_timeout_sec == draining


def test_fails_when_connection_draining_exceeds_the_api_limit():
    with pytest.raises(
        ConfigurationError,
        match=r"^BackendServiceSpec: connection_draining_timeout_sec = 3601: Input should be less than or equal to 3600$",
    ):
        BackendServiceSpec(connection_draining_timeout_sec=3601)


def test_logging_can_be_turned_off(stack, naming):
    _, out = _backend(stack, naming, logging=False)
    assert only_resource(out, "google_compute_backend_service")["log_config"] == {"enable": False}


def test_header_field_affinity_uses_consistent_hash(stack, naming):
    _, out = _backend(stack, naming, session_affinity="HEADER_FIELD", locality_lb_policy="RING_HASH", consistent_hash_header="x-session-id")
    service = only_resource(out, "google_compute_backend_service")
    assert service["consistent_hash"] == {"http_header_name": "x-session-id"}
    assert service["locality_lb_policy"] == "RING_HASH"


def test_http_cookie_affinity_uses_consistent_hash_cookie(stack, naming):
    _, out = _backend(stack, naming, session_affinity="HTTP_COOKIE", locality_lb_policy="MAGLEV",
                      consistent_hash_cookie="session", affinity_cookie_ttl_sec=600)
    service = only_resource(out, "google_compute_backend_service")
    assert service["consistent_hash"] == {"http_cookie": {"name": "session", "ttl": {"seconds": 600}}}


def test_several_regional_instance_groups(stack, naming):
    _, out = _backend(stack, naming, targets=[group("eu", region="europe-west1"), group("us", region="us-central1")])
    groups = [b["group"] for b in only_resource(out, "google_compute_backend_service")["backend"]]
    assert groups == [group("eu").instance_group, group("us", region="us-central1").instance_group]


def test_network_endpoint_groups_use_rate_per_endpoint(stack, naming):
    _, out = _backend(stack, naming, targets=[FakeNegs()], max_rate_per_endpoint=25)
    backends = only_resource(out, "google_compute_backend_service")["backend"]
    assert backends == [
        {"group": neg, "balancing_mode": "RATE", "max_rate_per_endpoint": 25, "capacity_scaler": 1}
        for neg in FakeNegs().network_endpoint_groups
    ]


def test_network_endpoint_groups_fall_back_to_the_targets_default_rate(stack, naming):
    _, out = _backend(stack, naming, targets=[FakeNegs(default_rate=7.5)])
    backends = only_resource(out, "google_compute_backend_service")["backend"]
    assert [(b["balancing_mode"], b["max_rate_per_endpoint"]) for b in backends] == [("RATE", 7.5), ("RATE", 7.5)]
    assert DEFAULT_NEG_RATE == FakeNegs().default_rate


def test_backend_service_depends_on_what_its_targets_need(stack, naming):
    service = compute_global_address.ComputeGlobalAddress(stack, "k8s-service", name="ml-test-k8s-service")
    deployment = compute_global_address.ComputeGlobalAddress(stack, "k8s-deployment", name="ml-test-k8s-deployment")
    _, out = _backend(stack, naming, targets=[FakeNegs(dependencies=(service, deployment))])
    assert only_resource(out, "google_compute_backend_service")["depends_on"] == [
        "google_compute_global_address.k8s-service", "google_compute_global_address.k8s-deployment",
    ]


def test_shared_target_dependencies_are_listed_once(stack, naming):
    service = compute_global_address.ComputeGlobalAddress(stack, "k8s-service", name="ml-test-k8s-service")
    zone_b = FakeNegs(network_endpoint_groups=("projects/test-project-123/zones/europe-west1-b/networkEndpointGroups/model",),
                      dependencies=(service,))
    zone_c = FakeNegs(network_endpoint_groups=("projects/test-project-123/zones/europe-west1-c/networkEndpointGroups/model",),
                      dependencies=(service,))
    _, out = _backend(stack, naming, targets=[zone_b, zone_c])
    assert only_resource(out, "google_compute_backend_service")["depends_on"] == ["google_compute_global_address.k8s-service"]


def test_backend_service_without_target_dependencies_has_no_depends_on(stack, naming):
    _, out = _backend(stack, naming, targets=[group("fleet")])
    assert "depends_on" not in only_resource(out, "google_compute_backend_service")


def test_security_policy_by_id(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    lb.add_backend_service("m", targets=[group("fleet")], security_policy="projects/p/global/securityPolicies/corp")
    assert only_resource(synth(stack), "google_compute_backend_service")["security_policy"] == "projects/p/global/securityPolicies/corp"


def test_fails_when_security_policy_is_not_a_policy(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError, match=r"^backend_services\[m\]\.security_policy = 'int': must be a CloudArmorPolicy"):
        lb.add_backend_service("m", targets=[group("fleet")], security_policy=42)


# -- CDN ----------------------------------------------------------------------------------------

def test_cdn_defaults_when_enabled(stack, naming):
    _, out = _backend(stack, naming, enable_cdn=True)
    service = only_resource(out, "google_compute_backend_service")
    assert service["enable_cdn"] is True
    assert service["cdn_policy"] == {
        "cache_mode": "CACHE_ALL_STATIC", "negative_caching": False, "request_coalescing": True,
        "cache_key_policy": {"include_host": True, "include_protocol": True, "include_query_string": True},
    }


def test_cdn_policy_options(stack, naming):
    policy = CdnPolicySpec(
        default_ttl=600, max_ttl=3600, client_ttl=300, negative_caching=True, negative_caching_policy={404: 60, 301: 120},
        serve_while_stale=86400, signed_url_cache_max_age_sec=7200, bypass_cache_on_request_headers=("Authorization",),
        cache_key=CacheKeyPolicySpec(include_host=False, query_string_whitelist=("model",), include_http_headers=("x-model-version",)),
    )
    _, out = _backend(stack, naming, enable_cdn=True, cdn_policy=policy)
    cdn = only_resource(out, "google_compute_backend_service")["cdn_policy"]
    assert cdn == {
        "cache_mode": "CACHE_ALL_STATIC", "default_ttl": 600, "max_ttl": 3600, "client_ttl": 300,
        "negative_caching": True,
        "negative_caching_policy": [{"code": 301, "ttl": 120}, {"code": 404, "ttl": 60}],
        "serve_while_stale": 86400, "request_coalescing": True, "signed_url_cache_max_age_sec": 7200,
        "bypass_cache_on_request_headers": [{"header_name": "Authorization"}],
        "cache_key_policy": {"include_host": False, "include_protocol": True, "include_query_string": True,
                             "query_string_whitelist": ["model"], "include_http_headers": ["x-model-version"]},
    }


def test_use_origin_headers_sends_no_ttls(stack, naming):
    _, out = _backend(stack, naming, enable_cdn=True, cdn_policy=CdnPolicySpec(cache_mode="USE_ORIGIN_HEADERS"))
    cdn = only_resource(out, "google_compute_backend_service")["cdn_policy"]
    assert cdn["cache_mode"] == "USE_ORIGIN_HEADERS"
    assert not {"default_ttl", "max_ttl", "client_ttl"} & set(cdn)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"cache_mode": "USE_ORIGIN_HEADERS", "default_ttl": 3600}, r"default_ttl = 3600: must be omitted with cache_mode USE_ORIGIN_HEADERS"),
        ({"cache_mode": "USE_ORIGIN_HEADERS", "client_ttl": 60}, r"client_ttl = 60: must be omitted with cache_mode USE_ORIGIN_HEADERS"),
        ({"cache_mode": "USE_ORIGIN_HEADERS", "max_ttl": 60}, r"max_ttl = 60: must be omitted with cache_mode USE_ORIGIN_HEADERS"),
        ({"cache_mode": "FORCE_CACHE_ALL", "max_ttl": 600}, r"max_ttl = 600: only applies to cache_mode CACHE_ALL_STATIC"),
        ({"default_ttl": 7200, "max_ttl": 3600}, r"default_ttl = 7200: must be <= max_ttl \(3600\)"),
        ({"client_ttl": 7200, "max_ttl": 3600}, r"client_ttl = 7200: must be <= max_ttl \(3600\)"),
        ({"default_ttl": 31_622_401}, r"default_ttl = 31622401: Input should be less than or equal to 31622400"),
        ({"negative_caching_policy": {404: 60}}, r"negative_caching_policy is set but negative_caching = False"),
        ({"negative_caching": True, "negative_caching_policy": {500: 60}}, r"code 500 is not allowed; allowed: 300, 301"),
        ({"negative_caching": True, "negative_caching_policy": {404: 3600}}, r"ttl 3600 for code 404 must be between 0 and 1800"),
        ({"serve_while_stale": 86401}, r"serve_while_stale = 86401: Input should be less than or equal to 86400"),
        ({"bypass_cache_on_request_headers": ("a", "b", "c", "d", "e", "f")}, r"bypass_cache_on_request_headers = .*: .*at most 5"),
    ],
)
def test_fails_when_cdn_ttl_rules_are_broken(policy, message):
    with pytest.raises(ConfigurationError, match=message):
        CdnPolicySpec(**policy)


def test_fails_when_cache_key_query_lists_conflict():
    with pytest.raises(ConfigurationError, match=r"query_string_whitelist and query_string_blacklist are mutually exclusive"):
        CacheKeyPolicySpec(query_string_whitelist=("a",), query_string_blacklist=("b",))
    with pytest.raises(ConfigurationError, match=r"include_query_string = False: must be True when"):
        CacheKeyPolicySpec(include_query_string=False, query_string_whitelist=("a",))


def test_fails_when_cdn_policy_is_given_without_enable_cdn():
    with pytest.raises(ConfigurationError, match=r"cdn_policy is set but enable_cdn = False: set enable_cdn = True or drop cdn_policy"):
        BackendServiceSpec(cdn_policy=CdnPolicySpec())
    with pytest.raises(ConfigurationError, match=r"cdn_policy is set but enable_cdn = False"):
        BackendBucketSpec(enable_cdn=False, cdn_policy=CdnPolicySpec())


def test_fails_when_bucket_cache_key_uses_service_only_fields():
    with pytest.raises(ConfigurationError, match=r"backend buckets only support query_string_whitelist and include_http_headers"):
        BackendBucketSpec(cdn_policy=CdnPolicySpec(cache_key=CacheKeyPolicySpec(include_host=False)))


def test_fails_when_cdn_and_iap_are_both_on():
    with pytest.raises(ConfigurationError, match=r"enable_cdn = True: Cloud CDN and IAP cannot be enabled on the same backend service"):
        BackendServiceSpec(enable_cdn=True, iap=IapSpec())


# -- IAP ----------------------------------------------------------------------------------------

def test_iap_with_google_managed_client(stack, naming):
    _, out = _backend(stack, naming, iap=IapSpec())
    assert only_resource(out, "google_compute_backend_service")["iap"] == {"enabled": True}


def test_iap_secret_from_a_sensitive_variable(stack, naming):
    secret = TerraformVariable(stack, "iap_secret", type="string", sensitive=True)
    _, out = _backend(stack, naming, iap=IapSpec(oauth2_client_id="123.apps.googleusercontent.com", oauth2_client_secret=secret.string_value))
    assert only_resource(out, "google_compute_backend_service")["iap"] == {
        "enabled": True, "oauth2_client_id": "123.apps.googleusercontent.com", "oauth2_client_secret": "${var.iap_secret}",
    }


def test_iap_secret_from_secret_manager(stack, naming):
    iap = IapSpec(oauth2_client_id="123.apps.googleusercontent.com",
                  oauth2_client_secret_version="projects/sec-project/secrets/iap-client/versions/latest")
    _, out = _backend(stack, naming, iap=iap)
    data_id, data = next(iter(out["data"]["google_secret_manager_secret_version"].items()))
    assert (data["project"], data["secret"], data["version"]) == ("sec-project", "iap-client", "latest")
    iap_block = only_resource(out, "google_compute_backend_service")["iap"]
    assert iap_block["oauth2_client_secret"] == f"${{data.google_secret_manager_secret_version.{data_id}.secret_data}}"


def test_fails_when_iap_secret_is_a_literal(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    spec = BackendServiceSpec(iap=IapSpec(oauth2_client_id="123.apps.googleusercontent.com", oauth2_client_secret="hunter2"))
    with pytest.raises(ConfigurationError, match=r"^backend_services\[m\]\.iap\.oauth2_client_secret = '<literal, hidden>': must be a Terraform token") as error:
        lb.add_backend_service("m", targets=[group("fleet")], spec=spec)
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    ("iap", "message"),
    [
        ({"oauth2_client_id": "x"}, r"oauth2_client_id and a client secret must be given together"),
        ({"oauth2_client_secret_version": "iap-client"}, r"must be a Secret Manager version: projects/<project>/secrets/"),
        ({"oauth2_client_id": "x", "oauth2_client_secret": "${var.x}", "oauth2_client_secret_version": "projects/p/secrets/s/versions/1"},
         r"give oauth2_client_secret or oauth2_client_secret_version, not both"),
    ],
)
def test_fails_when_iap_client_is_incomplete(iap, message):
    with pytest.raises(ConfigurationError, match=message):
        IapSpec(**iap)


# -- rules --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"capacity_scaler": 0.05}, r"capacity_scaler = 0.05: must be 0 \(drain\) or between 0.1 and 1.0"),
        ({"affinity_cookie_ttl_sec": 60}, r"affinity_cookie_ttl_sec = 60: only applies to session_affinity GENERATED_COOKIE or HTTP_COOKIE"),
        ({"session_affinity": "HEADER_FIELD", "consistent_hash_header": "x"}, r"locality_lb_policy = None: session_affinity HEADER_FIELD needs RING_HASH or MAGLEV"),
        ({"session_affinity": "HTTP_COOKIE", "locality_lb_policy": "RING_HASH"}, r"consistent_hash_cookie is required with session_affinity HTTP_COOKIE"),
        ({"consistent_hash_header": "x"}, r"consistent_hash_header only applies to session_affinity HEADER_FIELD, not NONE"),
        ({"session_affinity": "CLIENT_IP_PORT_PROTO"}, r"session_affinity = 'CLIENT_IP_PORT_PROTO': Input should be 'NONE'"),
        ({"custom_request_headers": ("no colon",)}, r"custom_request_headers\[0\] = 'no colon': must look like 'Header-Name: value'"),
        ({"consistent_hash_header": "x session"}, r"consistent_hash_header = 'x session': must be an HTTP header name"),
        # the named port now comes from the targets (test_load_balancer: every target must expose the same one)
        ({"port_name": "HTTP"}, r"port_name = 'HTTP': unknown key; allowed keys: affinity_cookie_ttl_sec"),
        ({"timeout_sec": 0}, r"timeout_sec = 0: Input should be greater than or equal to 1"),
        ({"log_sample_rate": 1.5}, r"log_sample_rate = 1.5: Input should be less than or equal to 1"),
    ],
)
def test_fails_when_backend_service_spec_breaks_an_api_rule(spec, message):
    with pytest.raises(ConfigurationError, match=message):
        BackendServiceSpec(**spec)


def test_fails_when_health_check_is_inconsistent():
    with pytest.raises(ConfigurationError, match=r"timeout_sec = 20: must be <= check_interval_sec \(10\)"):
        BackendHealthCheckSpec(timeout_sec=20)
    with pytest.raises(ConfigurationError, match=r"grpc_service_name = 'x': only applies to protocol GRPC, not HTTP"):
        BackendHealthCheckSpec(grpc_service_name="x")
    with pytest.raises(ConfigurationError, match=r"request_path = 'health': must be an absolute request path such as /healthz"):
        BackendHealthCheckSpec(request_path="health")


def test_fails_when_targets_are_missing_mixed_or_not_targets(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.targets = \[\]: give at least one"):
        lb.add_backend_service("a", targets=[])
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.targets = 'instance groups and network endpoint groups': one backend service takes one kind"):
        lb.add_backend_service("a", targets=[group("fleet"), FakeNegs()])
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.targets\[0\] = 'str': must be a BackendTarget"):
        lb.add_backend_service("a", targets=["https://.../instanceGroups/x"])
    fleet = group("fleet")
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.targets = 'the same target twice': list each target once"):
        lb.add_backend_service("a", targets=[fleet, fleet])
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.targets = 'the same backend group twice': list each "
                       r"instance group or network endpoint group once; repeated: https://.*/instanceGroups/fleet$"):
        lb.add_backend_service("a", targets=[group("fleet"), group("fleet")])
    assert lb.backend_services == {}


def test_fails_when_balancing_does_not_fit_the_targets(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.max_rate_per_instance = 5.0: only applies to instance groups"):
        lb.add_backend_service("a", targets=[FakeNegs()], spec=BackendServiceSpec(max_rate_per_instance=5))
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.balancing_mode = 'UTILIZATION': network endpoint groups only support RATE"):
        lb.add_backend_service("a", targets=[FakeNegs()], spec=BackendServiceSpec(balancing_mode="UTILIZATION", max_rate_per_endpoint=5))
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.max_rate_per_instance = None: is required with balancing_mode RATE"):
        lb.add_backend_service("a", targets=[group("fleet")], spec=BackendServiceSpec(balancing_mode="RATE"))
    with pytest.raises(ConfigurationError, match=r"^backend_services\[a\]\.max_rate_per_endpoint = 5.0: only applies to network endpoint groups"):
        lb.add_backend_service("a", targets=[group("fleet")], spec=BackendServiceSpec(max_rate_per_endpoint=5))


def test_fails_when_bucket_name_is_invalid(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError, match=r"^backend_buckets\[static\]\.bucket_name = 'Bad Bucket': bucket names are 3-63 characters"):
        lb.add_backend_bucket("static", "Bad Bucket")


def test_a_rejected_backend_leaves_nothing_behind(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    with pytest.raises(ConfigurationError):
        lb.add_backend_service("a", targets=[FakeNegs()], spec=BackendServiceSpec(balancing_mode="UTILIZATION"))
    lb.add_backend_service("a", targets=[group("fleet")])
    assert list(lb.backend_services) == ["a"]
    assert len(resources(synth(stack), "google_compute_health_check")) == 1
