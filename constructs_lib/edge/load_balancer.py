"""``GlobalLoadBalancer``: the global external Application Load Balancer in front of the models.

The chain every serving deployment ends in::

    static IP (v4, optional v6) -> global forwarding rule :443 (and :80 redirect)
      -> target HTTPS proxy (managed certificate, SSL policy, QUIC) -> URL map (routing table)
        -> backend service per model (health check, CDN, Cloud Armor, IAP) -> instance groups / NEGs

Defaults: EXTERNAL_MANAGED (Envoy) scheme, HTTPS with a Google-managed certificate as soon as
domains are given, HTTP -> HTTPS redirect (301) with HTTPS, SSL policy MODERN / TLS 1.2, request
logging on, CDN off, requests no route matches answered 404 (``LoadBalancerSpec.default_backend``
names a backend instead; the classic EXTERNAL scheme must name one). The reserved addresses are
protected with ``prevent_destroy``.

Health routes: ``add_health_route(backend)`` makes ``/healthz/<model>`` (``health_route_path``)
reach the model's health endpoint through the load balancer, so uptime checks see what clients
see (certificate, routing, Cloud Armor, backend health) for each model.

Static content: ``add_backend_bucket(..., grant_reader=True)`` lets a private bucket be served
through Cloud CDN (see its docstring); without it the bucket must be publicly readable.

The managed certificate is named after a hash of its (sorted) domains and has
``create_before_destroy``: changing the domain list creates the new certificate, moves the proxy
onto it and only then deletes the old one, instead of failing with
``resourceInUseByAnotherResource`` (the anchors' most reported problem).
Spec: ``constructs_lib.specs.load_balancer``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence, Union

import jsii
from cdktf import TerraformOutput, TerraformResourceLifecycle
from constructs import Construct, IValidation
from pydantic import BaseModel

from constructs_lib._google import (
    compute_global_address,
    compute_global_forwarding_rule,
    compute_managed_ssl_certificate,
    compute_ssl_policy,
    compute_target_http_proxy,
    compute_target_https_proxy,
    compute_url_map,
    data_google_project,
    storage_bucket_iam_member,
)
from constructs_lib.edge.backends import DEFAULT_HEALTH_PATH, ModelBackend, backend_bucket
from constructs_lib.edge.url_map import Route, RoutingTable, abort_unmatched_policy
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import BackendTarget, Grant
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import Naming, check_name_part
from constructs_lib.specs.backends import BackendBucketSpec, BackendServiceSpec, CdnPolicySpec
from constructs_lib.specs.load_balancer import (
    CERTIFICATE_MANAGER_PREFIX,
    LoadBalancerSpec,
    RetryPolicy,
    check_headers,
    check_hosts,
    check_weights,
    health_route_path,
)
from constructs_lib.specs.network import HEALTH_CHECK_RANGES
from constructs_lib.values import check_request_path

CDN_FILL_READER_ROLE = "roles/storage.objectViewer"
"""What Cloud CDN's cache-fill service agent needs on a private static bucket: read objects, nothing else."""


def certificate_name(naming: Naming, role: str, domains: Sequence[str]) -> str:
    """``<app>-<env>-<role>-cert-<8 hex of sha256(sorted domains)>``: a new name for a new domain list."""
    digest = hashlib.sha256("\n".join(sorted(domains)).encode()).hexdigest()[:8]
    return naming.name(role, f"cert-{digest}")  # one part: the digest may start with a digit


@dataclass(frozen=True)
class BackendBucket:
    """Handle of a backend bucket (``add_backend_bucket``'s result): ``backend_bucket``, ``id`` and
    ``reader`` (the grant that lets Cloud CDN read a private bucket, when asked for)."""

    name: str
    backend_bucket: Any
    reader: Grant | None = None

    @property
    def id(self) -> str:
        return self.backend_bucket.id


Backend = Union[ModelBackend, BackendBucket]


@jsii.implements(IValidation)
class _SynthChecks:
    """Rules that depend on calls made after a backend was added (firewall rules, backends)."""

    def __init__(self, lb: "GlobalLoadBalancer") -> None:
        self._lb = lb

    def validate(self) -> list[str]:
        return self._lb.validation_errors()


class GlobalLoadBalancer(Construct):
    """Global external Application Load Balancer for model endpoints.

    Construct ids: ``address`` (+ ``address-v6``), ``managed-certificate``, ``ssl-policy``,
    ``url-map``, ``https-proxy`` / ``http-proxy``, ``https-rule`` / ``http-rule`` (+ ``-v6``),
    ``redirect-url-map``, ``backend-<model>`` (``default`` backend service + ``health-check``),
    ``bucket-<name>`` (+ ``bucket-<name>-reader`` and the ``project`` data source with ``grant_reader``).

    Public attributes: ``ipv4``/``ipv6`` (address resources), ``ipv4_address``/``ipv6_address``,
    ``urls``, ``url_map``, ``https_proxy``, ``http_proxy``, ``redirect_url_map``, ``certificate``,
    ``ssl_policy``, ``forwarding_rules``, ``backend_services`` (model name -> ``ModelBackend``),
    ``backend_buckets``, ``health_routes`` (model name -> routed path), ``default_backend``,
    ``answers_unmatched_with_404``. Intent methods: ``add_backend_service``, ``add_model_route``,
    ``add_canary_route``, ``add_health_route``, ``add_backend_bucket``, ``set_default_backend``,
    ``add_outputs``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        spec: LoadBalancerSpec | None = None,
    ) -> None:
        apply_common_labels(scope, naming)  # before the construct exists: a naming conflict leaves nothing behind
        super().__init__(scope, id_)
        spec = spec or LoadBalancerSpec()
        self.naming = naming
        self.spec = spec
        self.role = spec.name
        self.backend_services: dict[str, ModelBackend] = {}
        self.backend_buckets: dict[str, BackendBucket] = {}
        self.health_routes: dict[str, str] = {}
        self._default: Backend | None = None
        self._project: Any = None
        self._table = RoutingTable(advanced=spec.load_balancing_scheme == "EXTERNAL_MANAGED")
        protect = TerraformResourceLifecycle(prevent_destroy=spec.prevent_destroy)

        def address(id_: str, suffix: str, version: Literal["IPV4", "IPV6"]) -> compute_global_address.ComputeGlobalAddress:
            return compute_global_address.ComputeGlobalAddress(
                self, id_,
                name=naming.name(self.role, suffix),
                description=f"Public IPv{version[-1]} address of {naming.prefix} model endpoints (managed by cdktf)",
                address_type="EXTERNAL",
                ip_version=version,
                lifecycle=protect,
            )

        self.ipv4 = address("address", "ip", "IPV4")
        self.ipv6 = address("address-v6", "ipv6", "IPV6") if spec.ipv6 else None
        self.ipv4_address: str = self.ipv4.address
        self.ipv6_address: str | None = self.ipv6.address if self.ipv6 else None

        self.url_map = compute_url_map.ComputeUrlMap(
            self, "url-map",
            name=naming.name(self.role, "url-map"),
            description=f"Model routes of {naming.prefix} (managed by cdktf)",
        )

        self.certificate = None
        self.ssl_policy = None
        self.https_proxy = None
        self.http_proxy = None
        self.redirect_url_map = None
        self.forwarding_rules: dict[str, compute_global_forwarding_rule.ComputeGlobalForwardingRule] = {}
        if spec.https_enabled:
            self._https_frontend(spec)
        else:
            self.http_proxy = compute_target_http_proxy.ComputeTargetHttpProxy(
                self, "http-proxy",
                name=naming.name(self.role, "http-proxy"),
                url_map=self.url_map.id,
                http_keep_alive_timeout_sec=spec.http_keep_alive_timeout_sec,
            )
            self._forwarding_rules("http", "80", self.http_proxy.id)

        self.node.add_validation(_SynthChecks(self))

    # -- frontend -------------------------------------------------------------------------

    def _https_frontend(self, spec: LoadBalancerSpec) -> None:
        naming, role = self.naming, self.role
        certificates: list[str] = []
        if spec.domains:
            domains = sorted(spec.domains)
            self.certificate = compute_managed_ssl_certificate.ComputeManagedSslCertificate(
                self, "managed-certificate",
                name=certificate_name(naming, role, domains),
                description="Google-managed certificate; the name follows the domain list (managed by cdktf)",
                type="MANAGED",
                managed=compute_managed_ssl_certificate.ComputeManagedSslCertificateManaged(domains=domains),
                # The name changes with the domains: create the new certificate and move the proxy
                # onto it before the old one is deleted (no resourceInUseByAnotherResource).
                # No prevent_destroy: that would block exactly this replacement.
                lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            )
            certificates.append(self.certificate.id)
        certificates.extend(spec.ssl_certificates)

        if isinstance(spec.ssl_policy, str):
            policy_id = spec.ssl_policy
        else:
            self.ssl_policy = compute_ssl_policy.ComputeSslPolicy(
                self, "ssl-policy",
                name=naming.name(role, "ssl-policy"),
                description="TLS settings of the model endpoints (managed by cdktf)",
                min_tls_version=spec.ssl_policy.min_tls_version,
                profile=spec.ssl_policy.profile,
                custom_features=list(spec.ssl_policy.custom_features) or None,
            )
            policy_id = self.ssl_policy.id

        certificate_map = spec.certificate_map
        if certificate_map is not None and not certificate_map.startswith("//"):
            certificate_map = CERTIFICATE_MANAGER_PREFIX + certificate_map

        self.https_proxy = compute_target_https_proxy.ComputeTargetHttpsProxy(
            self, "https-proxy",
            name=naming.name(role, "https-proxy"),
            url_map=self.url_map.id,
            ssl_certificates=certificates or None,
            certificate_map=certificate_map,
            ssl_policy=policy_id,
            quic_override=spec.quic_override,
            http_keep_alive_timeout_sec=spec.http_keep_alive_timeout_sec,
        )
        self._forwarding_rules("https", "443", self.https_proxy.id)

        if spec.redirect_enabled:
            u = compute_url_map
            self.redirect_url_map = u.ComputeUrlMap(
                self, "redirect-url-map",
                name=naming.name(role, "redirect"),
                description="HTTP -> HTTPS 301 redirect (managed by cdktf)",
                default_url_redirect=u.ComputeUrlMapDefaultUrlRedirect(
                    https_redirect=True,
                    redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
                    strip_query=False,
                ),
            )
            self.http_proxy = compute_target_http_proxy.ComputeTargetHttpProxy(
                self, "http-proxy",
                name=naming.name(role, "http-proxy"),
                url_map=self.redirect_url_map.id,
                http_keep_alive_timeout_sec=spec.http_keep_alive_timeout_sec,
            )
            self._forwarding_rules("http", "80", self.http_proxy.id)

    def _forwarding_rules(self, kind: str, port: str, target: str) -> None:
        addresses = [("", self.ipv4)] + ([("-v6", self.ipv6)] if self.ipv6 is not None else [])
        for suffix, address in addresses:
            rule_id = f"{kind}-rule{suffix}"
            self.forwarding_rules[rule_id] = compute_global_forwarding_rule.ComputeGlobalForwardingRule(
                self, rule_id,
                name=self.naming.name(self.role, kind + suffix),
                description=f"{kind.upper()} :{port} on the {'IPv6' if suffix else 'IPv4'} address (managed by cdktf)",
                load_balancing_scheme=self.spec.load_balancing_scheme,
                ip_protocol="TCP",
                ip_address=address.address,
                port_range=port,
                target=target,
            )

    @property
    def urls(self) -> list[str]:
        """Where clients reach the models: ``https://<domain>`` per domain with managed
        certificates, else ``http(s)://<ip>`` (IPv6 in brackets)."""
        if self.spec.https_enabled and self.spec.domains:
            return [f"https://{domain}" for domain in self.spec.domains]
        scheme = "https" if self.spec.https_enabled else "http"
        urls = [f"{scheme}://{self.ipv4_address}"]
        if self.ipv6_address is not None:
            urls.append(f"{scheme}://[{self.ipv6_address}]")
        return urls

    # -- backends -------------------------------------------------------------------------

    def add_backend_service(
        self,
        name: str,
        *,
        targets: Sequence[BackendTarget],
        spec: BackendServiceSpec | None = None,
        security_policy: Any = None,
        health_path: str = DEFAULT_HEALTH_PATH,
    ) -> ModelBackend:
        """A backend service + health check for model ``name`` over ``targets`` (a fleet's instance
        groups or a workload's NEGs), probing ``health_path`` unless the spec's health check names
        another path. ``security_policy``: a ``CloudArmorPolicy`` or a security policy id."""
        check_name_part(name, "name")
        if name in self.backend_services:
            raise ConfigurationError("name", name, "a backend service with this name exists already; model names must be unique")
        spec = spec or BackendServiceSpec()
        if self.spec.load_balancing_scheme == "EXTERNAL":
            classic_only = {
                "locality_lb_policy": spec.locality_lb_policy,
                "outlier_detection": spec.outlier_detection,
                "consistent_hash_header": spec.consistent_hash_header,
                "consistent_hash_cookie": spec.consistent_hash_cookie,
            }
            for field, value in classic_only.items():
                if value is not None:
                    raise ConfigurationError(
                        f"backend_services[{name}].{field}", value if not isinstance(value, BaseModel) else "set",
                        "needs load_balancing_scheme EXTERNAL_MANAGED (the classic EXTERNAL LB ignores or rejects it)",
                    )
        backend = ModelBackend(
            self, f"backend-{name}",
            naming=self.naming, name=name, role=self.role, targets=targets, spec=spec,
            load_balancing_scheme=self.spec.load_balancing_scheme, security_policy=security_policy, health_path=health_path,
        )
        self.backend_services[name] = backend
        self._render()
        return backend

    def add_backend_bucket(
        self,
        name: str,
        bucket_name: str,
        *,
        paths: Sequence[str] = (),
        hosts: Sequence[str] | None = None,
        enable_cdn: bool | None = None,
        cdn_policy: CdnPolicySpec | None = None,
        spec: BackendBucketSpec | None = None,
        grant_reader: bool = False,
    ) -> BackendBucket:
        """A backend bucket serving static objects of ``bucket_name``, routed from ``paths``
        (e.g. ``["/static/*"]``). CDN defaults to on for buckets (see ``BackendBucketSpec``).

        The load balancer reads the bucket without credentials: objects are served only if the
        bucket grants ``allUsers`` ``roles/storage.objectViewer`` (what Google's backend-bucket
        guides do), else every request answers 403. ``grant_reader=True`` keeps the bucket private
        instead: it grants ``roles/storage.objectViewer`` on the bucket (an additive
        ``google_storage_bucket_iam_member``, id ``bucket-<name>-reader``) to Cloud CDN's cache-fill
        service agent ``service-<project number>@cloud-cdn-fill.iam.gserviceaccount.com`` (Cloud CDN
        "private bucket access"), which reads on cache misses; that needs CDN on. Defaults to False:
        the bucket is usually not ours, so changing its IAM is the caller's choice (an environment's
        ``[static_content]`` switch). Google creates the service agent on demand; on a project
        that never used Cloud CDN signed URLs the first apply may fail with "service account ...
        does not exist" until it does (see the README's static-content notes).
        """
        check_name_part(name, "name")
        if name in self.backend_buckets:
            raise ConfigurationError("name", name, "a backend bucket with this name exists already")
        spec = spec or BackendBucketSpec()
        overrides: dict[str, Any] = {}
        if enable_cdn is not None:
            overrides["enable_cdn"] = enable_cdn
        if cdn_policy is not None:
            overrides["cdn_policy"] = cdn_policy
        if overrides:
            # Through the constructor: a bad combination is the one-line SpecError, not pydantic's text.
            spec = BackendBucketSpec(**{**spec.model_dump(), **overrides})
        if grant_reader and not spec.enable_cdn:
            raise ConfigurationError(
                f"backend_buckets[{name}].grant_reader", True,
                "a private bucket is read through Cloud CDN's cache-fill service agent, so it needs enable_cdn = True; "
                "without CDN the load balancer reads anonymously and the bucket must grant allUsers roles/storage.objectViewer",
            )
        resource = backend_bucket(
            self, f"bucket-{name}", naming=self.naming, role=self.role, name=name, bucket_name=bucket_name, spec=spec,
        )
        reader = self._grant_cdn_fill_read(name, bucket_name, resource) if grant_reader else None
        handle = BackendBucket(name=name, backend_bucket=resource, reader=reader)
        self.backend_buckets[name] = handle
        if paths:
            self.add_model_route(paths, handle, hosts=hosts)
        else:
            self._render()
        return handle

    def _grant_cdn_fill_read(self, name: str, bucket_name: str, resource: Any) -> Grant:
        """``roles/storage.objectViewer`` on ``bucket_name`` for the project's Cloud CDN cache-fill agent."""
        if self._project is None:
            # The provider's project: the one that owns the backend bucket and its Cloud CDN.
            self._project = data_google_project.DataGoogleProject(self, "project")
        member = f"serviceAccount:service-{self._project.number}@cloud-cdn-fill.iam.gserviceaccount.com"
        binding = storage_bucket_iam_member.StorageBucketIamMember(
            self, f"bucket-{name}-reader",
            bucket=bucket_name, role=CDN_FILL_READER_ROLE, member=member,
            depends_on=[resource],  # the agent appears once the project has a CDN-enabled backend bucket
        )
        return Grant(member=member, roles=(CDN_FILL_READER_ROLE,), target=f"bucket {bucket_name}", resources=(binding,))

    def set_default_backend(self, backend: Backend) -> None:
        """Send requests no route matches to ``backend`` instead of the spec's ``default_backend``
        (by default they are answered 404, see ``answers_unmatched_with_404``)."""
        self._check_own(backend, "default_backend")
        self._default = backend
        self._render()

    # -- routes ---------------------------------------------------------------------------

    def add_model_route(
        self,
        paths: str | Sequence[str],
        backend: Backend,
        *,
        hosts: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_sec: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Route:
        """Route ``paths`` (``/v1/models/resnet`` exact, ``/v1/models/resnet/*`` prefix) on ``hosts``
        (default: every host), optionally only for requests carrying ``headers`` (exact match,
        e.g. ``{"x-model-version": "v2"}``), to ``backend``, with a per-route timeout and retries."""
        label = self._check_own(backend, "backend")
        field = f"routes[{label}]"
        if isinstance(backend, BackendBucket) and (timeout_sec is not None or retry_policy is not None):
            raise ConfigurationError(field, backend.name, "timeout_sec and retry_policy only apply to backend services, not backend buckets")
        route = Route(
            label=label,
            paths=_paths(paths),
            hosts=check_hosts(hosts or (), f"{field}.hosts"),
            headers=check_headers(headers or {}, f"{field}.headers"),
            service=backend.id,
            timeout_sec=_timeout(timeout_sec, f"{field}.timeout_sec"),
            retry=retry_policy,
        )
        self._table.add(route, field)
        self._render()
        return route

    def add_canary_route(
        self,
        paths: str | Sequence[str],
        weights: Mapping[ModelBackend, int],
        *,
        hosts: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_sec: int | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> Route:
        """Split ``paths`` between backend services by percentage, e.g. ``{stable: 90, canary: 10}``
        (integers summing to 100), through ``weighted_backend_services``."""
        labels: dict[str, int] = {}
        weighted: list[tuple[str, int]] = []
        for backend, weight in weights.items():
            label = self._check_own(backend, "weights")
            if not isinstance(backend, ModelBackend):
                raise ConfigurationError(f"weights[{label}]", label, "a traffic split takes backend services, not backend buckets")
            labels[label] = weight
            weighted.append((backend.id, weight))
        field = f"routes[canary {'/'.join(labels)}]"
        check_weights(labels, f"{field}.weights")
        route = Route(
            label=f"canary {', '.join(f'{k}={v}' for k, v in labels.items())}",
            paths=_paths(paths),
            hosts=check_hosts(hosts or (), f"{field}.hosts"),
            headers=check_headers(headers or {}, f"{field}.headers"),
            weighted=tuple(weighted),
            timeout_sec=_timeout(timeout_sec, f"{field}.timeout_sec"),
            retry=retry_policy,
        )
        self._table.add(route, field)
        self._render()
        return route

    def add_health_route(self, backend: ModelBackend, health_path: str | None = None) -> Route:
        """Route ``/healthz/<model>`` (``health_route_path``, exact match, every host) to ``backend``
        with the path rewritten to ``health_path`` (default: the model's health endpoint given to
        ``add_backend_service``), so an uptime check through the load balancer reaches each model's
        health endpoint. ``url_rewrite.path_prefix_rewrite`` replaces the whole matched path; both
        schemes support it (classic: in a path rule). Model routes may not use ``/healthz/...``."""
        label = self._check_own(backend, "backend")
        field = f"health_routes[{label}]"
        if not isinstance(backend, ModelBackend):
            raise ConfigurationError(field, label, "health routes go to backend services (models), not backend buckets")
        if label in self.health_routes:
            raise ConfigurationError(field, label, f"model {label} has a health route already ({self.health_routes[label]})")
        target = check_request_path(health_path if health_path is not None else backend.health_path, f"{field}.health_path")
        path = health_route_path(label)
        route = Route(label=f"health of {label}", paths=(path,), service=backend.id, rewrite=target, health=True)
        self._table.add(route, field)
        self.health_routes[label] = path
        self._render()
        return route

    def _check_own(self, backend: Any, field: str) -> str:
        if isinstance(backend, ModelBackend) and self.backend_services.get(backend.name) is backend:
            return backend.name
        if isinstance(backend, BackendBucket) and self.backend_buckets.get(backend.name) is backend:
            return backend.name
        raise ConfigurationError(
            field, getattr(backend, "name", type(backend).__name__),
            "must be a backend returned by this load balancer's add_backend_service or add_backend_bucket",
        )

    @property
    def default_backend(self) -> Backend | None:
        """Where unmatched requests go: the backend set with ``set_default_backend``, else the one
        the spec's ``default_backend`` names (once added), else None: they are answered 404."""
        if self._default is not None:
            return self._default
        name = self.spec.default_backend
        if name is not None:
            return self.backend_services.get(name) or self.backend_buckets.get(name)
        return None

    @property
    def answers_unmatched_with_404(self) -> bool:
        """True when requests no route matches get a 404 from the load balancer itself: no default
        backend is named or set (EXTERNAL_MANAGED; the classic scheme must name one)."""
        return self._default is None and self.spec.default_backend is None

    def _placeholder_service(self) -> Backend | None:
        """The default service the API requires next to the 404 abort (it receives no request):
        the first backend service, else the first backend bucket."""
        for backends in (self.backend_services, self.backend_buckets):
            if backends:
                return next(iter(backends.values()))
        return None

    def _render(self) -> None:
        abort = self.answers_unmatched_with_404 and self._table.advanced
        default = self.default_backend or self._placeholder_service()
        default_id = default.id if default is not None else None
        host_rules, matchers = self._table.render(default_id, abort_unmatched=abort)
        if default_id is not None:
            self.url_map.default_service = default_id
            if abort:
                self.url_map.put_default_route_action(fault_injection_policy=abort_unmatched_policy())
            else:
                self.url_map.reset_default_route_action()
        if host_rules:
            self.url_map.put_host_rule(host_rules)
            self.url_map.put_path_matcher(matchers)

    # -- checks and outputs -----------------------------------------------------------------

    def validation_errors(self) -> list[str]:
        """Synth-time cross-checks (also run by ``app.synth()`` through ``node.add_validation``):
        at least one backend, ``default_backend`` naming an added backend, and a firewall rule
        admitting the health-check ranges to the port each target is probed on."""
        errors: list[str] = []
        if not self.backend_services and not self.backend_buckets:
            errors.append(
                "backend_services = {}: a load balancer needs at least one backend; call add_backend_service(...)"
            )
        name = self.spec.default_backend
        if name is not None and self._default is None:
            if name in self.backend_services and name in self.backend_buckets:
                errors.append(
                    f"default_backend = {name!r}: names both a backend service and a backend bucket; rename one of them"
                )
            elif name not in self.backend_services and name not in self.backend_buckets:
                known = sorted({*self.backend_services, *self.backend_buckets})
                errors.append(
                    f"default_backend = {name!r}: names no backend service or backend bucket of this load balancer; "
                    f"allowed: {', '.join(known) or 'none added yet'}"
                )
        for name, backend in self.backend_services.items():
            for index, target in enumerate(backend.targets):
                port = backend.health_check_port(target)
                if not target.admits_health_checks(port):
                    errors.append(
                        f"backend_services[{name}].targets[{index}] = {target.location} port {port}: no firewall rule admits "
                        f"the health-check ranges ({', '.join(HEALTH_CHECK_RANGES)}) to tcp:{port} on its VMs or nodes; "
                        f"call network.allow_health_checks(port={port}, ...) for them"
                    )
        return errors

    def add_outputs(self) -> dict[str, TerraformOutput]:
        """Stack outputs ``<name>_ipv4_address`` (+ ``_ipv6_address``) and ``<name>_urls``."""
        prefix = self.role.replace("-", "_")
        values: dict[str, Any] = {"ipv4_address": self.ipv4_address}
        if self.ipv6_address is not None:
            values["ipv6_address"] = self.ipv6_address
        values["urls"] = self.urls
        descriptions = {
            "ipv4_address": "Reserved IPv4 address of the load balancer (point DNS A records here)",
            "ipv6_address": "Reserved IPv6 address of the load balancer (point DNS AAAA records here)",
            "urls": "URLs of the model endpoints",
        }
        if self.node.try_find_child(f"{prefix}_urls") is not None:
            raise ConfigurationError("add_outputs", self.role, "outputs were added already; call add_outputs() once")
        return {
            key: TerraformOutput(self, f"{prefix}_{key}", value=value, description=descriptions[key], static_id=True)
            for key, value in values.items()
        }


def _paths(paths: str | Sequence[str]) -> tuple[str, ...]:
    return (paths,) if isinstance(paths, str) else tuple(paths)


def _timeout(value: int | None, field: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 86400):
        raise ConfigurationError(field, value, "must be a whole number of seconds between 1 and 86400")
    return value
