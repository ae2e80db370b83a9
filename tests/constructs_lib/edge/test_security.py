import pytest

from constructs_lib.edge.load_balancer import GlobalLoadBalancer
from constructs_lib.edge.security import CloudArmorPolicy
from constructs_lib.errors import ConfigurationError
from constructs_lib.specs.load_balancer import LoadBalancerSpec
from constructs_lib.specs.security import (
    PRECONFIGURED_WAF_RULES,
    CloudArmorSpec,
    RateLimitSpec,
    WafRuleSpec,
)
from tests.conftest import only_resource, resources, synth
from tests.constructs_lib.edge.fakes import group

DEFAULT_RULE = {
    "action": "allow", "priority": 2147483647, "description": "Default rule",
    "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
}


def _policy(stack, naming, **spec):
    return CloudArmorPolicy(stack, "armor", naming=naming, spec=CloudArmorSpec(**spec))


def _rules(out):
    return {rule["priority"]: rule for rule in only_resource(out, "google_compute_security_policy")["rule"]}


def test_default_policy_allows_and_throttles_per_client_ip(stack, naming):
    policy = _policy(stack, naming)
    out = synth(stack)
    body = only_resource(out, "google_compute_security_policy")
    assert body["name"] == "ml-test-armor" == policy.name
    assert body["type"] == "CLOUD_ARMOR"
    assert body["advanced_options_config"] == {"json_parsing": "STANDARD", "log_level": "NORMAL"}
    assert "adaptive_protection_config" not in body
    rules = _rules(out)
    assert sorted(rules) == [10000, 2147483647]
    assert rules[2147483647] == DEFAULT_RULE
    assert rules[10000] == {
        "action": "throttle", "priority": 10000, "preview": False,
        "description": "Rate limit: 600 requests per 60 s per IP",
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
        "rate_limit_options": {
            "conform_action": "allow", "exceed_action": "deny(429)", "enforce_on_key": "IP",
            "rate_limit_threshold": {"count": 600, "interval_sec": 60},
        },
    }


def test_rate_based_ban_with_ban_threshold(stack, naming):
    limit = RateLimitSpec(action="rate_based_ban", count=100, interval_sec=10, exceed_action="deny(403)",
                          ban_threshold_count=1000, ban_threshold_interval_sec=600)
    _policy(stack, naming, rate_limit=limit)
    options = _rules(synth(stack))[10000]["rate_limit_options"]
    assert options == {
        "conform_action": "allow", "exceed_action": "deny(403)", "enforce_on_key": "IP",
        "rate_limit_threshold": {"count": 100, "interval_sec": 10},
        "ban_duration_sec": 600, "ban_threshold": {"count": 1000, "interval_sec": 600},
    }
    assert _rules(synth(stack))[10000]["action"] == "rate_based_ban"


def test_rate_limit_on_a_header_key_and_in_preview(stack, naming):
    _policy(stack, naming, rate_limit=RateLimitSpec(enforce_on_key="HTTP_HEADER", enforce_on_key_name="x-api-key", preview=True))
    rule = _rules(synth(stack))[10000]
    assert rule["preview"] is True
    assert (rule["rate_limit_options"]["enforce_on_key"], rule["rate_limit_options"]["enforce_on_key_name"]) == ("HTTP_HEADER", "x-api-key")


def test_rate_limit_can_be_turned_off_and_default_can_deny(stack, naming):
    _policy(stack, naming, rate_limit=None, default_action="deny(403)")
    rules = _rules(synth(stack))
    assert list(rules) == [2147483647]
    assert rules[2147483647]["action"] == "deny(403)"


def test_waf_rules_come_before_the_rate_limit(stack, naming):
    _policy(stack, naming, waf_rules=(
        WafRuleSpec(name="sqli-v33-stable"),
        WafRuleSpec(name="xss-v33-stable", sensitivity=2, preview=True,
                    opt_out_rule_ids=("owasp-crs-v030301-id941180-xss", "owasp-crs-v030301-id941320-xss")),
    ))
    rules = _rules(synth(stack))
    assert sorted(rules) == [1000, 1001, 10000, 2147483647]
    assert rules[1000] == {
        "action": "deny(403)", "priority": 1000, "preview": False,
        "description": "Preconfigured WAF sqli-v33-stable (sensitivity 1)",
        "match": {"expr": {"expression": "evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1})"}},
    }
    assert rules[1001]["match"]["expr"]["expression"] == (
        "evaluatePreconfiguredWaf('xss-v33-stable', {'sensitivity': 2, 'opt_out_rule_ids': "
        "['owasp-crs-v030301-id941180-xss', 'owasp-crs-v030301-id941320-xss']})"
    )
    assert rules[1001]["preview"] is True


def test_deny_lists_come_first_in_chunks_of_ten(stack, naming):
    ranges = tuple(f"203.0.113.{i}/32" for i in range(12)) + ("2001:db8::/32",)
    _policy(stack, naming, deny_source_ranges=ranges)
    rules = _rules(synth(stack))
    assert rules[100]["action"] == "deny(403)"
    assert rules[100]["match"] == {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": list(ranges[:10])}}
    assert rules[101]["match"]["config"]["src_ip_ranges"] == list(ranges[10:])
    assert min(rules) == 100


def test_adaptive_protection(stack, naming):
    _policy(stack, naming, adaptive_protection=True, json_parsing="DISABLED", log_level="VERBOSE")
    body = only_resource(synth(stack), "google_compute_security_policy")
    assert body["adaptive_protection_config"] == {"layer_7_ddos_defense_config": {"enable": True, "rule_visibility": "STANDARD"}}
    assert body["advanced_options_config"] == {"json_parsing": "DISABLED", "log_level": "VERBOSE"}


def test_attach_to_backend_services(stack, naming):
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    a = lb.add_backend_service("a", targets=[group("a")])
    b = lb.add_backend_service("b", targets=[group("b")])
    lb.add_backend_service("c", targets=[group("c")])
    policy = _policy(stack, naming)
    policy.attach_to(a, b)
    out = synth(stack)
    policy_ref = "${google_compute_security_policy.%s.id}" % next(iter(resources(out, "google_compute_security_policy")))
    attached = {s["name"]: s.get("security_policy") for s in resources(out, "google_compute_backend_service").values()}
    assert attached == {"ml-test-lb-bs-a": policy_ref, "ml-test-lb-bs-b": policy_ref, "ml-test-lb-bs-c": None}


def test_fails_when_attaching_to_something_that_is_not_a_backend(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^attach_to\.backends\[0\] = 'str': must be a backend handle"):
        _policy(stack, naming).attach_to("ml-test-lb-bs-a")


def test_known_waf_rule_names():
    assert {"sqli-v33-stable", "xss-v33-stable", "rce-v33-canary", "java-v33-stable", "cve-canary", "sqli-stable"} <= PRECONFIGURED_WAF_RULES
    assert "java-stable" not in PRECONFIGURED_WAF_RULES


@pytest.mark.parametrize("name", ["sqli", "sqli-v34-stable", "evaluatePreconfiguredWaf('sqli-v33-stable')", "SQLI-V33-STABLE"])
def test_fails_when_waf_rule_name_is_unknown(name):
    with pytest.raises(ConfigurationError, match=r"^WafRuleSpec: name = .*: unknown preconfigured Cloud Armor WAF rule set; allowed: cve-canary, "):
        WafRuleSpec(name=name)


@pytest.mark.parametrize("rule_id", ["owasp-crs-v030301-id942350-sqli']})||true||(['x", "OWASP-CRS", "id 942350", "", "-x", "x-"])
def test_fails_when_an_opt_out_id_is_not_a_signature_id(rule_id):
    # the ids are quoted into the CEL expression: a quote would end the string and change the rule
    with pytest.raises(ConfigurationError, match=r"^WafRuleSpec: opt_out_rule_ids\[1\] = .*: must be a WAF signature id such as "
                       r"owasp-crs-v030301-id942350-sqli \(lowercase letters, digits and hyphens\)$"):
        WafRuleSpec(name="sqli-v33-stable", opt_out_rule_ids=("owasp-crs-v030301-id942110-sqli", rule_id))


def test_fails_when_an_opt_out_id_is_repeated():
    with pytest.raises(ConfigurationError, match=r"each signature may be listed once; repeated: owasp-crs-v030301-id942110-sqli"):
        WafRuleSpec(name="sqli-v33-stable", opt_out_rule_ids=("owasp-crs-v030301-id942110-sqli",) * 2)


def test_fails_when_waf_rule_is_repeated_or_too_sensitive():
    with pytest.raises(ConfigurationError, match=r"^CloudArmorSpec: waf_rules = .*: each rule set may be listed once; repeated: sqli-v33-stable$"):
        CloudArmorSpec(waf_rules=(WafRuleSpec(name="sqli-v33-stable"), WafRuleSpec(name="sqli-v33-stable", sensitivity=2)))
    with pytest.raises(ConfigurationError, match=r"sensitivity = 5: Input should be less than or equal to 4"):
        WafRuleSpec(name="sqli-v33-stable", sensitivity=5)


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ({"interval_sec": 45}, r"interval_sec = 45: must be one of 10, 30, 60, 120"),
        ({"count": 0}, r"count = 0: Input should be greater than or equal to 1"),
        ({"ban_duration_sec": 600}, r"ban_duration_sec only apply to action rate_based_ban, not throttle"),
        ({"action": "rate_based_ban", "ban_duration_sec": 7}, r"ban_duration_sec = 7: must be one of"),
        ({"action": "rate_based_ban", "ban_threshold_count": 10}, r"ban_threshold_count and ban_threshold_interval_sec must be given together"),
        ({"exceed_action": "allow"}, r"exceed_action = 'allow': Input should be 'deny\(403\)'"),
        ({"enforce_on_key": "HTTP_HEADER"}, r"enforce_on_key HTTP_HEADER needs enforce_on_key_name"),
        ({"enforce_on_key_name": "x"}, r"enforce_on_key_name only applies to HTTP_HEADER / HTTP_COOKIE, not IP"),
        ({"action": "deny"}, r"action = 'deny': Input should be 'throttle' or 'rate_based_ban'"),
        ({"ban_threshold_interval_sec": 45, "action": "rate_based_ban", "ban_threshold_count": 5}, r"ban_threshold_interval_sec = 45: must be one of"),
    ],
)
def test_fails_when_rate_limit_is_invalid(limit, message):
    with pytest.raises(ConfigurationError, match=message):
        RateLimitSpec(**limit)


def test_fails_when_deny_range_or_name_is_invalid():
    with pytest.raises(ConfigurationError, match=r"deny_source_ranges\[0\] = '10.0.0.1/8': must be a CIDR block"):
        CloudArmorSpec(deny_source_ranges=("10.0.0.1/8",))
    with pytest.raises(ConfigurationError, match=r"name = 'Armor': must match"):
        CloudArmorSpec(name="Armor")


def test_snapshot_cloud_armor_rate_limiting_attached(stack, naming, snapshot_json):
    policy = _policy(
        stack, naming,
        rate_limit=RateLimitSpec(action="rate_based_ban", count=300, interval_sec=60, ban_duration_sec=300),
        waf_rules=(WafRuleSpec(name="sqli-v33-stable"), WafRuleSpec(name="xss-v33-stable")),
        deny_source_ranges=("198.51.100.0/24",),
    )
    lb = GlobalLoadBalancer(stack, "lb", naming=naming, spec=LoadBalancerSpec(domains=("api.example.com",)))
    resnet = lb.add_backend_service("resnet", targets=[group("fleet")], security_policy=policy)
    lb.add_model_route("/v1/models/resnet/*", resnet)
    assert synth(stack) == snapshot_json
