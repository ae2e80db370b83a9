"""Specs of the global load balancer's frontend and routing: addresses, HTTPS and certificates,
the SSL policy, QUIC; route paths, hosts, header matches, canary weights and retries.

Constructs: ``constructs_lib.edge.load_balancer`` (frontend) and ``constructs_lib.edge.url_map``
(the routing table).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Mapping, Sequence, Union

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, invalid, rule
from constructs_lib.naming import NamePart
from constructs_lib.values import check_header_name, unique


RETRY_CONDITIONS: tuple[str, ...] = (
    "5xx", "gateway-error", "reset", "connect-failure", "retriable-4xx", "refused-stream",
    "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
)
"""Retry conditions the global external Application Load Balancer accepts."""


_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


MAX_PATH_LENGTH = 1024


HEALTH_ROUTE_PREFIX = "/healthz/"
"""Paths under this prefix belong to the load balancer's per-model health routes
(``health_route_path``); model routes and static paths may not use them."""


def health_route_path(model: str) -> str:
    """Where a model's health endpoint is reachable through the load balancer: ``/healthz/<model>``
    (an exact-match route that rewrites the path to the model's ``health_path``). Uptime checks
    through the load balancer probe this path, one per model (canaries included)."""
    return HEALTH_ROUTE_PREFIX + model


def check_not_health_route(path: str, field: str) -> None:
    """Reject a model route or static path under ``HEALTH_ROUTE_PREFIX`` (reserved for health routes)."""
    if isinstance(path, str) and path.startswith(HEALTH_ROUTE_PREFIX):
        raise ConfigurationError(
            field, path,
            f"paths under {HEALTH_ROUTE_PREFIX} are reserved for the load balancer's per-model health routes "
            f"({HEALTH_ROUTE_PREFIX}<model>); route the model under another path",
        )


class RetryPolicy(Spec):
    """Per-route retries. Defaults to one retry on connect-failure / refused-stream only: the
    request never reached a model server, so retrying cannot run an expensive (and not always
    idempotent) inference twice."""

    num_retries: int = Field(default=1, ge=1, description="Retries after the first attempt. Defaults to 1.")
    retry_conditions: tuple[str, ...] = Field(
        default=("connect-failure", "refused-stream"), min_length=1,
        description="When to retry (Envoy retry-on names). Defaults to failures before the request reached a model server.",
    )
    per_try_timeout_sec: int | None = Field(default=None, ge=1, description="Timeout of each attempt; None = the route's timeout.")

    @field_validator("retry_conditions")
    @classmethod
    def _conditions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in RETRY_CONDITIONS]
        if unknown:
            raise ValueError(f"unknown retry condition(s) {', '.join(unknown)}; allowed: {', '.join(RETRY_CONDITIONS)}")
        return value


def check_domain(value: str, field: str, *, allow_wildcard: bool) -> str:
    """Return ``value`` if it is a lowercase fully qualified domain name (``*.`` only if allowed)."""
    if not isinstance(value, str):
        raise ConfigurationError(field, value, "must be a domain name string")
    name = value
    if value.startswith("*."):
        if not allow_wildcard:
            raise ConfigurationError(
                field, value,
                "wildcard domains are not supported by Google-managed certificates; list each host, or use a "
                "Certificate Manager map (certificate_map) with a DNS-authorized wildcard certificate",
            )
        name = value[2:]
    labels = name.split(".")
    if (len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()):
        raise ConfigurationError(
            field, value,
            "must be a lowercase fully qualified domain name such as api.example.com (labels of 1-63 letters, "
            "digits and hyphens, not starting or ending with a hyphen, at most 253 characters)",
        )
    return value


ManagedDomain = Annotated[str, rule(lambda value, field: check_domain(value, field, allow_wildcard=False))]
"""Spec field type: a domain of a Google-managed certificate (no wildcard)."""

RoutePath = Annotated[str, rule(lambda path, field: check_route_path(path, field))]
"""Spec field type: a routed path, ``/exact`` or ``/prefix/*`` (checked like add_model_route does)."""


def check_route_path(path: str, field: str) -> tuple[Literal["full", "prefix"], str]:
    """Classify a path-rule style path: ``/a/b`` is an exact match, ``/a/*`` a prefix match on ``/a/``."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH_LENGTH:
        raise ConfigurationError(field, path, f"must start with / and be at most {MAX_PATH_LENGTH} characters")
    if any(c in path for c in "?# "):
        raise ConfigurationError(field, path, "must not contain ?, # or spaces (query strings are not matched by paths)")
    if "*" in path[:-1] or (path.endswith("*") and not path.endswith("/*")):
        raise ConfigurationError(field, path, "* is only allowed as a trailing /* (e.g. /v1/models/resnet/*)")
    if path.endswith("/*"):
        return "prefix", path[:-1]
    return "full", path


def check_hosts(hosts: Sequence[str], field: str) -> tuple[str, ...]:
    """Host-rule hosts: domain names, ``*.`` wildcards allowed; sorted and de-duplicated."""
    for index, host in enumerate(hosts):
        check_domain(host, f"{field}[{index}]", allow_wildcard=True)
    return tuple(sorted(set(hosts)))


def check_headers(headers: Mapping[str, str], field: str) -> tuple[tuple[str, str], ...]:
    """Exact-match request headers, e.g. ``{"x-model-version": "v2"}``."""
    for name, value in headers.items():
        check_header_name(name, f"{field}.{name}")
        if not isinstance(value, str) or not value:
            raise ConfigurationError(f"{field}.{name}", value, "must be a non-empty string to match exactly")
    return tuple(sorted(headers.items()))


def check_weights(weights: Mapping[str, int], field: str) -> None:
    """A canary split: two or more backends, integer percentages that sum to 100."""
    if len(weights) < 2:
        raise ConfigurationError(field, dict(weights), "a traffic split needs at least two backend services")
    for label, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise ConfigurationError(f"{field}[{label}]", weight, "must be an integer percentage between 0 and 100")
    total = sum(weights.values())
    if total != 100:
        raise ConfigurationError(field, dict(weights), f"weights must sum to 100 (they sum to {total})")



MAX_DOMAINS_PER_CERTIFICATE = 100


CERTIFICATE_MANAGER_PREFIX = "//certificatemanager.googleapis.com/"


class SslPolicySpec(Spec):
    """The HTTPS proxy's SSL policy. Defaults to MODERN with TLS 1.2 minimum: every current client,
    no TLS 1.0/1.1 and no weak ciphers (what scanners such as checkov require)."""

    min_tls_version: Literal["TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3"] = Field(default="TLS_1_2", description="Defaults to TLS_1_2.")
    profile: Literal["COMPATIBLE", "MODERN", "RESTRICTED", "CUSTOM"] = Field(default="MODERN", description="Defaults to MODERN.")
    custom_features: tuple[str, ...] = Field(default=(), description="Cipher suites; CUSTOM profile only.")

    @model_validator(mode="after")
    def _custom(self) -> "SslPolicySpec":
        if self.profile == "CUSTOM" and not self.custom_features:
            raise ValueError("profile CUSTOM needs custom_features (the allowed cipher suites)")
        if self.profile != "CUSTOM" and self.custom_features:
            raise ValueError(f"custom_features only apply to profile CUSTOM, not {self.profile}")
        return self


class LoadBalancerSpec(Spec):
    """Tunables of ``GlobalLoadBalancer``; the ``[load_balancer]`` section of an environment file."""

    name: NamePart = Field(default="lb", max_length=20, description="Role part of every physical name: <app>-<env>-<name>-... Defaults to 'lb'; change it to run two load balancers in one environment.")
    load_balancing_scheme: Literal["EXTERNAL_MANAGED", "EXTERNAL"] = Field(
        default="EXTERNAL_MANAGED",
        description="Defaults to EXTERNAL_MANAGED (Envoy-based global external Application LB): weighted canaries, header routes, "
        "retries, outlier detection. EXTERNAL is the classic LB (plain path rules only).",
    )
    domains: Annotated[tuple[ManagedDomain, ...], unique("domain")] = Field(default=(), description="Domains of the Google-managed certificate (at most 100, no wildcards). Giving domains turns HTTPS on.")
    ssl_certificates: tuple[str, ...] = Field(default=(), description="Existing compute SSL certificate ids/self links to serve (besides the managed one).")
    certificate_map: str | None = Field(default=None, description="Certificate Manager map id (projects/.../certificateMaps/...) instead of compute certificates.")
    https: bool | None = Field(default=None, description="None = on when domains, ssl_certificates or certificate_map are given.")
    http_redirect: bool | None = Field(default=None, description="HTTP :80 -> HTTPS 301 redirect. None = on whenever HTTPS is on.")
    ipv6: bool = Field(default=False, description="Also reserve a global IPv6 address with its own forwarding rules. Off by default.")
    ssl_policy: Union[SslPolicySpec, str] = Field(default_factory=SslPolicySpec, description="A policy to create, or the id of an existing SSL policy.")
    quic_override: Literal["NONE", "ENABLE", "DISABLE"] = Field(default="NONE", description="HTTP/3 (QUIC) negotiation. Defaults to NONE: Google decides.")
    http_keep_alive_timeout_sec: int | None = Field(default=None, ge=5, le=1200, description="Client keep-alive. None = API default (610 s).")
    prevent_destroy: bool = Field(default=True, description="prevent_destroy on the reserved IP addresses: DNS points at them. Defaults to True.")
    default_backend: NamePart | None = Field(
        default=None,
        description="Model (backend service) or backend bucket that gets requests no route matches. Defaults to None = "
        "answer them 404 at the load balancer (EXTERNAL_MANAGED fault-injection abort), so '/', scanners and typos never "
        "reach a model. Required with the classic EXTERNAL scheme, which cannot answer 404 itself.",
    )

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) > MAX_DOMAINS_PER_CERTIFICATE:
            raise ValueError(
                f"{len(value)} domains: a Google-managed certificate takes at most {MAX_DOMAINS_PER_CERTIFICATE}; "
                "use a Certificate Manager map (certificate_map) for more"
            )
        return value

    @model_validator(mode="after")
    def _frontend(self) -> "LoadBalancerSpec":
        if self.certificate_map is not None and (self.domains or self.ssl_certificates):
            raise ValueError("certificate_map replaces compute certificates: give certificate_map or domains/ssl_certificates, not both")
        if self.https is True and not self.has_certificates:
            raise ValueError("https = True: needs domains (managed certificate), ssl_certificates or certificate_map")
        if self.https is False and self.has_certificates:
            raise ValueError("https = False: but domains/ssl_certificates/certificate_map are given; drop them or turn HTTPS on")
        if self.http_redirect is True and not self.https_enabled:
            raise ValueError("http_redirect = True: a redirect to HTTPS needs HTTPS (give domains, ssl_certificates or certificate_map)")
        if self.load_balancing_scheme == "EXTERNAL" and self.default_backend is None:
            raise invalid(
                "default_backend", None,
                "load_balancing_scheme EXTERNAL cannot answer unmatched requests with 404 (the classic load balancer has no "
                "fault injection): name the model or backend bucket that gets them, or use EXTERNAL_MANAGED",
            )
        return self

    @property
    def has_certificates(self) -> bool:
        return bool(self.domains or self.ssl_certificates or self.certificate_map)

    @property
    def https_enabled(self) -> bool:
        return self.has_certificates if self.https is None else self.https

    @property
    def redirect_enabled(self) -> bool:
        return self.https_enabled if self.http_redirect is None else self.http_redirect

