"""Backends of the global load balancer: one backend service + health check per model, and
backend buckets for static content.

``ModelBackend`` (what ``GlobalLoadBalancer.add_backend_service`` returns) sends traffic to
``BackendTarget`` objects: a VM fleet's regional instance groups or a GKE model's network endpoint
groups, never both in one service (the API rejects the mix). Each target renders its own
backend blocks with ``instance_group_backend`` / ``endpoint_group_backends`` below, which hold
the balancing-mode rules of each kind. Specs: ``constructs_lib.specs.backends``.
"""

from __future__ import annotations

from typing import Any, Sequence

from constructs import Construct

from constructs_lib._google import (
    compute_backend_bucket,
    compute_backend_service,
    compute_health_check,
    data_google_secret_manager_secret_version,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import BackendTarget
from constructs_lib.naming import Naming, check_bucket_name
from constructs_lib.specs.backends import (
    _SECRET_VERSION,
    BackendBucketSpec,
    BackendHealthCheckSpec,
    BackendServiceSpec,
    CdnPolicySpec,
    IapSpec,
)
from constructs_lib.values import check_request_path, is_token, repeated

DEFAULT_HEALTH_PATH = "/healthz"


def instance_group_backend(group: str, spec: BackendServiceSpec, field: str) -> Any:
    """The backend block for one managed instance group: UTILIZATION balancing (``max_utilization``)
    unless the spec asks for RATE (then ``max_rate_per_instance`` is required)."""
    mode = spec.balancing_mode or "UTILIZATION"
    if spec.max_rate_per_endpoint is not None:
        raise ConfigurationError(f"{field}.max_rate_per_endpoint", spec.max_rate_per_endpoint, "only applies to network endpoint groups; use max_rate_per_instance for instance groups")
    if mode == "RATE" and spec.max_rate_per_instance is None:
        raise ConfigurationError(f"{field}.max_rate_per_instance", None, "is required with balancing_mode RATE: requests/s one VM can serve")
    return compute_backend_service.ComputeBackendServiceBackend(
        group=group,
        balancing_mode=mode,
        max_utilization=spec.max_utilization if mode == "UTILIZATION" else None,
        max_rate_per_instance=spec.max_rate_per_instance,
        capacity_scaler=spec.capacity_scaler,
    )


def endpoint_group_backends(groups: Sequence[str], spec: BackendServiceSpec, field: str, default_rate: float) -> list[Any]:
    """Backend blocks for zonal network endpoint groups: RATE balancing at ``max_rate_per_endpoint``
    (``default_rate`` when the spec gives none), the only mode they support here."""
    mode = spec.balancing_mode or "RATE"
    if mode != "RATE":
        raise ConfigurationError(f"{field}.balancing_mode", mode, "network endpoint groups only support RATE here")
    if spec.max_rate_per_instance is not None:
        raise ConfigurationError(f"{field}.max_rate_per_instance", spec.max_rate_per_instance, "only applies to instance groups; use max_rate_per_endpoint")
    return [
        compute_backend_service.ComputeBackendServiceBackend(
            group=group, balancing_mode="RATE",
            max_rate_per_endpoint=spec.max_rate_per_endpoint or default_rate,
            capacity_scaler=spec.capacity_scaler,
        )
        for group in groups
    ]


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
    (the model name), ``service_name`` (the backend service's name, a plain string), ``spec``,
    ``targets``, ``health_path`` (the model's health endpoint) and ``health_check_port(target)``
    (the port probes reach on that target). The health check probes ``spec.health_check.request_path``
    or, by default, ``health_path``. Connection draining defaults to the request timeout
    (``BackendServiceSpec.draining_timeout_sec``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        name: str,
        role: str,
        targets: Sequence[BackendTarget],
        spec: BackendServiceSpec,
        load_balancing_scheme: str,
        security_policy: Any = None,
        health_path: str = DEFAULT_HEALTH_PATH,
    ) -> None:
        field = f"backend_services[{name}]"
        targets = list(targets)
        if not targets:
            raise ConfigurationError(f"{field}.targets", targets, "give at least one BackendTarget (a fleet's instance group, a workload's NEGs)")
        check_request_path(health_path, f"{field}.health_path")
        for index, target in enumerate(targets):
            if not isinstance(target, BackendTarget):
                raise ConfigurationError(
                    f"{field}.targets[{index}]", type(target).__name__,
                    "must be a BackendTarget (backend_kind, port, port_name, location, backend_blocks(), "
                    "admits_health_checks(), dependencies), e.g. a ModelServerFleet or a ModelWorkload's negs",
                )
        if len({target.backend_kind for target in targets}) > 1:
            raise ConfigurationError(
                f"{field}.targets", "instance groups and network endpoint groups",
                "one backend service takes one kind of backend; add a second backend service for the other kind",
            )
        if len({id(target) for target in targets}) != len(targets):
            raise ConfigurationError(f"{field}.targets", "the same target twice", "list each target once")
        port_names = {target.port_name for target in targets}
        if len(port_names) > 1:
            raise ConfigurationError(
                f"{field}.targets", sorted(port_names), "every target of one backend service must expose the same named port",
            )
        blocks = [block for target in targets for block in target.backend_blocks(spec, field)]
        twice = repeated(block.group for block in blocks)
        if twice:
            # Two targets for one group (two fakes or handles of the same MIG): the API rejects a
            # backend service that lists a group twice.
            raise ConfigurationError(
                f"{field}.targets", "the same backend group twice",
                f"list each instance group or network endpoint group once; repeated: {', '.join(twice)}",
            )
        policy_id = _policy_id(security_policy, f"{field}.security_policy")
        if spec.iap is not None and spec.iap.oauth2_client_secret is not None and not is_token(spec.iap.oauth2_client_secret):
            raise ConfigurationError(
                f"{field}.iap.oauth2_client_secret", "<literal, hidden>",
                "must be a Terraform token (a sensitive TerraformVariable or a data source attribute) or use "
                "oauth2_client_secret_version; a literal secret would be stored in the synthesized JSON",
            )
        # Every check runs before the construct exists, so a failed call leaves nothing behind.
        super().__init__(scope, id_)
        self.name = name
        self.service_name = naming.name(role, "bs", name)
        self.spec = spec
        self.health_path = health_path
        self.targets: tuple[BackendTarget, ...] = tuple(targets)
        self.health_check = self._health_check(naming, role, name, spec.health_check, health_path)

        bs = compute_backend_service
        dependencies: list[Any] = []
        for target in targets:  # each once, in target order (targets of one workload share them)
            dependencies.extend(d for d in target.dependencies if not any(d is seen for seen in dependencies))
        cdn = spec.effective_cdn_policy
        self.backend_service = bs.ComputeBackendService(
            self, "default",
            name=self.service_name,
            description=spec.description or f"Model {name} (managed by cdktf)",
            load_balancing_scheme=load_balancing_scheme,
            protocol=spec.protocol,
            port_name=targets[0].port_name,
            timeout_sec=spec.timeout_sec,
            connection_draining_timeout_sec=spec.draining_timeout_sec,  # covers the request timeout unless set
            health_checks=[self.health_check.id],
            backend=blocks,
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
            depends_on=dependencies or None,
        )
        self.id: str = self.backend_service.id

    def health_check_port(self, target: BackendTarget) -> int:
        """The port health checks reach on ``target``: the fixed probe port, else the serving port."""
        return self.spec.health_check.port or target.port

    def _health_check(self, naming: Naming, role: str, name: str, hc: BackendHealthCheckSpec, health_path: str) -> Any:
        h = compute_health_check
        port_args: dict[str, Any] = (
            {"port": hc.port, "port_specification": "USE_FIXED_PORT"} if hc.port else {"port_specification": "USE_SERVING_PORT"}
        )
        http_args = {"request_path": hc.request_path or health_path, "host": hc.host, **port_args}
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


def backend_bucket(
    scope: Construct, id_: str, *, naming: Naming, role: str, name: str, bucket_name: str, spec: BackendBucketSpec,
) -> Any:
    """A ``google_compute_backend_bucket`` named ``<app>-<env>-<role>-bb-<name>``."""
    if not is_token(bucket_name):
        check_bucket_name(bucket_name, f"backend_buckets[{name}].bucket_name")
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

