import re

import pytest
from cdktf import Testing

from constructs_lib._google import compute_region_instance_group_manager as rigm
from constructs_lib.edge.load_balancer import GlobalLoadBalancer, certificate_name
from constructs_lib.errors import ConfigurationError
from constructs_lib.network import ServingNetwork
from constructs_lib.specs.backends import BackendHealthCheckSpec, BackendServiceSpec, CdnPolicySpec, OutlierDetectionSpec
from constructs_lib.specs.load_balancer import HEALTH_ROUTE_PREFIX, LoadBalancerSpec, RetryPolicy, SslPolicySpec, health_route_path
from constructs_lib.specs.network import NetworkSpec
from tests.conftest import only_resource, resource_by_path, resources, synth
from tests.constructs_lib.edge.fakes import FakeInstanceGroup, FakeNegs, group

DOMAINS = ("api.example.com", "models.example.com")

ABORT_404 = {"fault_injection_policy": {"abort": {"http_status": 404, "percentage": 100}}}
"""The default route action that answers every unmatched request 404 at the load balancer."""


def _lb(stack, naming, **spec):
    return GlobalLoadBalancer(stack, "lb", naming=naming, spec=LoadBalancerSpec(**spec))


def _ref(resource_type, body_path, synthesized):
    """``${<type>.<logical id>.id}`` of the resource at construct path suffix ``body_path``."""
    wanted = body_path.replace("/", "_")
    found = [lid for lid in resources(synthesized, resource_type) if lid.rsplit("_", 1)[0] == wanted]
    assert len(found) == 1, f"expected one {resource_type} at {body_path}, found {found}"
    return f"${{{resource_type}.{found[0]}.id}}"


# -- frontend: HTTP only -----------------------------------------------------------------------

def test_http_only_chain_ip_rule_proxy_url_map(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("fleet")])
    out = synth(stack)
    address = only_resource(out, "google_compute_global_address")
    assert address["name"] == "ml-test-lb-ip"
    assert address["ip_version"] == "IPV4"
    assert address["address_type"] == "EXTERNAL"
    assert address["lifecycle"] == {"prevent_destroy": True}
    assert address["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    rule = only_resource(out, "google_compute_global_forwarding_rule")
    assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert rule["port_range"] == "80"
    assert rule["ip_protocol"] == "TCP"
    assert rule["ip_address"].endswith(".address}") and "google_compute_global_address.lb_address" in rule["ip_address"]
    assert rule["labels"] == {"app": "ml", "env": "test", "managed-by": "cdktf"}
    assert rule["target"] == _ref("google_compute_target_http_proxy", "lb/http-proxy", out)
    proxy = only_resource(out, "google_compute_target_http_proxy")
    assert proxy["url_map"] == _ref("google_compute_url_map", "lb/url-map", out)
    url_map = only_resource(out, "google_compute_url_map")
    assert url_map["default_service"] == _ref("google_compute_backend_service", "lb/backend-resnet/default", out)
    for absent in ("google_compute_target_https_proxy", "google_compute_managed_ssl_certificate", "google_compute_ssl_policy"):
        assert not resources(out, absent)


def test_addresses_can_be_left_unprotected(stack, naming):
    _lb(stack, naming, prevent_destroy=False).add_backend_service("m", targets=[group("fleet")])
    assert only_resource(synth(stack), "google_compute_global_address")["lifecycle"] == {"prevent_destroy": False}


def test_ipv6_pair_gets_its_own_address_and_forwarding_rules(stack, naming):
    lb = _lb(stack, naming, domains=DOMAINS, ipv6=True)
    lb.add_backend_service("m", targets=[group("fleet")])
    out = synth(stack)
    v6 = resource_by_path(out, "google_compute_global_address", "lb/address-v6")
    assert v6["ip_version"] == "IPV6" and v6["name"] == "ml-test-lb-ipv6"
    assert v6["lifecycle"] == {"prevent_destroy": True}
    rules = {r["name"]: r for r in resources(out, "google_compute_global_forwarding_rule").values()}
    assert sorted(rules) == ["ml-test-lb-http", "ml-test-lb-http-v6", "ml-test-lb-https", "ml-test-lb-https-v6"]
    assert "lb_address-v6" in rules["ml-test-lb-https-v6"]["ip_address"]
    assert lb.ipv6_address is not None


# -- frontend: HTTPS -----------------------------------------------------------------------------

def test_https_with_domains_managed_certificate_ssl_policy_and_443_rule(stack, naming):
    lb = _lb(stack, naming, domains=("models.example.com", "api.example.com"))
    lb.add_backend_service("m", targets=[group("fleet")])
    out = synth(stack)
    cert = only_resource(out, "google_compute_managed_ssl_certificate")
    assert cert["managed"] == {"domains": ["api.example.com", "models.example.com"]}
    assert cert["name"] == certificate_name(naming, "lb", DOMAINS)
    assert cert["name"].startswith("ml-test-lb-cert-") and len(cert["name"]) == len("ml-test-lb-cert-") + 8
    assert cert["lifecycle"] == {"create_before_destroy": True}
    policy = only_resource(out, "google_compute_ssl_policy")
    assert (policy["min_tls_version"], policy["profile"]) == ("TLS_1_2", "MODERN")
    proxy = only_resource(out, "google_compute_target_https_proxy")
    assert proxy["ssl_certificates"] == [_ref("google_compute_managed_ssl_certificate", "lb/managed-certificate", out)]
    assert proxy["ssl_policy"] == _ref("google_compute_ssl_policy", "lb/ssl-policy", out)
    assert proxy["quic_override"] == "NONE"
    assert proxy["url_map"] == _ref("google_compute_url_map", "lb/url-map", out)
    https_rule = resource_by_path(out, "google_compute_global_forwarding_rule", "lb/https-rule")
    assert https_rule["port_range"] == "443" and https_rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert https_rule["target"] == _ref("google_compute_target_https_proxy", "lb/https-proxy", out)


def test_https_turns_on_http_to_https_301_redirect_by_default(stack, naming):
    _lb(stack, naming, domains=DOMAINS).add_backend_service("m", targets=[group("fleet")])
    out = synth(stack)
    redirect = resource_by_path(out, "google_compute_url_map", "lb/redirect-url-map")
    assert redirect["default_url_redirect"] == {
        "https_redirect": True, "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT", "strip_query": False,
    }
    assert "default_service" not in redirect
    http_proxy = only_resource(out, "google_compute_target_http_proxy")
    assert http_proxy["url_map"] == _ref("google_compute_url_map", "lb/redirect-url-map", out)
    http_rule = resource_by_path(out, "google_compute_global_forwarding_rule", "lb/http-rule")
    assert http_rule["port_range"] == "80"
    assert http_rule["target"] == _ref("google_compute_target_http_proxy", "lb/http-proxy", out)


def test_redirect_can_be_turned_off(stack, naming):
    _lb(stack, naming, domains=DOMAINS, http_redirect=False).add_backend_service("m", targets=[group("fleet")])
    out = synth(stack)
    assert not resources(out, "google_compute_target_http_proxy")
    assert len(resources(out, "google_compute_url_map")) == 1
    assert only_resource(out, "google_compute_global_forwarding_rule")["port_range"] == "443"


def test_changing_domains_changes_certificate_name_and_keeps_create_before_destroy(naming):
    from tests.conftest import new_stack

    def cert_of(domains):
        stack = new_stack()
        _lb(stack, naming, domains=domains).add_backend_service("m", targets=[group("fleet")])
        return only_resource(synth(stack), "google_compute_managed_ssl_certificate")

    before = cert_of(("api.example.com",))
    after = cert_of(("api.example.com", "models.example.com"))
    reordered = cert_of(("models.example.com", "api.example.com"))
    assert before["name"] != after["name"]
    assert after["name"] == reordered["name"] and after["managed"] == reordered["managed"]
    for cert in (before, after):
        assert cert["lifecycle"] == {"create_before_destroy": True}
        assert "prevent_destroy" not in cert["lifecycle"]


def test_certificate_name_is_valid_when_the_digest_starts_with_a_digit(naming):
    # sha256 of "inference.example.com" starts with a digit; the name must still be valid.
    assert certificate_name(naming, "lb", ["inference.example.com"]) == "ml-test-lb-cert-4415ef34"


def test_existing_certificates_certificate_map_ssl_policy_and_quic(stack, naming):
    from tests.conftest import new_stack

    _lb(stack, naming, ssl_certificates=("projects/p/global/sslCertificates/legacy",),
        ssl_policy="projects/p/global/sslPolicies/corp", quic_override="ENABLE").add_backend_service("m", targets=[group("fleet")])
    out = synth(stack)
    proxy = only_resource(out, "google_compute_target_https_proxy")
    assert proxy["ssl_certificates"] == ["projects/p/global/sslCertificates/legacy"]
    assert proxy["ssl_policy"] == "projects/p/global/sslPolicies/corp"
    assert proxy["quic_override"] == "ENABLE"
    assert not resources(out, "google_compute_ssl_policy")
    assert not resources(out, "google_compute_managed_ssl_certificate")

    other = new_stack()
    _lb(other, naming, certificate_map="projects/p/locations/global/certificateMaps/models").add_backend_service("m", targets=[group("fleet")])
    proxy = only_resource(synth(other), "google_compute_target_https_proxy")
    assert proxy["certificate_map"] == "//certificatemanager.googleapis.com/projects/p/locations/global/certificateMaps/models"
    assert "ssl_certificates" not in proxy


def test_custom_ssl_policy(stack, naming):
    spec = SslPolicySpec(min_tls_version="TLS_1_2", profile="CUSTOM", custom_features=("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",))
    _lb(stack, naming, domains=DOMAINS, ssl_policy=spec).add_backend_service("m", targets=[group("fleet")])
    policy = only_resource(synth(stack), "google_compute_ssl_policy")
    assert policy["profile"] == "CUSTOM"
    assert policy["custom_features"] == ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]


def test_urls_and_outputs(stack, naming):
    lb = _lb(stack, naming, domains=DOMAINS, ipv6=True)
    lb.add_backend_service("m", targets=[group("fleet")])
    outputs = lb.add_outputs()
    assert sorted(outputs) == ["ipv4_address", "ipv6_address", "urls"]
    out = synth(stack)["output"]
    assert out["lb_urls"]["value"] == ["https://api.example.com", "https://models.example.com"]
    assert out["lb_ipv4_address"]["value"].startswith("${google_compute_global_address.lb_address_")
    assert out["lb_ipv6_address"]["value"].startswith("${google_compute_global_address.lb_address-v6_")
    with pytest.raises(ConfigurationError, match=r"^add_outputs = 'lb': outputs were added already"):
        lb.add_outputs()


def test_http_urls_use_the_ip(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("m", targets=[group("fleet")])
    lb.add_outputs()
    url = synth(stack)["output"]["lb_urls"]["value"]
    assert len(url) == 1 and url[0].startswith("http://${google_compute_global_address.lb_address_")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"http_redirect": True}, r"http_redirect = True: a redirect to HTTPS needs HTTPS"),
        ({"https": True}, r"https = True: needs domains \(managed certificate\), ssl_certificates or certificate_map"),
        ({"https": False, "domains": DOMAINS}, r"https = False: but domains"),
        ({"domains": ("*.example.com",)}, r"wildcard domains are not supported by Google-managed certificates"),
        ({"domains": ("api.example.com", "api.example.com")}, r"each domain may be listed once; repeated: api.example.com"),
        ({"certificate_map": "projects/p/locations/global/certificateMaps/m", "domains": DOMAINS}, r"give certificate_map or domains/ssl_certificates, not both"),
        ({"name": "LB"}, r"name = 'LB': must match"),
    ],
)
def test_fails_when_frontend_spec_is_inconsistent(spec, message):
    with pytest.raises(ConfigurationError, match=message):
        LoadBalancerSpec(**spec)


@pytest.mark.parametrize("domain", ["localhost", "api..example.com", "-api.example.com", "API.example.com", "api.example.123", "a" * 64 + ".com"])
def test_fails_when_domain_is_invalid(domain):
    with pytest.raises(ConfigurationError, match=r"must be a lowercase fully qualified domain name"):
        LoadBalancerSpec(domains=(domain,))


def test_fails_when_more_than_100_domains():
    with pytest.raises(ConfigurationError, match=r"101 domains: a Google-managed certificate takes at most 100"):
        LoadBalancerSpec(domains=tuple(f"m{i}.example.com" for i in range(101)))


def test_fails_when_custom_ssl_policy_has_no_features():
    with pytest.raises(ConfigurationError, match=r"profile CUSTOM needs custom_features"):
        SslPolicySpec(profile="CUSTOM")
    with pytest.raises(ConfigurationError, match=r"custom_features only apply to profile CUSTOM, not MODERN"):
        SslPolicySpec(custom_features=("TLS_RSA_WITH_AES_128_GCM_SHA256",))


# -- backends and default ------------------------------------------------------------------------

def test_set_default_backend_replaces_the_404(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("a")])
    bert = lb.add_backend_service("bert", targets=[group("b")])
    assert sorted(lb.backend_services) == ["bert", "resnet"]
    out = synth(stack)
    url_map = only_resource(out, "google_compute_url_map")
    # the first backend is only the placeholder the API requires next to the 404 abort
    assert url_map["default_service"] == _ref("google_compute_backend_service", "lb/backend-resnet/default", out)
    assert url_map["default_route_action"] == ABORT_404
    assert lb.default_backend is None and lb.answers_unmatched_with_404
    lb.set_default_backend(bert)
    out = synth(stack)
    url_map = only_resource(out, "google_compute_url_map")
    assert url_map["default_service"] == _ref("google_compute_backend_service", "lb/backend-bert/default", out)
    assert "default_route_action" not in url_map, "a named default backend must receive unmatched requests, not a 404"
    assert lb.default_backend is bert and not lb.answers_unmatched_with_404


def test_fails_when_backend_name_is_repeated_or_invalid(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("a")])
    with pytest.raises(ConfigurationError, match=r"^name = 'resnet': a backend service with this name exists already"):
        lb.add_backend_service("resnet", targets=[group("b")])
    with pytest.raises(ConfigurationError, match=r"^name = 'Res_Net': must match"):
        lb.add_backend_service("Res_Net", targets=[group("b")])


def test_fails_when_targets_expose_different_named_ports(stack, naming):
    lb = _lb(stack, naming)
    with pytest.raises(
        ConfigurationError,
        match=r"^backend_services\[resnet\]\.targets = \['grpc', 'http'\]: every target of one backend service must "
        r"expose the same named port$",
    ):
        lb.add_backend_service("resnet", targets=[group("a"), group("b", region="us-central1", port_name="grpc", port=9000)])
    assert "resnet" not in lb.backend_services


def test_backend_service_port_name_is_the_targets_named_port(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("a", port_name="grpc", port=9000), group("b", port_name="grpc", port=9000)])
    assert only_resource(synth(stack), "google_compute_backend_service")["port_name"] == "grpc"


def test_backend_with_a_real_instance_group_manager_token(stack, naming):
    mig = rigm.ComputeRegionInstanceGroupManager(
        stack, "mig", name="ml-test-fleet", base_instance_name="model", region="europe-west1",
        version=[rigm.ComputeRegionInstanceGroupManagerVersion(instance_template="projects/p/global/instanceTemplates/t")],
        named_port=[rigm.ComputeRegionInstanceGroupManagerNamedPort(name="http", port=8080)],
    )
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[FakeInstanceGroup(instance_group=mig.instance_group)])
    backend = only_resource(synth(stack), "google_compute_backend_service")["backend"]
    assert backend[0]["group"].startswith("${google_compute_region_instance_group_manager.mig.instance_group")


# -- cross-checks at synth ----------------------------------------------------------------------

def _network(stack, naming, **spec):
    return ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"], spec=NetworkSpec(**spec))


def test_health_check_firewall_cross_check_passes_for_the_serving_port(stack, naming):
    network = _network(stack, naming)
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("fleet", network=network)])
    assert lb.validation_errors() == []
    Testing.synth(stack, run_validations=True)


def test_fails_when_health_check_port_is_not_admitted_by_the_firewall(stack, naming):
    network = _network(stack, naming)
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("fleet", port=9000, network=network)])
    expected = (
        "backend_services[resnet].targets[0] = europe-west1 port 9000: no firewall rule admits the "
        "health-check ranges (35.191.0.0/16, 130.211.0.0/22) to tcp:9000 on its VMs or nodes; "
        "call network.allow_health_checks(port=9000, ...) for them"
    )
    assert lb.validation_errors() == [expected]
    with pytest.raises(RuntimeError) as failed:
        Testing.synth(stack, run_validations=True)
    # one line per problem, prefixed with the construct path
    assert [line.strip() for line in str(failed.value).splitlines() if "backend_services" in line] == [f"[test/lb] {expected}"]
    # a rule added after the backend satisfies the check (it runs at synth, not at add time)
    network.allow_health_checks(port=9000, target_tags=["model-server"])
    assert lb.validation_errors() == []


def test_fails_when_fixed_health_check_port_is_not_admitted(stack, naming):
    network = _network(stack, naming)
    lb = _lb(stack, naming)
    lb.add_backend_service("resnet", targets=[group("fleet", network=network)],
                           spec=BackendServiceSpec(health_check=BackendHealthCheckSpec(port=8081)))
    assert lb.validation_errors()[0].startswith("backend_services[resnet].targets[0] = europe-west1 port 8081: no firewall rule")


def test_fails_when_a_network_endpoint_group_port_is_not_admitted(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("embed", targets=[FakeNegs(port=9000, admitted_ports=(8080,))])
    assert lb.validation_errors() == [
        "backend_services[embed].targets[0] = cluster ml-test-gke port 9000: no firewall rule admits the "
        "health-check ranges (35.191.0.0/16, 130.211.0.0/22) to tcp:9000 on its VMs or nodes; "
        "call network.allow_health_checks(port=9000, ...) for them"
    ]


def test_fails_when_the_stack_labels_another_environment(stack, naming):
    from constructs_lib.naming import Naming

    _lb(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^naming = 'ml-prod': stack test already labels its resources as ml-test"):
        GlobalLoadBalancer(stack, "other", naming=Naming(app="ml", env="prod"), spec=LoadBalancerSpec(name="other"))
    assert stack.node.try_find_child("other") is None


def test_fails_when_no_backend_is_added(stack, naming):
    lb = _lb(stack, naming)
    assert lb.validation_errors() == [
        "backend_services = {}: a load balancer needs at least one backend; call add_backend_service(...)"
    ]
    with pytest.raises(RuntimeError, match=r"a load balancer needs at least one backend"):
        Testing.synth(stack, run_validations=True)


# -- routes -------------------------------------------------------------------------------------

def _route_rules(out, matcher="all-hosts"):
    url_map = resource_by_path(out, "google_compute_url_map", "lb/url-map")
    return next(m for m in url_map["path_matcher"] if m["name"] == matcher)["route_rules"]


def test_model_route_exact_and_prefix_paths_as_route_rules(stack, naming):
    lb = _lb(stack, naming)
    resnet = lb.add_backend_service("resnet", targets=[group("a")])
    lb.add_model_route(["/v1/models/resnet", "/v1/models/resnet/*"], resnet)
    out = synth(stack)
    url_map = only_resource(out, "google_compute_url_map")
    assert url_map["host_rule"] == [{"hosts": ["*"], "path_matcher": "all-hosts"}]
    matcher = url_map["path_matcher"][0]
    assert "path_rule" not in matcher
    assert matcher["default_service"] == url_map["default_service"]
    resnet_id = _ref("google_compute_backend_service", "lb/backend-resnet/default", out)
    assert matcher["route_rules"] == [
        {"priority": 10, "match_rules": [{"prefix_match": "/v1/models/resnet/"}], "service": resnet_id},
        {"priority": 20, "match_rules": [{"full_path_match": "/v1/models/resnet"}], "service": resnet_id},
    ]


def test_route_priorities_keep_longest_match_and_put_header_matches_first(stack, naming):
    lb = _lb(stack, naming)
    catchall = lb.add_backend_service("catchall", targets=[group("a")])
    resnet = lb.add_backend_service("resnet", targets=[group("b")])
    v2 = lb.add_backend_service("resnet-v2", targets=[group("c")])
    lb.add_model_route("/v1/*", catchall)
    lb.add_model_route("/v1/models/resnet/*", resnet)
    lb.add_model_route("/v1/models/resnet/*", v2, headers={"x-model-version": "v2"})
    out = synth(stack)
    rules = _route_rules(out)
    ids = {name: _ref("google_compute_backend_service", f"lb/backend-{name}/default", out) for name in ("catchall", "resnet", "resnet-v2")}
    assert [(r["priority"], r["service"]) for r in rules] == [(10, ids["resnet-v2"]), (20, ids["resnet"]), (30, ids["catchall"])]
    assert rules[0]["match_rules"] == [{
        "prefix_match": "/v1/models/resnet/",
        "header_matches": [{"header_name": "x-model-version", "exact_match": "v2"}],
    }]


def test_route_timeout_and_retry_policy(stack, naming):
    lb = _lb(stack, naming)
    llm = lb.add_backend_service("llm", targets=[group("a")])
    lb.add_model_route("/v1/models/llm/*", llm, timeout_sec=300,
                       retry_policy=RetryPolicy(num_retries=2, retry_conditions=("connect-failure", "unavailable"), per_try_timeout_sec=120))
    rule = _route_rules(synth(stack))[0]
    assert rule["route_action"] == {
        "timeout": {"seconds": "300"},
        "retry_policy": {"num_retries": 2, "retry_conditions": ["connect-failure", "unavailable"], "per_try_timeout": {"seconds": "120"}},
    }
    assert "service" in rule


def test_retry_policy_defaults_to_failures_before_the_model_ran():
    policy = RetryPolicy()
    assert (policy.num_retries, policy.retry_conditions, policy.per_try_timeout_sec) == (1, ("connect-failure", "refused-stream"), None)


def test_canary_route_splits_by_weight(stack, naming):
    lb = _lb(stack, naming)
    stable = lb.add_backend_service("resnet", targets=[group("a")])
    canary = lb.add_backend_service("resnet-canary", targets=[group("b")])
    lb.add_canary_route(["/v1/models/resnet", "/v1/models/resnet/*"], {stable: 90, canary: 10}, timeout_sec=120)
    out = synth(stack)
    rules = _route_rules(out)
    assert len(rules) == 2
    for rule in rules:
        assert "service" not in rule
        assert rule["route_action"] == {
            "timeout": {"seconds": "120"},
            "weighted_backend_services": [
                {"backend_service": _ref("google_compute_backend_service", "lb/backend-resnet/default", out), "weight": 90},
                {"backend_service": _ref("google_compute_backend_service", "lb/backend-resnet-canary/default", out), "weight": 10},
            ],
        }


def test_host_specific_routes_get_their_own_matcher_plus_every_host_routes(stack, naming):
    lb = _lb(stack, naming, domains=DOMAINS)
    a = lb.add_backend_service("a", targets=[group("a")])
    b = lb.add_backend_service("b", targets=[group("b")])
    lb.add_model_route("/v1/*", a)
    lb.add_model_route("/v1/*", b, hosts=["models.example.com"])
    lb.add_model_route("/v2/*", b, hosts=["models.example.com"])
    out = synth(stack)
    url_map = resource_by_path(out, "google_compute_url_map", "lb/url-map")
    host_rules = {tuple(h["hosts"]): h["path_matcher"] for h in url_map["host_rule"]}
    assert host_rules[("*",)] == "all-hosts"
    matcher = host_rules[("models.example.com",)]
    assert matcher.startswith("hosts-")
    b_id = _ref("google_compute_backend_service", "lb/backend-b/default", out)
    a_id = _ref("google_compute_backend_service", "lb/backend-a/default", out)
    assert [(r["match_rules"][0]["prefix_match"], r["service"]) for r in _route_rules(out, matcher)] == [("/v1/", b_id), ("/v2/", b_id)]
    assert [(r["match_rules"][0]["prefix_match"], r["service"]) for r in _route_rules(out)] == [("/v1/", a_id)]


def test_backend_bucket_for_static_content(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("m", targets=[group("a")])
    bucket = lb.add_backend_bucket("static", "ml-test-static-assets", paths=["/static/*"])
    out = synth(stack)
    body = only_resource(out, "google_compute_backend_bucket")
    assert body["name"] == "ml-test-lb-bb-static"
    assert body["bucket_name"] == "ml-test-static-assets"
    assert body["enable_cdn"] is True
    assert body["cdn_policy"] == {"cache_mode": "CACHE_ALL_STATIC", "negative_caching": False, "request_coalescing": True}
    assert "load_balancing_scheme" not in body
    assert _route_rules(out) == [{
        "priority": 10, "match_rules": [{"prefix_match": "/static/"}],
        "service": _ref("google_compute_backend_bucket", "lb/bucket-static", out),
    }]
    assert lb.backend_buckets == {"static": bucket}


def test_backend_bucket_cdn_can_be_turned_off(stack, naming):
    lb = _lb(stack, naming)
    lb.add_backend_service("m", targets=[group("a")])
    lb.add_backend_bucket("static", "assets-bucket", enable_cdn=False)
    body = only_resource(synth(stack), "google_compute_backend_bucket")
    assert body["enable_cdn"] is False and "cdn_policy" not in body


def test_fails_when_backend_bucket_arguments_contradict(stack, naming):
    lb = _lb(stack, naming)
    with pytest.raises(ConfigurationError, match=r"^BackendBucketSpec: cdn_policy is set but enable_cdn = False: set enable_cdn = True or drop cdn_policy$"):
        lb.add_backend_bucket("static", "assets-bucket", enable_cdn=False, cdn_policy=CdnPolicySpec())
    assert lb.backend_buckets == {}


def test_classic_scheme_writes_path_rules(stack, naming):
    lb = _lb(stack, naming, load_balancing_scheme="EXTERNAL", default_backend="m")
    m = lb.add_backend_service("m", targets=[group("a")])
    lb.add_model_route(["/v1/models/m", "/v1/models/m/*"], m)
    out = synth(stack)
    assert only_resource(out, "google_compute_backend_service")["load_balancing_scheme"] == "EXTERNAL"
    assert only_resource(out, "google_compute_global_forwarding_rule")["load_balancing_scheme"] == "EXTERNAL"
    url_map = only_resource(out, "google_compute_url_map")
    assert "default_route_action" not in url_map  # the classic scheme has no fault injection
    matcher = url_map["path_matcher"][0]
    assert "route_rules" not in matcher and "default_route_action" not in matcher
    assert matcher["path_rule"] == [{"paths": ["/v1/models/m", "/v1/models/m/*"],
                                     "service": _ref("google_compute_backend_service", "lb/backend-m/default", out)}]


def test_fails_when_classic_scheme_gets_advanced_routing(stack, naming):
    lb = _lb(stack, naming, load_balancing_scheme="EXTERNAL", default_backend="a")
    a = lb.add_backend_service("a", targets=[group("a")])
    b = lb.add_backend_service("b", targets=[group("b")])
    with pytest.raises(ConfigurationError, match=r"uses weighted traffic split, which need load_balancing_scheme EXTERNAL_MANAGED"):
        lb.add_canary_route("/x/*", {a: 50, b: 50})
    with pytest.raises(ConfigurationError, match=r"^backend_services\[c\]\.outlier_detection = 'set': needs load_balancing_scheme EXTERNAL_MANAGED"):
        lb.add_backend_service("c", targets=[group("c")], spec=BackendServiceSpec(outlier_detection=OutlierDetectionSpec()))


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ((90, 20), r"weights must sum to 100 \(they sum to 110\)"),
        ((50, 49), r"weights must sum to 100 \(they sum to 99\)"),
        ((101, -1), r"must be an integer percentage between 0 and 100"),
    ],
)
def test_fails_when_canary_weights_do_not_sum_to_100(stack, naming, weights, message):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    b = lb.add_backend_service("b", targets=[group("b")])
    with pytest.raises(ConfigurationError, match=message):
        lb.add_canary_route("/v1/*", {a: weights[0], b: weights[1]})


def test_fails_when_canary_has_one_backend_or_a_bucket(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    bucket = lb.add_backend_bucket("static", "assets-bucket")
    with pytest.raises(ConfigurationError, match=r"a traffic split needs at least two backend services"):
        lb.add_canary_route("/v1/*", {a: 100})
    with pytest.raises(ConfigurationError, match=r"^weights\[static\] = 'static': a traffic split takes backend services"):
        lb.add_canary_route("/v1/*", {a: 50, bucket: 50})


def test_fails_when_route_path_is_duplicated(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    b = lb.add_backend_service("b", targets=[group("b")])
    lb.add_model_route(["/v1/models/a", "/v1/models/a/*"], a)
    with pytest.raises(ConfigurationError, match=r"^routes\[b\]\.paths\[0\] = '/v1/models/a/\*': is already routed to a for every host"):
        lb.add_model_route("/v1/models/a/*", b)
    with pytest.raises(ConfigurationError, match=r"paths\[1\] = '/x': is already routed to b"):
        lb.add_model_route(["/x", "/x"], b)
    # the same path for other hosts or with a header match is a different route
    lb.add_model_route("/v1/models/a/*", b, headers={"x-model-version": "b"})
    lb.add_model_route("/v1/models/a/*", b, hosts=["api.example.com"])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("v1/models", r"must start with /"),
        ("/v1/*/predict", r"\* is only allowed as a trailing /\*"),
        ("/v1/models*", r"\* is only allowed as a trailing /\*"),
        ("/v1?x=1", r"must not contain \?, # or spaces"),
    ],
)
def test_fails_when_route_path_is_invalid(stack, naming, path, message):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    with pytest.raises(ConfigurationError, match=message):
        lb.add_model_route(path, a)


def test_fails_when_route_options_are_invalid(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    bucket = lb.add_backend_bucket("static", "assets-bucket")
    other = GlobalLoadBalancer(stack, "other", naming=naming, spec=LoadBalancerSpec(name="other"))
    foreign = other.add_backend_service("x", targets=[group("x")])
    with pytest.raises(ConfigurationError, match=r"^backend = 'x': must be a backend returned by this load balancer"):
        lb.add_model_route("/x/*", foreign)
    with pytest.raises(ConfigurationError, match=r"timeout_sec and retry_policy only apply to backend services"):
        lb.add_model_route("/static/*", bucket, timeout_sec=10)
    with pytest.raises(ConfigurationError, match=r"^routes\[a\]\.timeout_sec = 0: must be a whole number of seconds"):
        lb.add_model_route("/a/*", a, timeout_sec=0)
    with pytest.raises(ConfigurationError, match=r"^routes\[a\]\.headers\.x model = 'x model'"):
        lb.add_model_route("/a/*", a, headers={"x model": "v2"})
    with pytest.raises(ConfigurationError, match=r"^routes\[a\]\.hosts\[0\] = 'bad_host'"):
        lb.add_model_route("/a/*", a, hosts=["bad_host"])
    with pytest.raises(ConfigurationError, match=r"^routes\[a\]\.paths = \[\]: give at least one path"):
        lb.add_model_route([], a)


def test_fails_when_a_host_is_in_two_host_sets(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    lb.add_model_route("/a/*", a, hosts=["api.example.com"])
    with pytest.raises(ConfigurationError, match=r"host api.example.com is already used with the host set \['api.example.com'\]"):
        lb.add_model_route("/b/*", a, hosts=["api.example.com", "models.example.com"])


def test_fails_when_retry_condition_is_unknown():
    with pytest.raises(ConfigurationError, match=r"unknown retry condition\(s\) 503; allowed: 5xx, gateway-error"):
        RetryPolicy(retry_conditions=("503",))
    with pytest.raises(ConfigurationError, match=r"num_retries = 0: Input should be greater than or equal to 1"):
        RetryPolicy(num_retries=0)


# -- snapshots ----------------------------------------------------------------------------------

def test_snapshot_http_only_single_model(stack, naming, snapshot_json):
    lb = _lb(stack, naming)
    resnet = lb.add_backend_service("resnet", targets=[group("ml-test-fleet-europe-west1")])
    lb.add_model_route(["/v1/models/resnet", "/v1/models/resnet/*"], resnet)
    lb.add_outputs()
    assert synth(stack) == snapshot_json


def test_snapshot_https_multi_model_canary_cdn_bucket(stack, naming, snapshot_json):
    network = _network(stack, naming)
    lb = _lb(stack, naming, domains=DOMAINS, ipv6=True)
    resnet = lb.add_backend_service(
        "resnet", targets=[group("fleet-eu", region="europe-west1", network=network), group("fleet-us", region="us-central1", network=network)],
    )
    canary = lb.add_backend_service("resnet-canary", targets=[group("canary-eu", network=network)])
    embed = lb.add_backend_service(
        "embed", targets=[FakeNegs()],
        spec=BackendServiceSpec(
            max_rate_per_endpoint=50, enable_cdn=True,
            cdn_policy=CdnPolicySpec(cache_mode="FORCE_CACHE_ALL", default_ttl=300, client_ttl=60, serve_while_stale=30),
        ),
    )
    lb.add_canary_route(["/v1/models/resnet", "/v1/models/resnet/*"], {resnet: 90, canary: 10})
    lb.add_model_route("/v1/models/resnet/*", canary, headers={"x-model-version": "canary"})
    lb.add_model_route("/v1/embeddings/*", embed, timeout_sec=30, retry_policy=RetryPolicy())
    lb.add_backend_bucket("static", "ml-test-static", paths=["/static/*"])
    lb.add_outputs()
    assert lb.validation_errors() == []
    assert synth(stack) == snapshot_json


def test_404_placeholder_is_a_bucket_until_a_service_exists(stack, naming):
    lb = _lb(stack, naming)
    bucket = lb.add_backend_bucket("site", "ml-test-site")
    assert lb.default_backend is None
    out = synth(stack)
    url_map = only_resource(out, "google_compute_url_map")
    assert url_map["default_service"] == _ref("google_compute_backend_bucket", "lb/bucket-site", out)
    assert url_map["default_route_action"] == ABORT_404
    lb.add_backend_service("m", targets=[group("a")])
    out = synth(stack)
    assert only_resource(out, "google_compute_url_map")["default_service"] == _ref(
        "google_compute_backend_service", "lb/backend-m/default", out)
    lb.set_default_backend(bucket)
    assert lb.default_backend is bucket


# -- unmatched requests: 404 or a named default --------------------------------------------------

def _matchers(out):
    return {m["name"]: m for m in resource_by_path(out, "google_compute_url_map", "lb/url-map")["path_matcher"]}


def test_unmatched_requests_get_404_at_the_url_map_and_in_every_path_matcher(stack, naming):
    lb = _lb(stack, naming, domains=DOMAINS)
    resnet = lb.add_backend_service("resnet", targets=[group("a")])
    bert = lb.add_backend_service("bert", targets=[group("b")])
    lb.add_model_route("/v1/models/resnet/*", resnet)
    lb.add_model_route("/v1/models/bert/*", bert, hosts=["models.example.com"])
    out = synth(stack)
    url_map = resource_by_path(out, "google_compute_url_map", "lb/url-map")
    assert url_map["default_route_action"] == ABORT_404, "a request for no host rule (/, scanners) must get a 404, not a model"
    matchers = _matchers(out)
    assert sorted(matchers) == sorted(["all-hosts", next(n for n in matchers if n.startswith("hosts-"))])
    for name, matcher in matchers.items():
        assert matcher["default_route_action"] == ABORT_404, f"path matcher {name} must answer unmatched paths with 404"
        # the API requires a default service next to the abort; it never receives a request
        assert matcher["default_service"] == url_map["default_service"]
    assert "weighted_backend_services" not in url_map["default_route_action"]  # would conflict with default_service


def test_default_backend_names_a_model_that_gets_unmatched_requests(stack, naming):
    lb = _lb(stack, naming, default_backend="bert")
    resnet = lb.add_backend_service("resnet", targets=[group("a")])
    bert = lb.add_backend_service("bert", targets=[group("b")])
    lb.add_model_route("/v1/models/resnet/*", resnet)
    out = synth(stack)
    url_map = only_resource(out, "google_compute_url_map")
    assert url_map["default_service"] == _ref("google_compute_backend_service", "lb/backend-bert/default", out)
    assert "default_route_action" not in url_map
    assert all("default_route_action" not in m for m in url_map["path_matcher"])
    assert all(m["default_service"] == url_map["default_service"] for m in url_map["path_matcher"])
    assert lb.default_backend is bert and not lb.answers_unmatched_with_404
    assert lb.validation_errors() == []


def test_default_backend_may_name_a_bucket_added_after_the_models(stack, naming):
    lb = _lb(stack, naming, default_backend="site")
    lb.add_backend_service("resnet", targets=[group("a")])
    assert lb.validation_errors() == [
        "default_backend = 'site': names no backend service or backend bucket of this load balancer; allowed: resnet"
    ]
    site = lb.add_backend_bucket("site", "ml-test-site", paths=["/static/*"])
    out = synth(stack)
    assert only_resource(out, "google_compute_url_map")["default_service"] == _ref("google_compute_backend_bucket", "lb/bucket-site", out)
    assert lb.default_backend is site and lb.validation_errors() == []


def test_fails_when_default_backend_names_no_backend(stack, naming):
    lb = _lb(stack, naming, default_backend="berta")
    lb.add_backend_service("resnet", targets=[group("a")])
    lb.add_backend_bucket("static", "ml-test-static")
    expected = "default_backend = 'berta': names no backend service or backend bucket of this load balancer; allowed: resnet, static"
    assert lb.validation_errors() == [expected]
    with pytest.raises(RuntimeError, match=r"default_backend = 'berta': names no backend"):
        Testing.synth(stack, run_validations=True)


def test_fails_when_default_backend_names_a_service_and_a_bucket(stack, naming):
    lb = _lb(stack, naming, default_backend="site")
    lb.add_backend_service("site", targets=[group("a")])
    lb.add_backend_bucket("site", "ml-test-site")
    assert lb.validation_errors() == [
        "default_backend = 'site': names both a backend service and a backend bucket; rename one of them"
    ]


def test_fails_when_classic_scheme_names_no_default_backend():
    with pytest.raises(
        ConfigurationError,
        match=r"^LoadBalancerSpec: default_backend = None: load_balancing_scheme EXTERNAL cannot answer unmatched requests "
        r"with 404 \(the classic load balancer has no fault injection\): name the model or backend bucket that gets them, "
        r"or use EXTERNAL_MANAGED$",
    ):
        LoadBalancerSpec(load_balancing_scheme="EXTERNAL")


def test_fails_when_default_backend_is_not_a_name():
    with pytest.raises(ConfigurationError, match=r"^LoadBalancerSpec: default_backend = 'Static_Site': must match"):
        LoadBalancerSpec(default_backend="Static_Site")


# -- health routes --------------------------------------------------------------------------------

def test_health_route_path_is_per_model():
    assert health_route_path("resnet") == "/healthz/resnet"
    assert HEALTH_ROUTE_PREFIX == "/healthz/"


def test_health_route_rewrites_an_exact_path_to_the_models_health_endpoint(stack, naming):
    lb = _lb(stack, naming)
    resnet = lb.add_backend_service("resnet", targets=[group("a")], health_path="/v2/health/ready")
    catchall = lb.add_backend_service("catchall", targets=[group("b")])
    lb.add_model_route("/*", catchall)
    lb.add_model_route(["/v1/models/resnet", "/v1/models/resnet/*"], resnet)
    route = lb.add_health_route(resnet)
    assert route.paths == ("/healthz/resnet",) and lb.health_routes == {"resnet": "/healthz/resnet"}
    out = synth(stack)
    rules = _route_rules(out)
    resnet_id = _ref("google_compute_backend_service", "lb/backend-resnet/default", out)
    health = [r for r in rules if r["match_rules"] == [{"full_path_match": "/healthz/resnet"}]]
    assert health == [{
        "priority": health[0]["priority"],
        "match_rules": [{"full_path_match": "/healthz/resnet"}],
        "service": resnet_id,
        "route_action": {"url_rewrite": {"path_prefix_rewrite": "/v2/health/ready"}},
    }]
    # route rules are first-match: the health route must come before the catch-all /*
    catchall_priority = next(r["priority"] for r in rules if r["match_rules"] == [{"prefix_match": "/"}])
    assert health[0]["priority"] < catchall_priority


def test_health_route_defaults_to_the_backends_health_path_and_reaches_every_host(stack, naming):
    lb = _lb(stack, naming, domains=DOMAINS)
    resnet = lb.add_backend_service("resnet", targets=[group("a")])
    lb.add_model_route("/v1/*", resnet, hosts=["models.example.com"])
    lb.add_health_route(resnet)
    out = synth(stack)
    for name, matcher in _matchers(out).items():
        health = [r for r in matcher["route_rules"] if r["match_rules"] == [{"full_path_match": "/healthz/resnet"}]]
        assert len(health) == 1, f"path matcher {name} must route /healthz/resnet"
        assert health[0]["route_action"] == {"url_rewrite": {"path_prefix_rewrite": "/healthz"}}


def test_health_route_on_the_classic_scheme_is_a_path_rule_with_a_rewrite(stack, naming):
    lb = _lb(stack, naming, load_balancing_scheme="EXTERNAL", default_backend="m")
    m = lb.add_backend_service("m", targets=[group("a")], health_path="/ready")
    lb.add_model_route("/v1/models/m/*", m)
    lb.add_health_route(m)
    out = synth(stack)
    m_id = _ref("google_compute_backend_service", "lb/backend-m/default", out)
    assert only_resource(out, "google_compute_url_map")["path_matcher"][0]["path_rule"] == [
        {"paths": ["/v1/models/m/*"], "service": m_id},
        {"paths": ["/healthz/m"], "service": m_id, "route_action": {"url_rewrite": {"path_prefix_rewrite": "/ready"}}},
    ]


@pytest.mark.parametrize("path", ["/healthz/resnet", "/healthz/*", "/healthz/resnet/*"])
def test_fails_when_a_model_route_uses_the_health_route_prefix(stack, naming, path):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    with pytest.raises(
        ConfigurationError,
        match=rf"^routes\[a\]\.paths\[0\] = '{re.escape(path)}': paths under /healthz/ are reserved for the load balancer's "
        r"per-model health routes \(/healthz/<model>\); route the model under another path$",
    ):
        lb.add_model_route(path, a)
    with pytest.raises(ConfigurationError, match=r"^routes\[static\]\.paths\[0\] = '/healthz/\*': paths under /healthz/ are reserved"):
        lb.add_backend_bucket("static", "ml-test-static", paths=["/healthz/*"])


def test_plain_healthz_stays_routable(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    lb.add_model_route("/healthz", a)  # only /healthz/... is reserved


def test_fails_when_health_route_is_repeated_or_goes_to_a_bucket(stack, naming):
    lb = _lb(stack, naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    bucket = lb.add_backend_bucket("static", "ml-test-static")
    lb.add_health_route(a)
    with pytest.raises(ConfigurationError, match=r"^health_routes\[a\] = 'a': model a has a health route already \(/healthz/a\)$"):
        lb.add_health_route(a)
    with pytest.raises(ConfigurationError, match=r"^health_routes\[static\] = 'static': health routes go to backend services"):
        lb.add_health_route(bucket)
    b = lb.add_backend_service("b", targets=[group("b")])
    with pytest.raises(ConfigurationError, match=r"^health_routes\[b\]\.health_path = 'ready': must be an absolute request path"):
        lb.add_health_route(b, "ready")
    assert lb.health_routes == {"a": "/healthz/a"}


# -- static content from a private bucket --------------------------------------------------------

def test_backend_bucket_does_not_touch_the_buckets_iam_by_default(stack, naming):
    lb = _lb(stack, naming)
    bucket = lb.add_backend_bucket("static", "ml-test-static", paths=["/static/*"])
    out = synth(stack)
    assert bucket.reader is None
    assert not resources(out, "google_storage_bucket_iam_member")
    assert "data" not in out


def test_grant_reader_lets_the_cdn_fill_agent_read_a_private_bucket(stack, naming):
    lb = _lb(stack, naming)
    bucket = lb.add_backend_bucket("static", "ml-test-static", paths=["/static/*"], grant_reader=True)
    lb.add_backend_bucket("docs", "ml-test-docs", paths=["/docs/*"], grant_reader=True)
    out = synth(stack)
    project = out["data"]["google_project"]
    assert len(project) == 1 and list(project.values()) == [{}], "one data source: the provider's project"
    project_id = next(iter(project))
    grant = resource_by_path(out, "google_storage_bucket_iam_member", "lb/bucket-static-reader")
    assert grant == {
        "bucket": "ml-test-static",
        "role": "roles/storage.objectViewer",  # read objects, nothing else; never allUsers
        "member": f"serviceAccount:service-${{data.google_project.{project_id}.number}}@cloud-cdn-fill.iam.gserviceaccount.com",
        "depends_on": [_ref("google_compute_backend_bucket", "lb/bucket-static", out)[2:-4]],  # after the CDN backend exists
    }
    assert bucket.reader.roles == ("roles/storage.objectViewer",) and bucket.reader.target == "bucket ml-test-static"
    assert len(bucket.reader.resources) == 1 and bucket.reader.member.startswith("serviceAccount:service-")
    assert len(resources(out, "google_storage_bucket_iam_member")) == 2


def test_fails_when_grant_reader_has_no_cdn(stack, naming):
    lb = _lb(stack, naming)
    with pytest.raises(
        ConfigurationError,
        match=r"^backend_buckets\[static\]\.grant_reader = True: a private bucket is read through Cloud CDN's cache-fill service "
        r"agent, so it needs enable_cdn = True; without CDN the load balancer reads anonymously and the bucket must grant "
        r"allUsers roles/storage.objectViewer$",
    ):
        lb.add_backend_bucket("static", "ml-test-static", enable_cdn=False, grant_reader=True)
    assert lb.backend_buckets == {} and stack.node.try_find_child("lb").node.try_find_child("bucket-static") is None


def test_snapshot_production_edge_404_health_routes_private_static(stack, naming, snapshot_json):
    network = _network(stack, naming)
    lb = _lb(stack, naming, domains=DOMAINS)
    resnet = lb.add_backend_service(
        "resnet", targets=[group("fleet-eu", network=network)], spec=BackendServiceSpec(timeout_sec=300), health_path="/v2/health/ready",
    )
    canary = lb.add_backend_service("resnet-v2", targets=[group("canary-eu", network=network)], spec=BackendServiceSpec(timeout_sec=300))
    lb.add_canary_route(["/v1/models/resnet", "/v1/models/resnet/*"], {resnet: 90, canary: 10})
    lb.add_health_route(resnet)
    lb.add_health_route(canary)
    lb.add_backend_bucket("static", "ml-test-static", paths=["/static/*"], grant_reader=True)
    lb.add_outputs()
    assert lb.validation_errors() == []
    assert synth(stack) == snapshot_json
