"""Specs of the Cloud Armor policy in front of the model endpoints: per-client rate limiting,
preconfigured WAF rule sets, deny lists, Adaptive Protection. Construct:
``constructs_lib.edge.security.CloudArmorPolicy`` (rule order and priorities are there).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import Spec
from constructs_lib.naming import NamePart
from constructs_lib.values import AnyCidr, one_of, pattern_type, unique


DEFAULT_RULE_PRIORITY = 2147483647


DENY_LIST_PRIORITY = 100


WAF_PRIORITY = 1000


RATE_LIMIT_PRIORITY = 10000


MAX_RANGES_PER_RULE = 10
"""Cloud Armor accepts at most 10 source ranges in one rule's ``src_ip_ranges``."""


RATE_LIMIT_INTERVALS: tuple[int, ...] = (10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600)
"""The only values Cloud Armor accepts for ``rate_limit_threshold.interval_sec`` / ``ban_threshold.interval_sec``."""


_WAF_FAMILIES = (
    "sqli", "xss", "lfi", "rfi", "rce", "methodenforcement", "scannerdetection",
    "protocolattack", "php", "sessionfixation",
)


_WAF_V33_ONLY = ("java", "nodejs")


PRECONFIGURED_WAF_RULES: frozenset[str] = frozenset(
    [f"{family}-v33-{track}" for family in (*_WAF_FAMILIES, *_WAF_V33_ONLY) for track in ("stable", "canary")]
    + [f"{family}-{track}" for family in _WAF_FAMILIES for track in ("stable", "canary")]
    + ["cve-canary", "json-sqli-canary"]
)
"""Cloud Armor's preconfigured WAF rule sets (ModSecurity CRS 3.3 ``-v33-`` and 3.0 names)."""


WafRuleSetName = one_of(sorted(PRECONFIGURED_WAF_RULES), "preconfigured Cloud Armor WAF rule set")
"""Spec field type: the name of one of ``PRECONFIGURED_WAF_RULES``."""

SignatureId = pattern_type(
    re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$"),
    "must be a WAF signature id such as owasp-crs-v030301-id942350-sqli (lowercase letters, digits and hyphens)",
)
"""Spec field type: a WAF signature id. They are quoted into a CEL expression: anything else (a
quote, a bracket) would break the expression or change what the rule matches."""


DenyAction = Literal["deny(403)", "deny(404)", "deny(429)", "deny(502)"]


class RateLimitSpec(Spec):
    """Per-client rate limiting. Defaults to ``throttle`` at 600 requests per 60 s per client IP,
    answering 429 above it: generous for an inference client, tight enough to stop one caller
    from starving a GPU fleet."""

    action: Literal["throttle", "rate_based_ban"] = Field(
        default="throttle",
        description="throttle rejects only the requests above the threshold; rate_based_ban also bans the "
        "client for ban_duration_sec. Defaults to throttle.",
    )
    count: int = Field(default=600, ge=1, description="Requests allowed per interval_sec and key. Defaults to 600.")
    interval_sec: int = Field(default=60, description=f"Window of the threshold, one of {RATE_LIMIT_INTERVALS}. Defaults to 60.")
    conform_action: Literal["allow"] = Field(default="allow", description="What happens below the threshold (Cloud Armor only accepts allow).")
    exceed_action: DenyAction = Field(default="deny(429)", description="What happens above the threshold. Defaults to deny(429), Too Many Requests.")
    enforce_on_key: Literal["IP", "ALL", "XFF_IP", "HTTP_HEADER", "HTTP_COOKIE", "HTTP_PATH"] = Field(
        default="IP", description="What a client is. Defaults to IP, the client's source address.",
    )
    enforce_on_key_name: str | None = Field(default=None, description="Header or cookie name; required with HTTP_HEADER / HTTP_COOKIE, rejected otherwise.")
    ban_duration_sec: int | None = Field(
        default=None,
        description="rate_based_ban only: how long a client stays banned. Defaults to 600 s with rate_based_ban.",
    )
    ban_threshold_count: int | None = Field(default=None, ge=1, description="rate_based_ban only: ban when this many requests arrive in ban_threshold_interval_sec (defaults to the rate threshold).")
    ban_threshold_interval_sec: int | None = Field(default=None, description=f"rate_based_ban only: window of ban_threshold_count, one of {RATE_LIMIT_INTERVALS}.")
    preview: bool = Field(default=False, description="Log what the rule would do without enforcing it. Defaults to False.")

    @field_validator("interval_sec", "ban_threshold_interval_sec")
    @classmethod
    def _interval(cls, value: int | None) -> int | None:
        if value is not None and value not in RATE_LIMIT_INTERVALS:
            raise ValueError(f"must be one of {', '.join(map(str, RATE_LIMIT_INTERVALS))} seconds")
        return value

    @field_validator("ban_duration_sec")
    @classmethod
    def _ban_duration(cls, value: int | None) -> int | None:
        if value is not None and value not in RATE_LIMIT_INTERVALS:
            raise ValueError(f"must be one of {', '.join(map(str, RATE_LIMIT_INTERVALS))} seconds")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "RateLimitSpec":
        ban_fields = {
            "ban_duration_sec": self.ban_duration_sec,
            "ban_threshold_count": self.ban_threshold_count,
            "ban_threshold_interval_sec": self.ban_threshold_interval_sec,
        }
        if self.action == "throttle":
            given = [name for name, value in ban_fields.items() if value is not None]
            if given:
                raise ValueError(f"{', '.join(given)} only apply to action rate_based_ban, not throttle")
        if (self.ban_threshold_count is None) != (self.ban_threshold_interval_sec is None):
            raise ValueError("ban_threshold_count and ban_threshold_interval_sec must be given together")
        needs_name = self.enforce_on_key in ("HTTP_HEADER", "HTTP_COOKIE")
        if needs_name and not self.enforce_on_key_name:
            raise ValueError(f"enforce_on_key {self.enforce_on_key} needs enforce_on_key_name (the header or cookie name)")
        if not needs_name and self.enforce_on_key_name is not None:
            raise ValueError(f"enforce_on_key_name only applies to HTTP_HEADER / HTTP_COOKIE, not {self.enforce_on_key}")
        return self


class WafRuleSpec(Spec):
    """One preconfigured WAF rule set. Defaults to sensitivity 1 (the fewest false positives) and
    deny(403)."""

    name: WafRuleSetName = Field(description="Rule set name, e.g. sqli-v33-stable, xss-v33-stable.")  # type: ignore[valid-type]
    sensitivity: int = Field(default=1, ge=1, le=4, description="Paranoia level 1-4. Defaults to 1: fewest false positives on JSON inference payloads.")
    action: DenyAction = Field(default="deny(403)", description="Defaults to deny(403).")
    opt_out_rule_ids: Annotated[tuple[SignatureId, ...], unique("signature")] = Field(  # type: ignore[valid-type]
        default=(), description="Signatures to exclude, e.g. owasp-crs-v030301-id942350-sqli.",
    )
    preview: bool = Field(default=False, description="Log only, do not enforce. Defaults to False.")

    @property
    def expression(self) -> str:
        """The CEL expression, e.g. ``evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1})``."""
        options = f"'sensitivity': {self.sensitivity}"
        if self.opt_out_rule_ids:
            options += ", 'opt_out_rule_ids': [" + ", ".join(f"'{rule}'" for rule in self.opt_out_rule_ids) + "]"
        return f"evaluatePreconfiguredWaf('{self.name}', {{{options}}})"


class CloudArmorSpec(Spec):
    """Tunables of ``CloudArmorPolicy``. The defaults give a policy that allows everything except
    clients above the rate limit; WAF rules, deny lists and Adaptive Protection are opt-in."""

    name: NamePart = Field(default="armor", description="Role part of the policy name: <app>-<env>-<name>. Defaults to 'armor'.")
    description: str = Field(default="Cloud Armor policy for model endpoints (managed by cdktf)", description="The policy's description in the console.")
    default_action: Literal["allow", "deny(403)", "deny(404)", "deny(502)"] = Field(
        default="allow", description="Action of the default rule (priority 2147483647). Defaults to allow: a public inference API.",
    )
    rate_limit: RateLimitSpec | None = Field(
        default_factory=RateLimitSpec,
        description="Per-client rate limiting; None turns it off. Defaults to RateLimitSpec() (throttle, 600 req/60 s per IP).",
    )
    waf_rules: Annotated[tuple[WafRuleSpec, ...], unique("rule set", key=lambda rule: rule.name)] = Field(default=(), description="Preconfigured WAF rule sets. None by default: they need tuning against real traffic.")
    deny_source_ranges: tuple[AnyCidr, ...] = Field(default=(), description="Source CIDRs always denied with 403.")
    adaptive_protection: bool = Field(default=False, description="Layer 7 DDoS Adaptive Protection (ML-based alerts). Off by default: full value needs Cloud Armor Enterprise.")
    adaptive_protection_rule_visibility: Literal["STANDARD", "PREMIUM"] = Field(default="STANDARD", description="Defaults to STANDARD.")
    json_parsing: Literal["DISABLED", "STANDARD", "STANDARD_WITH_GRAPHQL"] = Field(
        default="STANDARD",
        description="Parse JSON bodies for WAF rules. Defaults to STANDARD: inference requests are JSON, and parsing avoids false positives on raw bodies.",
    )
    log_level: Literal["NORMAL", "VERBOSE"] = Field(default="NORMAL", description="Defaults to NORMAL.")
