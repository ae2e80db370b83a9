"""``ServingObservability``: operations built into a serving deployment, whatever runs its models.

Per model (an ``ObservedModel``: what the monitoring needs to know of a served model, built from a
``ModelServing`` by ``observed_models``):

* a Cloud Monitoring service with two request-based SLOs on the model's backend service:
  availability (requests not answered 5xx, from ``loadbalancing.googleapis.com/https/request_count``
  by ``response_code_class``) and latency (share of requests whose backend latency is under the
  threshold, from ``https/backend_latencies``);
* multi-window burn-rate alerts on both SLOs (defaults: 1 h and 5 min above 14.4x pages, 6 h and
  30 min above 6x opens a ticket);
* symptom alerts: 5xx ratio, p95 latency, no healthy backend (the load balancer's request log),
  replicas pinned at the maximum (instance-group size per region on VMs, the HorizontalPodAutoscaler
  on GKE), GPU utilization on GPU models;
* an uptime check of the model's health endpoint through the load balancer (its health route
  ``/healthz/<model>``), and its alert.

Per cache region: memory, evictions, no data and (STANDARD_HA) failover alerts. Once per
environment: email notification channels and one dashboard (mosaic layout,
``constructs_lib.observability_queries``). Every alert routes to the channels of its severity
(``page`` or ``ticket``) and carries a runbook. Spec: ``constructs_lib.specs.observability``.

Construct ids (Terraform addresses): ``channel-<email slug>``, ``service-<model>``,
``slo-<model>-availability`` / ``-latency``, ``burn-<model>-<sli>-<window>``,
``alert-<model>-<signal>``, ``uptime-<model>``, ``cache-<region>-<signal>``, ``dashboard``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from constructs import Construct

from constructs_lib._google import monitoring_dashboard, monitoring_notification_channel
from constructs_lib.errors import ConfigurationError
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import Naming, check_name_part
from constructs_lib.observability_alerts import (
    PolicyMaker,
    burn_rate_alerts,
    cache_alerts,
    model_service,
    model_slos,
    symptom_alerts,
    uptime_check,
)
from constructs_lib.observability_queries import (
    CLUSTER_EVICTIONS,
    CLUSTER_MEMORY,
    REDIS_EVICTIONS,
    REDIS_HIT_RATIO,
    REDIS_MEMORY,
    Aggregation,
    Dashboard,
    Filter,
    PromQL,
    Series,
    Threshold,
    XyChart,
    error_ratio,
    gauge,
    gke_gpu,
    hpa_replicas,
    latency_percentiles,
    lb_all_errors,
    lb_all_latency,
    lb_all_requests,
    lb_backend_latency,
    lb_errors,
    lb_requests,
    mig_size,
    redis_cluster,
    redis_instance,
    request_rate,
    vm_gpu,
)
from constructs_lib.specs.observability import SEVERITIES, ObservabilitySpec
from constructs_lib.values import is_token, repeated


@dataclass(frozen=True)
class ObservedModel:
    """What the monitoring of one served model needs to know.

    ``backend_service`` is the literal name of the model's backend service (what load-balancer
    metrics and logs call it); ``max_replicas`` is the autoscaler's maximum (per region on VMs),
    None for a fixed-size fleet (no saturation alert). ``uptime_host`` (a domain or the load
    balancer's address), ``uptime_path`` and ``uptime_https`` say how an uptime check reaches the
    model's health endpoint through the load balancer; no ``uptime_path``, no check. VM models name
    their managed instance groups (``instance_groups``: (region, group name)); GKE models their
    cluster, its location and the namespace (the Deployment and HorizontalPodAutoscaler are named
    after the model).
    """

    name: str
    backend_service: str
    runtime: Literal["vm", "gke"]
    max_replicas: int | None
    gpu: bool = False
    uptime_host: str | None = None
    uptime_path: str | None = None
    uptime_https: bool = False
    uptime_validate_ssl: bool = False
    request_logging: bool = True
    instance_groups: tuple[tuple[str, str], ...] = ()
    cluster: str | None = None
    cluster_location: str | None = None
    namespace: str | None = None
    canary_of: str | None = None

    def check(self, field: str) -> None:
        """The fields the runtime needs are there (one-line ``ConfigurationError`` otherwise)."""
        check_name_part(self.name, f"{field}.name")
        if self.max_replicas is not None and self.max_replicas < 1:
            raise ConfigurationError(f"{field}.max_replicas", self.max_replicas, "must be >= 1, or None for a fixed-size fleet")
        if self.runtime == "vm" and not self.instance_groups:
            raise ConfigurationError(f"{field}.instance_groups", [], "a VM model names its instance groups: (region, group name) pairs")
        if self.runtime == "gke" and not (self.cluster and self.cluster_location and self.namespace):
            raise ConfigurationError(f"{field}.cluster", self.cluster, "a GKE model names its cluster, cluster_location and namespace")
        if self.uptime_path is not None and (not self.uptime_path.startswith("/") or not self.uptime_host):
            raise ConfigurationError(f"{field}.uptime_path", self.uptime_path, "must start with / and needs uptime_host")


def default_uptime_path(model: Any) -> str | None:
    """The uptime path of a model whose load balancer has no health route for it: the model's
    first route (``/v1/models/<name>``, the model-status endpoint of TF Serving / KServe v1
    servers), a prefix route without its ``*``; None for a canary (its traffic is a share of another
    model's routes, so no path reaches it alone)."""
    if model.canary_of is not None:
        return None
    path = model.route_paths[0]
    return path[:-1] if path.endswith("*") else path


def observed_models(serving: Any, uptime_paths: Mapping[str, str] | None = None) -> list[ObservedModel]:
    """The ``ObservedModel`` of every model of a ``ModelServing`` (its ``models``, ``runtimes``,
    ``backends``, ``load_balancer`` and, for GKE models, ``cluster``). The uptime path is, in this
    order: ``uptime_paths[name]``, the load balancer's health route (``/healthz/<model>``, rewritten
    to the model's ``health_path``: ``GlobalLoadBalancer.health_routes``), ``default_uptime_path``;
    none for a model behind Identity-Aware Proxy (checkers cannot sign in)."""
    load_balancer = serving.load_balancer
    lb_spec = load_balancer.spec
    https = lb_spec.https_enabled
    domain = lb_spec.domains[0] if https and lb_spec.domains else None
    host = domain or load_balancer.ipv4_address
    health_routes: Mapping[str, str] = getattr(load_balancer, "health_routes", {})
    observed = []
    for model in serving.models:
        runtime = serving.runtimes[model.name]
        path = (uptime_paths or {}).get(model.name) or health_routes.get(model.name) or default_uptime_path(model)
        if model.backend.iap is not None:
            path = None  # IAP answers an uptime checker with a login redirect: the check could never pass
        common: dict[str, Any] = dict(
            name=model.name,
            backend_service=serving.backends[model.name].service_name,
            runtime=model.runtime,
            gpu=model.accelerator is not None,
            uptime_host=host,
            uptime_path=path,
            uptime_https=https,
            uptime_validate_ssl=domain is not None,
            request_logging=model.backend.logging and model.backend.log_sample_rate > 0,
            canary_of=model.canary_of,
        )
        if model.runtime == "gke":
            cluster = serving.cluster
            observed.append(ObservedModel(
                **common, max_replicas=model.scaling.max_replicas,
                cluster=cluster.name, cluster_location=cluster.region, namespace=model.gke.namespace,
            ))
        else:
            fixed = model.vm.target_size is not None
            observed.append(ObservedModel(
                **common, max_replicas=None if fixed else model.scaling.max_replicas,
                instance_groups=tuple((region, fleet.name) for region, fleet in runtime.fleets.items()),
            ))
    return observed


def _slug(email: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


class ServingObservability(Construct):
    """SLOs, alerts, uptime checks and a dashboard for served models (see the module docstring).

    ``spec.enabled = False`` creates nothing (None counts as on: environment files resolve the
    tier default before). Public attributes: ``spec``, ``models`` (name -> ``ObservedModel``),
    ``channels`` (severity -> channel names, given and created), ``email_channels``, ``services``,
    ``slos`` (model -> {"availability", "latency"} -> ``google_monitoring_slo``), ``alert_policies``
    (construct id -> policy), ``uptime_checks`` (model -> check), ``dashboard`` (or None) and
    ``dashboard_model`` (the typed ``Dashboard``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        project_id: str,
        spec: ObservabilitySpec | None = None,
        load_balancer: Any,
        models: Sequence[ObservedModel],
        cache: Any = None,
    ) -> None:
        spec = spec or ObservabilitySpec()
        models = list(models)
        if not models:
            raise ConfigurationError("models", [], "give at least one ObservedModel (observed_models(serving) builds them)")
        for index, model in enumerate(models):
            model.check(f"models[{index}]")
        names = [m.name for m in models]
        twice = repeated(names)
        if twice:
            raise ConfigurationError("models", names, f"each model may be observed once; repeated: {', '.join(twice)}")
        unknown = sorted(set(spec.models) - set(names))
        if unknown:
            raise ConfigurationError(f"observability.models.{unknown[0]}", unknown[0], f"is not a model of this deployment; models: {', '.join(names)}")
        apply_common_labels(scope, naming)
        super().__init__(scope, id_)
        self.spec = spec
        self.naming = naming
        self.project_id = project_id
        self.models = {m.name: m for m in models}
        self.channels: dict[str, list[str]] = {severity: [] for severity in SEVERITIES}
        self.email_channels: dict[str, Any] = {}
        self.services: dict[str, Any] = {}
        self.slos: dict[str, dict[str, Any]] = {}
        self.uptime_checks: dict[str, Any] = {}
        self.dashboard = None
        self.dashboard_model: Dashboard | None = None
        self._maker = PolicyMaker(self, prefix=naming.prefix, project=project_id, channels=self.channels)
        self.alert_policies = self._maker.policies
        if spec.enabled is False:
            return

        self._channels()
        for model in models:
            objectives = spec.objectives(model.name)
            service = model_service(self, model, service_id=naming.name(model.name), project=project_id, prefix=naming.prefix)
            self.services[model.name] = service
            self.slos[model.name] = model_slos(self, model, service, objectives, project=project_id)
            burn_rate_alerts(self._maker, model, self.slos[model.name], spec.burn_rates)
            symptom_alerts(self._maker, model, spec, objectives, gpu_metric=spec.vm_gpu_metric)
            if objectives.uptime_check and model.uptime_path is not None:
                self.uptime_checks[model.name] = uptime_check(self._maker, model, spec, project=project_id)
        if cache is not None:
            cache_alerts(self._maker, cache, spec)
        if spec.dashboard:
            self.dashboard_model = build_dashboard(naming, spec, models, url_map=_url_map_name(load_balancer), cache=cache)
            self.dashboard = monitoring_dashboard.MonitoringDashboard(
                self, "dashboard", project=project_id, dashboard_json=self.dashboard_model.to_json(),
            )

    def _channels(self) -> None:
        """Given channels as they are; an email channel per address (shared when an address is in
        both severities)."""
        for severity in SEVERITIES:
            route = getattr(self.spec.notifications, severity)
            self.channels[severity].extend(route.channels)
            for email in route.emails:
                key = email.lower()
                if key not in self.email_channels:
                    id_ = f"channel-{_slug(email)}"
                    if self.node.try_find_child(id_) is not None:  # a.b@x.com and a-b@x.com share a slug
                        id_ += "-" + hashlib.sha256(key.encode()).hexdigest()[:6]
                    self.email_channels[key] = monitoring_notification_channel.MonitoringNotificationChannel(
                        self, id_,
                        project=self.project_id,
                        type="email",
                        display_name=f"{self.naming.prefix} {email}",
                        description=f"Alerts of {self.naming.prefix} model serving (managed by cdktf)",
                        labels={"email_address": email},
                    )
                self.channels[severity].append(self.email_channels[key].name)


def _url_map_name(load_balancer: Any) -> str:
    """The load balancer's URL map name, as written (a reference when it is not known yet)."""
    url_map = load_balancer.url_map
    name = getattr(url_map, "name_input", None)
    return name if isinstance(name, str) and not is_token(name) else url_map.name


def build_dashboard(
    naming: Naming, spec: ObservabilitySpec, models: Sequence[ObservedModel], *, url_map: str, cache: Any = None,
) -> Dashboard:
    """The environment's dashboard: load-balancer totals, then per model request rate, error ratio,
    latency percentiles, replicas against the maximum and GPU utilization, then the cache."""
    board = Dashboard(f"{naming.prefix} model serving", labels=naming.common_labels())
    board.section("Load balancer", f"All models behind URL map {url_map}")
    board.row([
        request_rate("Requests/s by response class", lb_all_requests(url_map), ("metric.label.response_code_class",)),
        error_ratio("5xx share", lb_all_errors(url_map), lb_all_requests(url_map)),
        latency_percentiles("Total latency (client to load balancer)", lb_all_latency(url_map)),
    ])
    for model in models:
        objectives = spec.objectives(model.name)
        where = ", ".join(region for region, _ in model.instance_groups) if model.runtime == "vm" else f"GKE {model.cluster}"
        board.section(f"Model {model.name}", f"{model.runtime} ({where}), backend service {model.backend_service}")
        charts = [
            request_rate("Requests/s", lb_requests(model.backend_service)),
            error_ratio("5xx share", lb_errors(model.backend_service), lb_requests(model.backend_service), spec.error_ratio.threshold),
            latency_percentiles("Backend latency", lb_backend_latency(model.backend_service), objectives.latency_threshold_ms),
            _replicas_chart(model),
        ]
        if model.gpu:
            charts.append(_gpu_chart(model, spec))
        board.row(charts)
    if cache is not None:
        _cache_section(board, cache)
    return board


def _replicas_chart(model: ObservedModel) -> XyChart:
    limit = (Threshold(model.max_replicas, "max replicas"),) if model.max_replicas is not None else ()
    if model.runtime == "vm":
        series = tuple(
            Series(Filter(mig_size(group, region), Aggregation("ALIGN_MEAN")), region) for region, group in model.instance_groups
        )
        return XyChart("VMs per region", series, "VMs", limit)
    query = hpa_replicas(model.cluster or "", model.cluster_location or "", model.namespace or "", model.name)
    return XyChart("Pods", (Series(PromQL(query), "current"),), "pods", limit)


def _gpu_chart(model: ObservedModel, spec: ObservabilitySpec) -> XyChart:
    limit = Threshold(spec.gpu_utilization.threshold * 100, "alert")
    if model.runtime == "vm":
        filters = [(region, vm_gpu(spec.vm_gpu_metric, group)) for region, group in model.instance_groups]
    else:
        filters = [("duty cycle", gke_gpu(model.cluster or "", model.cluster_location or "", model.namespace or "", model.name))]
    return gauge("GPU utilization", filters, "%", threshold=limit)


def _cache_section(board: Dashboard, cache: Any) -> None:
    regions = list(cache.regions)
    board.section("Inference cache", f"Memorystore ({cache.spec.mode}) in {', '.join(regions)}")
    if cache.spec.mode == "instance":
        ids = {region: cache.instances[region].id for region in regions}
        board.row([
            gauge("Memory usage ratio", [(r, redis_instance(REDIS_MEMORY, ids[r])) for r in regions], "ratio", aligner="ALIGN_MAX"),
            gauge("Hit ratio", [(r, redis_instance(REDIS_HIT_RATIO, ids[r])) for r in regions], "ratio"),
            gauge("Evicted keys/s", [(r, redis_instance(REDIS_EVICTIONS, ids[r])) for r in regions], "keys/s",
                  aligner="ALIGN_RATE", reducer="REDUCE_SUM"),
        ])
    else:
        names = {region: cache.clusters[region].name for region in regions}
        board.row([
            gauge("Memory utilization (fullest node)", [(r, redis_cluster(CLUSTER_MEMORY, names[r], r)) for r in regions], "ratio",
                  aligner="ALIGN_MAX"),
            gauge("Evicted keys/s", [(r, redis_cluster(CLUSTER_EVICTIONS, names[r], r)) for r in regions], "keys/s",
                  aligner="ALIGN_RATE", reducer="REDUCE_SUM"),
        ])
