"""``CloudArmorPolicy``: a Cloud Armor security policy for the model endpoints' backend services.

One ``google_compute_security_policy`` with, in evaluation order (Cloud Armor stops at the first
matching rule, lowest priority number first):

1. deny lists of source ranges (priorities 100, 101, ...; at most 10 ranges per rule, an API limit),
2. preconfigured WAF rules (``evaluatePreconfiguredWaf('sqli-v33-stable', ...)``, priorities 1000, 1001, ...),
3. per-client rate limiting (``throttle`` or ``rate_based_ban``, priority 10000): its conform action
   *allows* the request, which ends evaluation, so it must come after every deny rule,
4. the default rule (priority 2147483647, ``allow`` unless told otherwise).

Attach it with ``GlobalLoadBalancer.add_backend_service(..., security_policy=policy)`` or
``policy.attach_to(backend, ...)``. Spec: ``constructs_lib.specs.security``.
"""

from __future__ import annotations

from typing import Any

from constructs import Construct

from constructs_lib._google import compute_security_policy
from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import Naming
from constructs_lib.specs.security import (
    DEFAULT_RULE_PRIORITY,
    DENY_LIST_PRIORITY,
    MAX_RANGES_PER_RULE,
    RATE_LIMIT_PRIORITY,
    WAF_PRIORITY,
    CloudArmorSpec,
    RateLimitSpec,
)


class CloudArmorPolicy(Construct):
    """A Cloud Armor policy (``google_compute_security_policy``, construct id ``default``).

    Exposes ``policy``, ``id`` (what ``security_policy`` of a backend service takes), ``name``
    and ``spec``. ``attach_to(*backends)`` sets the policy on backend handles (anything with a
    ``backend_service`` attribute, e.g. ``GlobalLoadBalancer.add_backend_service(...)``'s result).
    """

    def __init__(self, scope: Construct, id_: str, *, naming: Naming, spec: CloudArmorSpec | None = None) -> None:
        super().__init__(scope, id_)
        spec = spec or CloudArmorSpec()
        self.spec = spec
        self.name = naming.name(spec.name)
        sp = compute_security_policy
        rules = [self._default_rule(spec)]
        for index in range(0, len(spec.deny_source_ranges), MAX_RANGES_PER_RULE):
            chunk = spec.deny_source_ranges[index:index + MAX_RANGES_PER_RULE]
            rules.append(sp.ComputeSecurityPolicyRule(
                action="deny(403)",
                priority=DENY_LIST_PRIORITY + index // MAX_RANGES_PER_RULE,
                description="Denied source ranges",
                match=sp.ComputeSecurityPolicyRuleMatch(
                    versioned_expr="SRC_IPS_V1",
                    config=sp.ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=list(chunk)),
                ),
            ))
        for index, waf in enumerate(spec.waf_rules):
            rules.append(sp.ComputeSecurityPolicyRule(
                action=waf.action,
                priority=WAF_PRIORITY + index,
                description=f"Preconfigured WAF {waf.name} (sensitivity {waf.sensitivity})",
                preview=waf.preview,
                match=sp.ComputeSecurityPolicyRuleMatch(expr=sp.ComputeSecurityPolicyRuleMatchExpr(expression=waf.expression)),
            ))
        if spec.rate_limit is not None:
            rules.append(self._rate_limit_rule(spec.rate_limit))

        self.policy = sp.ComputeSecurityPolicy(
            self, "default",
            name=self.name,
            description=spec.description,
            type="CLOUD_ARMOR",
            rule=rules,
            advanced_options_config=sp.ComputeSecurityPolicyAdvancedOptionsConfig(
                json_parsing=spec.json_parsing, log_level=spec.log_level,
            ),
            adaptive_protection_config=sp.ComputeSecurityPolicyAdaptiveProtectionConfig(
                layer7_ddos_defense_config=sp.ComputeSecurityPolicyAdaptiveProtectionConfigLayer7DdosDefenseConfig(
                    enable=True, rule_visibility=spec.adaptive_protection_rule_visibility,
                ),
            ) if spec.adaptive_protection else None,
        )
        self.id: str = self.policy.id

    @staticmethod
    def _default_rule(spec: CloudArmorSpec) -> Any:
        sp = compute_security_policy
        return sp.ComputeSecurityPolicyRule(
            action=spec.default_action,
            priority=DEFAULT_RULE_PRIORITY,
            description="Default rule",
            match=sp.ComputeSecurityPolicyRuleMatch(
                versioned_expr="SRC_IPS_V1",
                config=sp.ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=["*"]),
            ),
        )

    @staticmethod
    def _rate_limit_rule(limit: RateLimitSpec) -> Any:
        sp = compute_security_policy
        ban = limit.action == "rate_based_ban"
        ban_duration = limit.ban_duration_sec if limit.ban_duration_sec is not None else (600 if ban else None)
        return sp.ComputeSecurityPolicyRule(
            action=limit.action,
            priority=RATE_LIMIT_PRIORITY,
            description=f"Rate limit: {limit.count} requests per {limit.interval_sec} s per {limit.enforce_on_key}",
            preview=limit.preview,
            match=sp.ComputeSecurityPolicyRuleMatch(
                versioned_expr="SRC_IPS_V1",
                config=sp.ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=["*"]),
            ),
            rate_limit_options=sp.ComputeSecurityPolicyRuleRateLimitOptions(
                conform_action=limit.conform_action,
                exceed_action=limit.exceed_action,
                enforce_on_key=limit.enforce_on_key,
                enforce_on_key_name=limit.enforce_on_key_name,
                rate_limit_threshold=sp.ComputeSecurityPolicyRuleRateLimitOptionsRateLimitThreshold(
                    count=limit.count, interval_sec=limit.interval_sec,
                ),
                ban_duration_sec=ban_duration,
                ban_threshold=sp.ComputeSecurityPolicyRuleRateLimitOptionsBanThreshold(
                    count=limit.ban_threshold_count, interval_sec=limit.ban_threshold_interval_sec,
                ) if limit.ban_threshold_count is not None else None,
            ),
        )

    def attach_to(self, *backends: Any) -> None:
        """Set this policy as ``security_policy`` of each backend handle (``.backend_service``)."""
        for index, backend in enumerate(backends):
            service = getattr(backend, "backend_service", None)
            if service is None:
                raise ConfigurationError(
                    f"attach_to.backends[{index}]", type(backend).__name__,
                    "must be a backend handle with a backend_service attribute (GlobalLoadBalancer.add_backend_service's result)",
                )
            service.security_policy = self.id
