"""Backends of the global load balancer: one backend service + health check per model, and
backend buckets for static content.

``ModelBackend`` (what ``GlobalLoadBalancer.add_backend_service`` returns) sends traffic to the
fleet's regional instance groups (``InstanceGroupTarget``) or to GKE's network endpoint groups
(``NetworkEndpointGroupTarget``), never both in one service (the API rejects the mix). The
specs hold the API's rules so a bad combination fails here, not at apply: CDN TTLs per cache
mode, balancing mode per backend type, session affinity vs. locality policy, IAP vs. CDN.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Sequence, Union

from cdktf import Token
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    compute_backend_bucket,
    compute_backend_service,
    compute_health_check,
    data_google_secret_manager_secret_version,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import InstanceGroupTarget, NetworkEndpointGroupTarget
from constructs_lib.naming import NamePart, Naming

Target = Union[InstanceGroupTarget, NetworkEndpointGroupTarget]

MAX_TTL_SEC = 31_622_400
"""Cloud CDN's upper bound for default/max/client TTL (one year)."""

NEGATIVE_CACHING_CODES = (300, 301, 302, 307, 308, 404, 405, 410, 421, 451, 501)
"""The only status codes Cloud CDN accepts in ``negative_caching_policy``."""

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CUSTOM_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+:\s?.*$")
_SECRET_VERSION = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def _check_custom_headers(headers: tuple[str, ...]) -> tuple[str, ...]:
    """Custom request/response headers of backend services and buckets: ``Name: value``."""
    for header in headers:
        if not _CUSTOM_HEADER.fullmatch(header):
            raise ValueError(f"{header!r} must look like 'Header-Name: value'")
    return headers


class BackendHealthCheckSpec(BaseModel):
    """The backend service's health check (``google_compute_health_check``). Defaults to HTTP
    ``GET /healthz`` on the serving port every 10 s, 5 s timeout, healthy after 2 and unhealthy
    after 3 results (a replica that stops answering leaves rotation within ~30 s), logged."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["HTTP", "HTTPS", "HTTP2", "GRPC"] = Field(default="HTTP", description="Defaults to HTTP.")
    request_path: str = Field(default="/healthz", description="Probe path (HTTP/HTTPS/HTTP2). Defaults to /healthz, the fleet's auto-healing probe path.")
    host: str | None = Field(default=None, description="Host header of the probe. Defaults to the backend's IP.")
    grpc_service_name: str | None = Field(default=None, description="GRPC only: the service of grpc.health.v1.Health/Check.")
    port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Fixed probe port. Defaults to None = port_specification USE_SERVING_PORT: the backend's "
        "named port or endpoint port, so fleet and probe cannot drift apart.",
    )
    check_interval_sec: int = Field(default=10, ge=1, le=300, description="Defaults to 10.")
    timeout_sec: int = Field(default=5, ge=1, le=300, description="Defaults to 5; must be <= check_interval_sec.")
    healthy_threshold: int = Field(default=2, ge=1, le=10, description="Defaults to 2.")
    unhealthy_threshold: int = Field(default=3, ge=1, le=10, description="Defaults to 3.")
    logging: bool = Field(default=True, description="Log health state transitions. Defaults to on (low volume, essential when a model stops serving).")

    @field_validator("request_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in " ?#"):
            raise ValueError("must start with / and contain no spaces, ? or #")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "BackendHealthCheckSpec":
        if self.timeout_sec > self.check_interval_sec:
            raise ValueError(f"timeout_sec = {self.timeout_sec}: must be <= check_interval_sec ({self.check_interval_sec})")
        if self.grpc_service_name is not None and self.protocol != "GRPC":
            raise ValueError(f"grpc_service_name = {self.grpc_service_name!r}: only applies to protocol GRPC, not {self.protocol}")
        return self


class CacheKeyPolicySpec(BaseModel):
    """Cloud CDN cache key. Defaults to host + protocol + full query string (what the API uses),
    written out so the provider shows no drift."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    include_host: bool = True
    include_protocol: bool = True
    include_query_string: bool = True
    query_string_whitelist: tuple[str, ...] = Field(default=(), description="Only these query parameters are part of the key.")
    query_string_blacklist: tuple[str, ...] = Field(default=(), description="These query parameters are left out of the key.")
    include_http_headers: tuple[str, ...] = ()
    include_named_cookies: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _query(self) -> "CacheKeyPolicySpec":
        if self.query_string_whitelist and self.query_string_blacklist:
            raise ValueError("query_string_whitelist and query_string_blacklist are mutually exclusive; give one")
        if (self.query_string_whitelist or self.query_string_blacklist) and not self.include_query_string:
            raise ValueError("include_query_string = False: must be True when query_string_whitelist/blacklist is given")
        return self


class CdnPolicySpec(BaseModel):
    """Cloud CDN policy of a backend service or bucket. Only used with ``enable_cdn``.

    Defaults to CACHE_ALL_STATIC with the API's TTLs (default 3600 s, max 86400 s, client 3600 s),
    request coalescing on, negative caching off (a cached 404 would hide a model deployed a minute
    later). The API's rules are enforced here: no TTLs with USE_ORIGIN_HEADERS, no max_ttl with
    FORCE_CACHE_ALL, default/client TTL <= max TTL, negative caching policy only with negative caching.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_mode: Literal["CACHE_ALL_STATIC", "USE_ORIGIN_HEADERS", "FORCE_CACHE_ALL"] = Field(
        default="CACHE_ALL_STATIC", description="Defaults to CACHE_ALL_STATIC: caches static content types only, never JSON inference responses.",
    )
    default_ttl: int | None = Field(default=None, ge=0, le=MAX_TTL_SEC, description="Seconds. None = API default (3600).")
    max_ttl: int | None = Field(default=None, ge=0, le=MAX_TTL_SEC, description="Seconds, CACHE_ALL_STATIC only. None = API default (86400).")
    client_ttl: int | None = Field(default=None, ge=0, le=MAX_TTL_SEC, description="Seconds. None = API default (3600).")
    negative_caching: bool = Field(default=False, description="Cache error/redirect responses. Off by default.")
    negative_caching_policy: dict[int, int] = Field(default_factory=dict, description="Status code -> TTL seconds (<= 1800); needs negative_caching.")
    serve_while_stale: int | None = Field(default=None, ge=0, le=86400, description="Seconds to serve stale content while revalidating. None = API default (0).")
    request_coalescing: bool = Field(default=True, description="Collapse concurrent cache fills into one origin request. Defaults to on.")
    signed_url_cache_max_age_sec: int | None = Field(default=None, ge=0, description="Freshness of signed-URL responses.")
    cache_key: CacheKeyPolicySpec = Field(default_factory=CacheKeyPolicySpec)
    bypass_cache_on_request_headers: tuple[str, ...] = Field(default=(), max_length=5, description="Up to 5 headers that bypass the cache.")

    @field_validator("negative_caching_policy")
    @classmethod
    def _negative(cls, value: dict[int, int]) -> dict[int, int]:
        for code, ttl in value.items():
            if code not in NEGATIVE_CACHING_CODES:
                raise ValueError(f"code {code} is not allowed; allowed: {', '.join(map(str, NEGATIVE_CACHING_CODES))}")
            if not 0 <= ttl <= 1800:
                raise ValueError(f"ttl {ttl} for code {code} must be between 0 and 1800 seconds")
        return value

    @model_validator(mode="after")
    def _api_rules(self) -> "CdnPolicySpec":
        if self.cache_mode == "USE_ORIGIN_HEADERS":
            for field in ("default_ttl", "max_ttl", "client_ttl"):
                value = getattr(self, field)
                if value is not None:
                    raise ValueError(
                        f"{field} = {value}: must be omitted with cache_mode USE_ORIGIN_HEADERS (the origin's "
                        "Cache-Control decides; the API rejects TTLs in that mode)"
                    )
        if self.cache_mode == "FORCE_CACHE_ALL" and self.max_ttl is not None:
            raise ValueError(f"max_ttl = {self.max_ttl}: only applies to cache_mode CACHE_ALL_STATIC; omit it with FORCE_CACHE_ALL")
        if self.max_ttl is not None:
            for field in ("default_ttl", "client_ttl"):
                value = getattr(self, field)
                if value is not None and value > self.max_ttl:
                    raise ValueError(f"{field} = {value}: must be <= max_ttl ({self.max_ttl})")
        if self.negative_caching_policy and not self.negative_caching:
            raise ValueError("negative_caching_policy is set but negative_caching = False: enable negative_caching to use it")
        return self


class OutlierDetectionSpec(BaseModel):
    """Eject a replica that keeps failing while its health check passes (e.g. a GPU in a bad state).
    Defaults follow the API: 5 consecutive 5xx, evaluated every 10 s, 30 s base ejection, at most
    50 % of replicas ejected so an overloaded fleet is not emptied."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consecutive_errors: int = Field(default=5, ge=1)
    consecutive_gateway_failure: int = Field(default=3, ge=1)
    interval_sec: int = Field(default=10, ge=1)
    base_ejection_time_sec: int = Field(default=30, ge=1)
    max_ejection_percent: int = Field(default=50, ge=0, le=100)


class IapSpec(BaseModel):
    """Identity-Aware Proxy in front of a backend service. Without a client, Google's managed OAuth
    client is used. The client secret is never a literal: pass a Terraform token
    (``oauth2_client_secret``, e.g. a sensitive variable) or a Secret Manager version
    (``oauth2_client_secret_version``, read through a data source)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    oauth2_client_id: str | None = None
    oauth2_client_secret: str | None = Field(default=None, description="A Terraform token (sensitive variable, data source attribute); literals are rejected.", repr=False)
    oauth2_client_secret_version: str | None = Field(default=None, description="projects/<p>/secrets/<s>/versions/<v> holding the client secret.")

    @field_validator("oauth2_client_secret_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_VERSION.fullmatch(value):
            raise ValueError("must be a Secret Manager version: projects/<project>/secrets/<secret>/versions/<version or latest>")
        return value

    @model_validator(mode="after")
    def _client(self) -> "IapSpec":
        if self.oauth2_client_secret is not None and self.oauth2_client_secret_version is not None:
            raise ValueError("give oauth2_client_secret or oauth2_client_secret_version, not both")
        has_secret = self.oauth2_client_secret is not None or self.oauth2_client_secret_version is not None
        if has_secret != (self.oauth2_client_id is not None):
            raise ValueError("oauth2_client_id and a client secret must be given together (or neither, for Google's managed client)")
        return self


SessionAffinity = Literal["NONE", "CLIENT_IP", "GENERATED_COOKIE", "HEADER_FIELD", "HTTP_COOKIE"]
LocalityLbPolicy = Literal["ROUND_ROBIN", "LEAST_REQUEST", "RING_HASH", "RANDOM", "MAGLEV", "WEIGHTED_ROUND_ROBIN"]


class BackendServiceSpec(BaseModel):
    """Tunables of one model's backend service (``google_compute_backend_service``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str | None = None
    protocol: Literal["HTTP", "HTTPS", "HTTP2"] = Field(
        default="HTTP", description="LB -> model server protocol. Defaults to HTTP (HTTP2 for gRPC servers such as Triton's gRPC port).",
    )
    port_name: NamePart = Field(default="http", description="Named port of the instance groups. Defaults to 'http'; must match the fleet's named port.")
    timeout_sec: int = Field(
        default=60, ge=1, le=86400,
        description="Backend response timeout. Defaults to 60 s: the API's 30 s cuts off large-model inference "
        "(long prompts, big batches), while much longer lets stuck requests pile up.",
    )
    connection_draining_timeout_sec: int = Field(
        default=60, ge=0, le=3600,
        description="Time in-flight requests get when a VM leaves (scale-in, rolling update). Defaults to 60 s, "
        "the request timeout, so a request admitted before draining can finish.",
    )
    session_affinity: SessionAffinity = Field(default="NONE", description="Defaults to NONE: inference requests are stateless.")
    affinity_cookie_ttl_sec: int | None = Field(default=None, ge=0, le=86400, description="GENERATED_COOKIE / HTTP_COOKIE only.")
    consistent_hash_header: str | None = Field(default=None, description="HEADER_FIELD: the header to hash on.")
    consistent_hash_cookie: str | None = Field(default=None, description="HTTP_COOKIE: the cookie to hash on.")
    locality_lb_policy: LocalityLbPolicy | None = Field(
        default=None, description="Endpoint picking within a zone. None = API default ROUND_ROBIN; LEAST_REQUEST suits uneven inference latencies.",
    )
    balancing_mode: Literal["UTILIZATION", "RATE"] | None = Field(
        default=None, description="None = UTILIZATION for instance groups, RATE for network endpoint groups (the only mode they support here).",
    )
    max_utilization: float = Field(default=0.8, gt=0, le=1, description="UTILIZATION target. Defaults to 0.8, headroom for bursts.")
    max_rate_per_instance: float | None = Field(default=None, gt=0, description="Requests/s per VM; required for RATE with instance groups.")
    max_rate_per_endpoint: float | None = Field(default=None, gt=0, description="Requests/s per endpoint; required for network endpoint groups.")
    capacity_scaler: float = Field(default=1.0, ge=0, le=1, description="0 drains the backends, else 0.1-1.0. Defaults to 1.0.")
    health_check: BackendHealthCheckSpec = Field(default_factory=BackendHealthCheckSpec)
    outlier_detection: OutlierDetectionSpec | None = Field(
        default=None, description="Off by default: under a load spike overloaded replicas return 503s, and ejecting them shifts load onto the rest.",
    )
    logging: bool = Field(default=True, description="Request logging. Defaults to on (the per-model request log).")
    log_sample_rate: float = Field(default=1.0, ge=0, le=1, description="Share of requests logged. Defaults to 1.0.")
    custom_request_headers: tuple[str, ...] = Field(default=(), description="'Name: value' headers added to requests, e.g. 'X-Client-Region: {client_region}'.")
    custom_response_headers: tuple[str, ...] = Field(default=(), description="'Name: value' headers added to responses, e.g. 'X-Cache-Status: {cdn_cache_status}'.")
    enable_cdn: bool = Field(default=False, description="Cloud CDN. Off by default: model responses are rarely cacheable.")
    cdn_policy: CdnPolicySpec | None = Field(default=None, description="CDN policy; needs enable_cdn. Defaults to CdnPolicySpec() when enable_cdn.")
    iap: IapSpec | None = Field(default=None, description="Identity-Aware Proxy; off by default.")

    @field_validator("custom_request_headers", "custom_response_headers")
    @classmethod
    def _headers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_custom_headers(value)

    @model_validator(mode="after")
    def _api_rules(self) -> "BackendServiceSpec":
        if self.cdn_policy is not None and not self.enable_cdn:
            raise ValueError("cdn_policy is set but enable_cdn = False: set enable_cdn = True or drop cdn_policy")
        if self.enable_cdn and self.iap is not None:
            raise ValueError("enable_cdn = True: Cloud CDN and IAP cannot be enabled on the same backend service")
        if 0 < self.capacity_scaler < 0.1:
            raise ValueError(f"capacity_scaler = {self.capacity_scaler}: must be 0 (drain) or between 0.1 and 1.0")
        cookie = self.session_affinity in ("GENERATED_COOKIE", "HTTP_COOKIE")
        if self.affinity_cookie_ttl_sec is not None and not cookie:
            raise ValueError(f"affinity_cookie_ttl_sec = {self.affinity_cookie_ttl_sec}: only applies to session_affinity GENERATED_COOKIE or HTTP_COOKIE")
        if self.session_affinity in ("HEADER_FIELD", "HTTP_COOKIE"):
            if self.locality_lb_policy not in ("RING_HASH", "MAGLEV"):
                raise ValueError(
                    f"locality_lb_policy = {self.locality_lb_policy!r}: session_affinity {self.session_affinity} needs RING_HASH or MAGLEV"
                )
            needed = "consistent_hash_header" if self.session_affinity == "HEADER_FIELD" else "consistent_hash_cookie"
            if getattr(self, needed) is None:
                raise ValueError(f"{needed} is required with session_affinity {self.session_affinity}")
        for field, affinity in (("consistent_hash_header", "HEADER_FIELD"), ("consistent_hash_cookie", "HTTP_COOKIE")):
            if getattr(self, field) is not None and self.session_affinity != affinity:
                raise ValueError(f"{field} only applies to session_affinity {affinity}, not {self.session_affinity}")
        if self.consistent_hash_header is not None and not _HEADER_NAME.fullmatch(self.consistent_hash_header):
            raise ValueError(f"consistent_hash_header = {self.consistent_hash_header!r}: must be an HTTP header name")
        return self

    @property
    def effective_cdn_policy(self) -> CdnPolicySpec | None:
        """The CDN policy that is synthesized: None without CDN, the defaults if CDN is on without one."""
        if not self.enable_cdn:
            return None
        return self.cdn_policy or CdnPolicySpec()


def _is_instance_group(target: Any) -> bool:
    return isinstance(target, InstanceGroupTarget)


def _is_neg(target: Any) -> bool:
    return isinstance(target, NetworkEndpointGroupTarget) and not _is_instance_group(target)


def _cdn_policy_fields(policy: CdnPolicySpec, negative_caching_class: Any, bypass_class: Any) -> dict[str, Any]:
    """The ``cdn_policy`` arguments backend services and backend buckets share (their binding
    classes differ, so the caller passes its own nested-block classes)."""
    return dict(
        cache_mode=policy.cache_mode,
        default_ttl=policy.default_ttl,
        max_ttl=policy.max_ttl,
        client_ttl=policy.client_ttl,
        negative_caching=policy.negative_caching,
        negative_caching_policy=[
            negative_caching_class(code=code, ttl=ttl) for code, ttl in sorted(policy.negative_caching_policy.items())
        ] or None,
        serve_while_stale=policy.serve_while_stale,
        request_coalescing=policy.request_coalescing,
        signed_url_cache_max_age_sec=policy.signed_url_cache_max_age_sec,
        bypass_cache_on_request_headers=[
            bypass_class(header_name=h) for h in policy.bypass_cache_on_request_headers
        ] or None,
    )


def cdn_policy_for_backend_service(policy: CdnPolicySpec) -> Any:
    """``cdn_policy`` block of a backend service."""
    bs = compute_backend_service
    key = policy.cache_key
    return bs.ComputeBackendServiceCdnPolicy(
        **_cdn_policy_fields(
            policy, bs.ComputeBackendServiceCdnPolicyNegativeCachingPolicy,
            bs.ComputeBackendServiceCdnPolicyBypassCacheOnRequestHeaders,
        ),
        cache_key_policy=bs.ComputeBackendServiceCdnPolicyCacheKeyPolicy(
            include_host=key.include_host,
            include_protocol=key.include_protocol,
            include_query_string=key.include_query_string,
            query_string_whitelist=list(key.query_string_whitelist) or None,
            query_string_blacklist=list(key.query_string_blacklist) or None,
            include_http_headers=list(key.include_http_headers) or None,
            include_named_cookies=list(key.include_named_cookies) or None,
        ),
    )


class ModelBackend(Construct):
    """One model's backend service and its health check (construct ids ``default`` and ``health-check``).

    Exposes ``backend_service``, ``health_check``, ``id`` (the backend service id), ``name``
    (the model name), ``spec``, ``targets``, ``instance_group_targets`` and
    ``health_check_port(target)`` (the port probes reach on that target).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        name: str,
        role: str,
        targets: Sequence[Target],
        spec: BackendServiceSpec,
        load_balancing_scheme: str,
        security_policy: Any = None,
    ) -> None:
        field = f"backend_services[{name}]"
        targets = list(targets)
        if not targets:
            raise ConfigurationError(f"{field}.targets", targets, "give at least one InstanceGroupTarget or NetworkEndpointGroupTarget")
        kinds = set()
        for index, target in enumerate(targets):
            if _is_instance_group(target):
                kinds.add("instance group")
            elif _is_neg(target):
                kinds.add("network endpoint group")
            else:
                raise ConfigurationError(
                    f"{field}.targets[{index}]", type(target).__name__,
                    "must satisfy InstanceGroupTarget (instance_group, port_name, port, region, network_tag) "
                    "or NetworkEndpointGroupTarget (network_endpoint_groups, port)",
                )
        if len(kinds) > 1:
            raise ConfigurationError(
                f"{field}.targets", "instance groups and network endpoint groups",
                "one backend service takes one kind of backend; add a second backend service for the other kind",
            )
        uses_negs = kinds == {"network endpoint group"}
        mode = spec.balancing_mode or ("RATE" if uses_negs else "UTILIZATION")
        if uses_negs:
            if mode != "RATE":
                raise ConfigurationError(f"{field}.balancing_mode", mode, "network endpoint groups only support RATE here")
            if spec.max_rate_per_endpoint is None:
                raise ConfigurationError(f"{field}.max_rate_per_endpoint", None, "is required for network endpoint group backends (RATE balancing): requests/s one endpoint can serve")
        else:
            if spec.max_rate_per_endpoint is not None:
                raise ConfigurationError(f"{field}.max_rate_per_endpoint", spec.max_rate_per_endpoint, "only applies to network endpoint groups; use max_rate_per_instance for instance groups")
            if mode == "RATE" and spec.max_rate_per_instance is None:
                raise ConfigurationError(f"{field}.max_rate_per_instance", None, "is required with balancing_mode RATE: requests/s one VM can serve")
            for index, target in enumerate(targets):
                if target.port_name != spec.port_name:
                    raise ConfigurationError(
                        f"{field}.port_name", spec.port_name,
                        f"must be a named port of every instance group; targets[{index}] ({target.region}) exposes "
                        f"{target.port_name!r} on port {target.port}",
                    )
            groups = [t.instance_group for t in targets]
            if len(set(groups)) != len(groups):
                raise ConfigurationError(f"{field}.targets", "the same instance group twice", "list each instance group once")

        policy_id = _policy_id(security_policy, f"{field}.security_policy")
        if spec.iap is not None and spec.iap.oauth2_client_secret is not None and not Token.is_unresolved(spec.iap.oauth2_client_secret):
            raise ConfigurationError(
                f"{field}.iap.oauth2_client_secret", "<literal, hidden>",
                "must be a Terraform token (a sensitive TerraformVariable or a data source attribute) or use "
                "oauth2_client_secret_version; a literal secret would be stored in the synthesized JSON",
            )
        # Every check runs before the construct exists, so a failed call leaves nothing behind.
        super().__init__(scope, id_)
        self.name = name
        self.spec = spec
        self.targets: tuple[Target, ...] = tuple(targets)
        self.instance_group_targets: tuple[InstanceGroupTarget, ...] = tuple(t for t in targets if _is_instance_group(t))
        self.uses_network_endpoint_groups = uses_negs

        self.health_check = self._health_check(naming, role, name, spec.health_check)

        bs = compute_backend_service
        backends = []
        for target in targets:
            if uses_negs:
                backends.extend(
                    bs.ComputeBackendServiceBackend(
                        group=neg, balancing_mode="RATE",
                        max_rate_per_endpoint=spec.max_rate_per_endpoint,
                        capacity_scaler=spec.capacity_scaler,
                    )
                    for neg in target.network_endpoint_groups
                )
            else:
                backends.append(bs.ComputeBackendServiceBackend(
                    group=target.instance_group,
                    balancing_mode=mode,
                    max_utilization=spec.max_utilization if mode == "UTILIZATION" else None,
                    max_rate_per_instance=spec.max_rate_per_instance,
                    capacity_scaler=spec.capacity_scaler,
                ))

        cdn = spec.effective_cdn_policy
        self.backend_service = bs.ComputeBackendService(
            self, "default",
            name=naming.name(role, "bs", name),
            description=spec.description or f"Model {name} (managed by cdktf)",
            load_balancing_scheme=load_balancing_scheme,
            protocol=spec.protocol,
            port_name=spec.port_name,
            timeout_sec=spec.timeout_sec,
            connection_draining_timeout_sec=spec.connection_draining_timeout_sec,
            health_checks=[self.health_check.id],
            backend=backends,
            session_affinity=spec.session_affinity,
            affinity_cookie_ttl_sec=spec.affinity_cookie_ttl_sec,
            consistent_hash=bs.ComputeBackendServiceConsistentHash(
                http_header_name=spec.consistent_hash_header,
                http_cookie=bs.ComputeBackendServiceConsistentHashHttpCookie(
                    name=spec.consistent_hash_cookie,
                    ttl=bs.ComputeBackendServiceConsistentHashHttpCookieTtl(seconds=spec.affinity_cookie_ttl_sec)
                    if spec.affinity_cookie_ttl_sec is not None else None,
                ) if spec.consistent_hash_cookie else None,
            ) if spec.consistent_hash_header or spec.consistent_hash_cookie else None,
            locality_lb_policy=spec.locality_lb_policy,
            outlier_detection=bs.ComputeBackendServiceOutlierDetection(
                consecutive_errors=spec.outlier_detection.consecutive_errors,
                consecutive_gateway_failure=spec.outlier_detection.consecutive_gateway_failure,
                interval=bs.ComputeBackendServiceOutlierDetectionInterval(seconds=spec.outlier_detection.interval_sec),
                base_ejection_time=bs.ComputeBackendServiceOutlierDetectionBaseEjectionTime(
                    seconds=spec.outlier_detection.base_ejection_time_sec,
                ),
                max_ejection_percent=spec.outlier_detection.max_ejection_percent,
            ) if spec.outlier_detection else None,
            log_config=bs.ComputeBackendServiceLogConfig(
                enable=spec.logging, sample_rate=spec.log_sample_rate if spec.logging else None,
            ),
            custom_request_headers=list(spec.custom_request_headers) or None,
            custom_response_headers=list(spec.custom_response_headers) or None,
            enable_cdn=spec.enable_cdn,
            cdn_policy=cdn_policy_for_backend_service(cdn) if cdn else None,
            security_policy=policy_id,
            iap=self._iap(spec.iap) if spec.iap else None,
        )
        self.id: str = self.backend_service.id

    def health_check_port(self, target: Target) -> int:
        """The port health checks reach on ``target``: the fixed probe port, else the serving port."""
        return self.spec.health_check.port or target.port

    def _health_check(self, naming: Naming, role: str, name: str, hc: BackendHealthCheckSpec) -> Any:
        h = compute_health_check
        port_args: dict[str, Any] = (
            {"port": hc.port, "port_specification": "USE_FIXED_PORT"} if hc.port else {"port_specification": "USE_SERVING_PORT"}
        )
        http_args = {"request_path": hc.request_path, "host": hc.host, **port_args}
        blocks: dict[str, Any] = {}
        if hc.protocol == "HTTP":
            blocks["http_health_check"] = h.ComputeHealthCheckHttpHealthCheck(**http_args)
        elif hc.protocol == "HTTPS":
            blocks["https_health_check"] = h.ComputeHealthCheckHttpsHealthCheck(**http_args)
        elif hc.protocol == "HTTP2":
            blocks["http2_health_check"] = h.ComputeHealthCheckHttp2HealthCheck(**http_args)
        else:
            blocks["grpc_health_check"] = h.ComputeHealthCheckGrpcHealthCheck(grpc_service_name=hc.grpc_service_name, **port_args)
        return h.ComputeHealthCheck(
            self, "health-check",
            name=naming.name(role, "hc", name),
            description=f"Health of model {name} (managed by cdktf)",
            check_interval_sec=hc.check_interval_sec,
            timeout_sec=hc.timeout_sec,
            healthy_threshold=hc.healthy_threshold,
            unhealthy_threshold=hc.unhealthy_threshold,
            log_config=h.ComputeHealthCheckLogConfig(enable=hc.logging),
            **blocks,
        )

    def _iap(self, iap: IapSpec) -> Any:
        secret = iap.oauth2_client_secret
        if iap.oauth2_client_secret_version is not None:
            project, secret_name, version = _SECRET_VERSION.fullmatch(iap.oauth2_client_secret_version).groups()  # type: ignore[union-attr]
            secret = data_google_secret_manager_secret_version.DataGoogleSecretManagerSecretVersion(
                self, "iap-client-secret", project=project, secret=secret_name, version=version,
            ).secret_data
        return compute_backend_service.ComputeBackendServiceIap(
            enabled=True, oauth2_client_id=iap.oauth2_client_id, oauth2_client_secret=secret,
        )


def _policy_id(policy: Any, field: str) -> str | None:
    """A security policy id from a ``CloudArmorPolicy``-like object (``.id``) or an id string."""
    if policy is None or isinstance(policy, str):
        return policy
    policy_id = getattr(policy, "id", None)
    if not isinstance(policy_id, str):
        raise ConfigurationError(field, type(policy).__name__, "must be a CloudArmorPolicy or a security policy id")
    return policy_id


class BackendBucketSpec(BaseModel):
    """A backend bucket for static content (model cards, UI assets). CDN defaults to on: unlike
    inference responses, static objects are exactly what Cloud CDN is for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enable_cdn: bool = Field(default=True, description="Defaults to on.")
    cdn_policy: CdnPolicySpec | None = Field(default=None, description="Defaults to CdnPolicySpec() when enable_cdn.")
    custom_response_headers: tuple[str, ...] = ()
    compression_mode: Literal["AUTOMATIC", "DISABLED"] | None = Field(default=None, description="Dynamic compression; None = API default (DISABLED).")

    @field_validator("custom_response_headers")
    @classmethod
    def _headers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_custom_headers(value)

    @model_validator(mode="after")
    def _cdn(self) -> "BackendBucketSpec":
        if self.cdn_policy is not None and not self.enable_cdn:
            raise ValueError("cdn_policy is set but enable_cdn = False: set enable_cdn = True or drop cdn_policy")
        policy = self.cdn_policy
        if policy is not None:
            key = policy.cache_key
            if (not key.include_host or not key.include_protocol or not key.include_query_string
                    or key.query_string_blacklist or key.include_named_cookies):
                raise ValueError(
                    "cdn_policy.cache_key: backend buckets only support query_string_whitelist and include_http_headers"
                )
        return self


def backend_bucket(
    scope: Construct, id_: str, *, naming: Naming, role: str, name: str, bucket_name: str, spec: BackendBucketSpec,
) -> Any:
    """A ``google_compute_backend_bucket`` named ``<app>-<env>-<role>-bb-<name>``."""
    if not Token.is_unresolved(bucket_name) and not _BUCKET.fullmatch(bucket_name):
        raise ConfigurationError(
            f"backend_buckets[{name}].bucket_name", bucket_name,
            "must be a Cloud Storage bucket name (3-222 lowercase letters, digits, '-', '_' or '.')",
        )
    bb = compute_backend_bucket
    policy = (spec.cdn_policy or CdnPolicySpec()) if spec.enable_cdn else None
    return bb.ComputeBackendBucket(
        scope, id_,
        name=naming.name(role, "bb", name),
        description=f"Static content {name} (managed by cdktf)",
        bucket_name=bucket_name,
        enable_cdn=spec.enable_cdn,
        compression_mode=spec.compression_mode,
        custom_response_headers=list(spec.custom_response_headers) or None,
        cdn_policy=bb.ComputeBackendBucketCdnPolicy(
            **_cdn_policy_fields(
                policy, bb.ComputeBackendBucketCdnPolicyNegativeCachingPolicy,
                bb.ComputeBackendBucketCdnPolicyBypassCacheOnRequestHeaders,
            ),
            cache_key_policy=bb.ComputeBackendBucketCdnPolicyCacheKeyPolicy(
                query_string_whitelist=list(policy.cache_key.query_string_whitelist) or None,
                include_http_headers=list(policy.cache_key.include_http_headers) or None,
            ) if policy.cache_key.query_string_whitelist or policy.cache_key.include_http_headers else None,
        ) if policy else None,
    )
