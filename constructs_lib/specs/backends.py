"""Specs of the load balancer's backends: one backend service per model (health check, CDN,
session affinity, outlier detection, IAP) and backend buckets for static content.

The specs hold the API's rules so a bad combination fails at synth, not at apply: CDN TTLs per
cache mode, session affinity vs. locality policy, IAP vs. CDN. The construct is
``constructs_lib.edge.backends``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import Spec
from constructs_lib.values import HeaderLine, HeaderName, RequestPath


MAX_DRAINING_SEC = 3600
"""The API's upper bound for ``connection_draining_timeout_sec`` (one hour)."""


MAX_TTL_SEC = 31_622_400
"""Cloud CDN's upper bound for default/max/client TTL (one year)."""


NEGATIVE_CACHING_CODES = (300, 301, 302, 307, 308, 404, 405, 410, 421, 451, 501)
"""The only status codes Cloud CDN accepts in ``negative_caching_policy``."""


_SECRET_VERSION = re.compile(r"^projects/([^/]+)/secrets/([^/]+)/versions/([^/]+)$")


class BackendHealthCheckSpec(Spec):
    """The backend service's health check (``google_compute_health_check``). Defaults to HTTP
    ``GET /healthz`` on the serving port every 10 s, 5 s timeout, healthy after 2 and unhealthy
    after 3 results (a replica that stops answering leaves rotation within ~30 s), logged."""

    protocol: Literal["HTTP", "HTTPS", "HTTP2", "GRPC"] = Field(default="HTTP", description="Defaults to HTTP.")
    request_path: RequestPath | None = Field(
        default=None, description="Probe path (HTTP/HTTPS/HTTP2). Defaults to the model's health_path, what its servers answer.",
    )
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

    @model_validator(mode="after")
    def _consistent(self) -> "BackendHealthCheckSpec":
        if self.timeout_sec > self.check_interval_sec:
            raise ValueError(f"timeout_sec = {self.timeout_sec}: must be <= check_interval_sec ({self.check_interval_sec})")
        if self.grpc_service_name is not None and self.protocol != "GRPC":
            raise ValueError(f"grpc_service_name = {self.grpc_service_name!r}: only applies to protocol GRPC, not {self.protocol}")
        return self


class CacheKeyPolicySpec(Spec):
    """Cloud CDN cache key. Defaults to host + protocol + full query string (what the API uses),
    written out so the provider shows no drift."""

    include_host: bool = Field(default=True, description="Requests for different hosts are cached apart. Defaults to True.")
    include_protocol: bool = Field(default=True, description="HTTP and HTTPS are cached apart. Defaults to True.")
    include_query_string: bool = Field(
        default=True, description="The query string is part of the key (all of it unless a whitelist/blacklist narrows it). Defaults to True.",
    )
    query_string_whitelist: tuple[str, ...] = Field(default=(), description="Only these query parameters are part of the key.")
    query_string_blacklist: tuple[str, ...] = Field(default=(), description="These query parameters are left out of the key.")
    include_http_headers: tuple[str, ...] = Field(default=(), description="Request headers that are part of the key. Defaults to none.")
    include_named_cookies: tuple[str, ...] = Field(default=(), description="Cookies that are part of the key. Defaults to none.")

    @model_validator(mode="after")
    def _query(self) -> "CacheKeyPolicySpec":
        if self.query_string_whitelist and self.query_string_blacklist:
            raise ValueError("query_string_whitelist and query_string_blacklist are mutually exclusive; give one")
        if (self.query_string_whitelist or self.query_string_blacklist) and not self.include_query_string:
            raise ValueError("include_query_string = False: must be True when query_string_whitelist/blacklist is given")
        return self


class CdnPolicySpec(Spec):
    """Cloud CDN policy of a backend service or bucket. Only used with ``enable_cdn``.

    Defaults to CACHE_ALL_STATIC with the API's TTLs (default 3600 s, max 86400 s, client 3600 s),
    request coalescing on, negative caching off (a cached 404 would hide a model deployed a minute
    later). The API's rules are enforced here: no TTLs with USE_ORIGIN_HEADERS, no max_ttl with
    FORCE_CACHE_ALL, default/client TTL <= max TTL, negative caching policy only with negative caching.
    """

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
    cache_key: CacheKeyPolicySpec = Field(
        default_factory=CacheKeyPolicySpec, description="What makes two requests the same cache entry. Defaults to host + protocol + query string.",
    )
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


class OutlierDetectionSpec(Spec):
    """Eject a replica that keeps failing while its health check passes (e.g. a GPU in a bad state).
    Defaults follow the API: 5 consecutive 5xx, evaluated every 10 s, 30 s base ejection, at most
    50 % of replicas ejected so an overloaded fleet is not emptied."""

    consecutive_errors: int = Field(default=5, ge=1, description="Consecutive 5xx responses that eject a replica. Defaults to 5.")
    consecutive_gateway_failure: int = Field(
        default=3, ge=1, description="Consecutive 502/503/504 (or connection failures) that eject a replica. Defaults to 3.",
    )
    interval_sec: int = Field(default=10, ge=1, description="Seconds between ejection sweeps. Defaults to 10.")
    base_ejection_time_sec: int = Field(
        default=30, ge=1, description="Seconds a replica stays ejected, multiplied by how often it was ejected. Defaults to 30.",
    )
    max_ejection_percent: int = Field(
        default=50, ge=0, le=100, description="Most replicas that may be ejected at once, in percent. Defaults to 50: an overloaded fleet is not emptied.",
    )


class IapSpec(Spec):
    """Identity-Aware Proxy in front of a backend service. Without a client, Google's managed OAuth
    client is used. The client secret is never a literal: pass a Terraform token
    (``oauth2_client_secret``, e.g. a sensitive variable) or a Secret Manager version
    (``oauth2_client_secret_version``, read through a data source)."""

    oauth2_client_id: str | None = Field(
        default=None, description="OAuth client of the consent screen. Defaults to None: Google's managed client (no secret needed).",
    )
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


class BackendServiceSpec(Spec):
    """Tunables of one model's backend service (``google_compute_backend_service``)."""

    description: str | None = Field(default=None, description="Free text on the backend service. Defaults to none.")
    protocol: Literal["HTTP", "HTTPS", "HTTP2"] = Field(
        default="HTTP", description="LB -> model server protocol. Defaults to HTTP (HTTP2 for gRPC servers such as Triton's gRPC port).",
    )
    timeout_sec: int = Field(
        default=60, ge=1, le=86400,
        description="Backend response timeout. Defaults to 60 s: the API's 30 s cuts off large-model inference "
        "(long prompts, big batches), while much longer lets stuck requests pile up.",
    )
    connection_draining_timeout_sec: int | None = Field(
        default=None, ge=0, le=MAX_DRAINING_SEC,
        description="Time in-flight requests get when a replica leaves (scale-in, rolling update, pod termination). "
        f"Defaults to None = timeout_sec (at most {MAX_DRAINING_SEC} s, the API's limit): a request admitted just before "
        "draining starts may run for the whole request timeout, so a shorter drain cuts long inferences on every "
        "scale-in and rollout. An explicit value is kept as given.",
    )
    session_affinity: SessionAffinity = Field(default="NONE", description="Defaults to NONE: inference requests are stateless.")
    affinity_cookie_ttl_sec: int | None = Field(default=None, ge=0, le=86400, description="GENERATED_COOKIE / HTTP_COOKIE only.")
    consistent_hash_header: HeaderName | None = Field(default=None, description="HEADER_FIELD: the header to hash on.")
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
    health_check: BackendHealthCheckSpec = Field(
        default_factory=BackendHealthCheckSpec, description="The load balancer's health check of the model's replicas (probe path, timing).",
    )
    outlier_detection: OutlierDetectionSpec | None = Field(
        default=None, description="Off by default: under a load spike overloaded replicas return 503s, and ejecting them shifts load onto the rest.",
    )
    logging: bool = Field(default=True, description="Request logging. Defaults to on (the per-model request log).")
    log_sample_rate: float = Field(default=1.0, ge=0, le=1, description="Share of requests logged. Defaults to 1.0.")
    custom_request_headers: tuple[HeaderLine, ...] = Field(default=(), description="'Name: value' headers added to requests, e.g. 'X-Client-Region: {client_region}'.")
    custom_response_headers: tuple[HeaderLine, ...] = Field(default=(), description="'Name: value' headers added to responses, e.g. 'X-Cache-Status: {cdn_cache_status}'.")
    enable_cdn: bool = Field(default=False, description="Cloud CDN. Off by default: model responses are rarely cacheable.")
    cdn_policy: CdnPolicySpec | None = Field(default=None, description="CDN policy; needs enable_cdn. Defaults to CdnPolicySpec() when enable_cdn.")
    iap: IapSpec | None = Field(default=None, description="Identity-Aware Proxy; off by default.")

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
        return self

    @property
    def draining_timeout_sec(self) -> int:
        """The connection draining timeout that is synthesized: ``connection_draining_timeout_sec`` when
        given, else ``timeout_sec`` capped at the API's ``MAX_DRAINING_SEC``."""
        if self.connection_draining_timeout_sec is not None:
            return self.connection_draining_timeout_sec
        return min(self.timeout_sec, MAX_DRAINING_SEC)

    @property
    def effective_cdn_policy(self) -> CdnPolicySpec | None:
        """The CDN policy that is synthesized: None without CDN, the defaults if CDN is on without one."""
        if not self.enable_cdn:
            return None
        return self.cdn_policy or CdnPolicySpec()


class BackendBucketSpec(Spec):
    """A backend bucket for static content (model cards, UI assets). CDN defaults to on: unlike
    inference responses, static objects are exactly what Cloud CDN is for."""

    enable_cdn: bool = Field(default=True, description="Defaults to on.")
    cdn_policy: CdnPolicySpec | None = Field(default=None, description="Defaults to CdnPolicySpec() when enable_cdn.")
    custom_response_headers: tuple[HeaderLine, ...] = Field(
        default=(), description="'Name: value' headers added to responses, e.g. 'Cache-Control: public, max-age=3600'.",
    )
    compression_mode: Literal["AUTOMATIC", "DISABLED"] | None = Field(default=None, description="Dynamic compression; None = API default (DISABLED).")

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

