"""The Cloud Monitoring resources ``ServingObservability`` creates, one builder per kind: a model's
service and SLOs, burn-rate and symptom alert policies, uptime checks, cache alerts.

Facts the builders rely on (Cloud Monitoring docs; google provider 6.50 schema):

* an SLO-based condition sets only ``filter`` (``select_slo_burn_rate("<slo name>", "<n>s")``),
  ``comparison``, ``threshold_value`` and ``duration`` (0s): two of them combined with ``AND``
  make the multi-window alert;
* threshold conditions compare with ``COMPARISON_GT`` / ``COMPARISON_LT`` only, so "at least n
  replicas" is written "> n - 0.5";
* ``google_monitoring_slo.goal`` is at most 0.999 and ``rolling_period_days`` 1..30; a
  ``good_total_ratio`` takes exactly two of good/bad/total filters over DELTA or CUMULATIVE
  metrics; a ``distribution_cut`` range counts ``min <= x < max``;
* a log-match condition needs ``alert_strategy.notification_rate_limit``;
* the uptime alert counts failing checker regions: ``ALIGN_NEXT_OLDER`` over 1200 s then
  ``REDUCE_COUNT_FALSE``, above 1 (the pattern the console creates).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from constructs import Construct

from constructs_lib._google import (
    monitoring_alert_policy as m,
    monitoring_custom_service,
    monitoring_slo,
    monitoring_uptime_check_config as u,
)
from constructs_lib.observability_queries import (
    CLUSTER_EVICTIONS,
    CLUSTER_MEMORY,
    REDIS_EVICTIONS,
    REDIS_ROLE,
    REDIS_SYSTEM_MEMORY,
    REDIS_UPTIME,
    gke_gpu,
    hpa_replicas,
    lb_backend_latency,
    lb_errors,
    lb_requests,
    mig_size,
    no_backend_log,
    redis_cluster,
    redis_instance,
    uptime_passed,
    vm_gpu,
)
from constructs_lib.specs.observability import (
    ALERT_SEVERITY,
    BurnRateSpec,
    GpuAlertSpec,
    ObservabilitySpec,
    Objectives,
    api_duration,
    seconds,
)

AUTO_CLOSE = "1800s"
"""An incident whose condition stopped holding closes after 30 minutes."""

SLI_TITLES = {"availability": "availability (non-5xx share)", "latency": "latency"}


class PolicyMaker:
    """Creates alert policies under ``scope`` with the deployment's naming, project and channels:
    each policy carries its severity (CRITICAL for page, WARNING for ticket), routes to that
    severity's channels and has a runbook in its documentation."""

    def __init__(self, scope: Construct, *, prefix: str, project: str, channels: dict[str, list[str]]) -> None:
        self.scope = scope
        self.prefix = prefix
        self.project = project
        self.channels = channels
        self.policies: dict[str, m.MonitoringAlertPolicy] = {}

    def policy(
        self, id_: str, *, title: str, severity: str, conditions: Sequence[Any], runbook: str,
        labels: dict[str, str], combiner: str = "OR", rate_limit: str | None = None,
    ) -> m.MonitoringAlertPolicy:
        policy = m.MonitoringAlertPolicy(
            self.scope, id_,
            project=self.project,
            display_name=f"[{self.prefix}] {title}",
            combiner=combiner,
            conditions=list(conditions),
            severity=ALERT_SEVERITY[severity],
            notification_channels=list(self.channels[severity]) or None,
            documentation=m.MonitoringAlertPolicyDocumentation(
                subject=f"[{self.prefix}] [{severity}] {title}", content=runbook, mime_type="text/markdown",
            ),
            alert_strategy=m.MonitoringAlertPolicyAlertStrategy(
                auto_close=AUTO_CLOSE,
                notification_rate_limit=m.MonitoringAlertPolicyAlertStrategyNotificationRateLimit(period=rate_limit)
                if rate_limit else None,
            ),
            user_labels={**labels, "severity": severity},
        )
        self.policies[id_] = policy
        return policy


# -- conditions ---------------------------------------------------------------------------------

def _aggregation(cls: Any, aligner: str, period: int = 60, reducer: str | None = None, group_by: Sequence[str] = ()) -> Any:
    return cls(alignment_period=f"{period}s", per_series_aligner=aligner, cross_series_reducer=reducer, group_by_fields=list(group_by) or None)


def threshold(
    title: str, filter_: str, *, value: float, duration: str, aligner: str, reducer: str | None = None,
    group_by: Sequence[str] = (), period: int = 60, denominator: str | None = None, comparison: str = "COMPARISON_GT",
) -> Any:
    """A metric-threshold condition; ``denominator`` makes it a ratio (same aggregation on both)."""
    agg = m.MonitoringAlertPolicyConditionsConditionThresholdAggregations
    dagg = m.MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations
    return m.MonitoringAlertPolicyConditions(
        display_name=title,
        condition_threshold=m.MonitoringAlertPolicyConditionsConditionThreshold(
            filter=filter_,
            comparison=comparison,
            threshold_value=value,
            duration=duration,
            aggregations=[_aggregation(agg, aligner, period, reducer, group_by)],
            denominator_filter=denominator,
            denominator_aggregations=[_aggregation(dagg, aligner, period, reducer, group_by)] if denominator else None,
            trigger=m.MonitoringAlertPolicyConditionsConditionThresholdTrigger(count=1),
        ),
    )


def burn_rate(slo_name: str, window: str, factor: float) -> Any:
    """Burn rate of ``slo_name`` over ``window`` above ``factor`` (an SLO condition: filter only)."""
    return m.MonitoringAlertPolicyConditions(
        display_name=f"Burn rate over {window} above {factor:g}x",
        condition_threshold=m.MonitoringAlertPolicyConditionsConditionThreshold(
            filter=f'select_slo_burn_rate("{slo_name}", "{seconds(window)}s")',
            comparison="COMPARISON_GT",
            threshold_value=factor,
            duration="0s",
        ),
    )


def absent(title: str, filter_: str, duration: str) -> Any:
    return m.MonitoringAlertPolicyConditions(
        display_name=title,
        condition_absent=m.MonitoringAlertPolicyConditionsConditionAbsent(
            filter=filter_, duration=duration,
            aggregations=[_aggregation(m.MonitoringAlertPolicyConditionsConditionAbsentAggregations, "ALIGN_MEAN")],
            trigger=m.MonitoringAlertPolicyConditionsConditionAbsentTrigger(count=1),
        ),
    )


def matched_log(title: str, filter_: str) -> Any:
    return m.MonitoringAlertPolicyConditions(
        display_name=title, condition_matched_log=m.MonitoringAlertPolicyConditionsConditionMatchedLog(filter=filter_),
    )


def promql(title: str, query: str, duration: str) -> Any:
    return m.MonitoringAlertPolicyConditions(
        display_name=title,
        condition_prometheus_query_language=m.MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage(
            query=query, duration=duration, evaluation_interval="60s",
        ),
    )


def _runbook(what: str, checks: Sequence[str], tune: str) -> str:
    lines = [what, "", "**First checks**", *[f"1. {c}" for c in checks], "", f"**Tune or turn off:** {tune}"]
    return "\n".join(lines)


# -- service and SLOs -----------------------------------------------------------------------------

def model_service(scope: Construct, model: Any, *, service_id: str, project: str, prefix: str) -> Any:
    return monitoring_custom_service.MonitoringCustomService(
        scope, f"service-{model.name}",
        project=project,
        service_id=service_id,
        display_name=f"{prefix} model {model.name}",
        user_labels={"model": model.name},
    )


def model_slos(scope: Construct, model: Any, service: Any, objectives: Objectives, *, project: str) -> dict[str, Any]:
    """``availability``: good = requests of the model's backend service not answered 5xx
    (total minus the 5xx class); ``latency``: good = backend latency under the threshold."""
    s = monitoring_slo
    days = objectives.rolling_days

    def slo(sli: str, goal: float, display_name: str, request_based_sli: Any) -> Any:
        return s.MonitoringSlo(
            scope, f"slo-{model.name}-{sli}", slo_id=sli, display_name=display_name, goal=goal,
            request_based_sli=request_based_sli, user_labels={"model": model.name, "sli": sli},
            project=project, service=service.service_id, rolling_period_days=days,
        )

    return {
        "availability": slo(
            "availability", objectives.availability_target,
            f"{objectives.availability_target:.2%} of {model.name} requests are not 5xx ({days}-day rolling)",
            s.MonitoringSloRequestBasedSli(good_total_ratio=s.MonitoringSloRequestBasedSliGoodTotalRatio(
                bad_service_filter=lb_errors(model.backend_service), total_service_filter=lb_requests(model.backend_service),
            )),
        ),
        "latency": slo(
            "latency", objectives.latency_target,
            f"{objectives.latency_target:.2%} of {model.name} requests under {objectives.latency_threshold_ms} ms ({days}-day rolling)",
            s.MonitoringSloRequestBasedSli(distribution_cut=s.MonitoringSloRequestBasedSliDistributionCut(
                distribution_filter=lb_backend_latency(model.backend_service),
                range=s.MonitoringSloRequestBasedSliDistributionCutRange(max=objectives.latency_threshold_ms),
            )),
        ),
    }


def burn_rate_alerts(maker: PolicyMaker, model: Any, slos: dict[str, Any], burn_rates: Sequence[BurnRateSpec]) -> None:
    """Per SLO and window pair: fires when the budget burns above ``factor`` over both windows."""
    for sli, slo in slos.items():
        for burn in burn_rates:
            maker.policy(
                f"burn-{model.name}-{sli}-{burn.name}",
                title=f"{model.name}: {SLI_TITLES[sli]} budget burning {burn.factor:g}x ({burn.long_window} and {burn.short_window})",
                severity=burn.severity,
                combiner="AND",
                conditions=[burn_rate(slo.name, burn.long_window, burn.factor), burn_rate(slo.name, burn.short_window, burn.factor)],
                labels={"model": model.name, "signal": f"burn-{sli}", "window": burn.name},
                runbook=_runbook(
                    f"Model **{model.name}** spends its {sli} error budget {burn.factor:g} times faster than the SLO allows, over the "
                    f"last {burn.long_window} and still over the last {burn.short_window}.",
                    [
                        f"Dashboard: the model's error ratio and latency (backend service `{model.backend_service}`).",
                        "A rollout or canary that started just before? Roll it back first, investigate after.",
                        "Replicas at their maximum or GPUs saturated? Raise scaling.max_replicas.",
                    ],
                    "`[observability] burn_rates` (windows, factors, severities) and the targets "
                    f"(`[observability.models.{model.name}]`).",
                ),
            )


# -- symptom alerts -------------------------------------------------------------------------------

def symptom_alerts(maker: PolicyMaker, model: Any, spec: ObservabilitySpec, objectives: Objectives, *, gpu_metric: str) -> None:
    """5xx ratio, p95 latency, no healthy backends, saturation and GPU utilization of one model."""
    name, backend = model.name, model.backend_service
    if spec.error_ratio.enabled:
        alert = spec.error_ratio
        _model_policy(
            maker, name, "error-ratio", alert.severity, f"more than {alert.threshold:.1%} of requests fail (5xx)",
            conditions=[threshold(
                f"5xx share above {alert.threshold:g} for {alert.duration}", lb_errors(backend), denominator=lb_requests(backend),
                value=alert.threshold, duration=api_duration(alert.duration), aligner="ALIGN_RATE", reducer="REDUCE_SUM",
            )],
            runbook=_runbook(
                f"More than {alert.threshold:.1%} of the requests to **{name}** were answered 5xx for {alert.duration}.",
                ["Load balancer logs of the backend service: statusDetails says whether the model or the load balancer answered.",
                 "Model server logs: out of memory, model failed to load, dependency errors.", "A recent rollout? Roll back."],
                "`[observability.error_ratio]` (threshold, duration, severity, enabled).",
            ),
        )
    if spec.latency_alert.enabled:
        alert = spec.latency_alert
        _model_policy(
            maker, name, "p95-latency", alert.severity, f"p95 latency above {objectives.p95_latency_ms} ms",
            conditions=[threshold(
                f"p95 backend latency above {objectives.p95_latency_ms} ms for {alert.duration}", lb_backend_latency(backend),
                value=objectives.p95_latency_ms, duration=api_duration(alert.duration), aligner="ALIGN_DELTA", reducer="REDUCE_PERCENTILE_95",
            )],
            runbook=_runbook(
                f"The 95th percentile of **{name}**'s backend latency stayed above {objectives.p95_latency_ms} ms for {alert.duration}.",
                ["Replicas at their maximum, GPUs busy? Scale out.", "Request sizes or batch settings changed?",
                 "Cache hit ratio dropped (dashboard)?"],
                f"`[observability.latency_alert]`, or `p95_latency_ms` in `[observability.models.{name}]`.",
            ),
        )
    if spec.no_healthy_backends.enabled and model.request_logging:
        alert = spec.no_healthy_backends
        _model_policy(
            maker, name, "no-healthy-backends", alert.severity, "no healthy backend",
            conditions=[matched_log("The load balancer failed to pick a healthy backend", no_backend_log(backend))],
            rate_limit=api_duration(alert.duration),
            runbook=_runbook(
                f"The load balancer had no healthy backend for **{name}** (`failed_to_pick_backend`): every replica is down or "
                "failing its health check; users get 503.",
                ["Backend service health (console, or gcloud compute backend-services get-health).",
                 "Replicas crash-looping or still loading the model (startup_timeout_sec)?",
                 "Health-check firewall rule and health path unchanged?"],
                "`[observability.no_healthy_backends]`.",
            ),
        )
    if spec.saturation.enabled and model.max_replicas is not None:
        _saturation(maker, model, spec)
    if spec.gpu_utilization.enabled and model.gpu:
        _gpu(maker, model, spec.gpu_utilization, gpu_metric)


def _model_policy(
    maker: PolicyMaker, name: str, signal: str, severity: str, title: str, *, conditions: Sequence[Any], runbook: str,
    rate_limit: str | None = None,
) -> None:
    """One alert of model ``name``: id ``alert-<name>-<signal>``, title ``<name>: <title>``, label ``signal``."""
    maker.policy(
        f"alert-{name}-{signal}", title=f"{name}: {title}", severity=severity, conditions=conditions, runbook=runbook,
        labels={"model": name, "signal": signal}, rate_limit=rate_limit,
    )


def _per_runtime(model: Any, *, vm: Callable[[str, str], Any], gke: Callable[[], Any]) -> list[Any]:
    """The conditions of a fleet signal: one per instance group of a VM model (``vm(region, group)``:
    a managed instance group is one time series per region), one for a GKE model's workload."""
    if model.runtime == "vm":
        return [vm(region, group) for region, group in model.instance_groups]
    return [gke()]


def _saturation(maker: PolicyMaker, model: Any, spec: ObservabilitySpec) -> None:
    alert = spec.saturation
    floor = max(1, math.ceil(alert.threshold * model.max_replicas))
    duration = api_duration(alert.duration)
    _model_policy(
        maker, model.name, "saturation", alert.severity, f"replicas pinned at the maximum ({model.max_replicas})",
        conditions=_per_runtime(
            model,
            vm=lambda region, group: threshold(
                f"{group} at {floor} or more of {model.max_replicas} VMs for {alert.duration}", mig_size(group, region),
                value=floor - 0.5, duration=duration, aligner="ALIGN_MIN"),
            gke=lambda: promql(
                f"{model.name} at {floor} or more of {model.max_replicas} pods for {alert.duration}",
                f"{hpa_replicas(model.cluster, model.cluster_location, model.namespace, model.name)} >= {floor}", duration),
        ),
        runbook=_runbook(
            f"**{model.name}** has run at {floor} or more of its {model.max_replicas} replicas for {alert.duration}: it cannot scale out "
            "any further, so more traffic means queueing, latency and errors.",
            ["Raise scaling.max_replicas (and check the GPU/CPU quota of the regions).",
             "Traffic growth or one client looping? Load balancer request rate on the dashboard.",
             "Scaling target too low (scaling.target)? Replicas idle at max waste money."],
            "`[observability.saturation]` (threshold as a share of max_replicas, duration).",
        ),
    )


def _gpu(maker: PolicyMaker, model: Any, alert: GpuAlertSpec, metric: str) -> None:
    percent = alert.threshold * 100

    def busy(title: str, filter_: str) -> Any:
        return threshold(title, filter_, value=percent, duration=api_duration(alert.duration), aligner="ALIGN_MEAN", reducer="REDUCE_MEAN")

    _model_policy(
        maker, model.name, "gpu-utilization", alert.severity, f"GPUs above {percent:g} % busy",
        conditions=_per_runtime(
            model,
            vm=lambda _region, group: busy(f"{group} GPUs above {percent:g} % for {alert.duration}", vm_gpu(metric, group)),
            gke=lambda: busy(f"{model.name} GPU duty cycle above {percent:g} % for {alert.duration}",
                             gke_gpu(model.cluster, model.cluster_location, model.namespace, model.name)),
        ),
        runbook=_runbook(
            f"The GPUs of **{model.name}** averaged more than {percent:g} % busy for {alert.duration}: the fleet is at its throughput "
            "limit and latency will follow.",
            ["Is the fleet also at max_replicas (saturation alert)? Raise it.",
             "Autoscaling on GPU utilization? Lower scaling.target to add replicas earlier."],
            "`[observability.gpu_utilization]`.",
        ),
    )


# -- uptime -----------------------------------------------------------------------------------------

def uptime_check(maker: PolicyMaker, model: Any, spec: ObservabilitySpec, *, project: str) -> Any:
    """An HTTP(S) GET of the model's health path through the load balancer, from every checker
    region, and the alert when more than one region fails."""
    check = u.MonitoringUptimeCheckConfig(
        maker.scope, f"uptime-{model.name}",
        project=project,
        display_name=f"{maker.prefix} {model.name} health",
        period=api_duration(spec.uptime.period),
        timeout=api_duration(spec.uptime.timeout),
        checker_type="STATIC_IP_CHECKERS",
        http_check=u.MonitoringUptimeCheckConfigHttpCheck(
            path=model.uptime_path,
            port=443 if model.uptime_https else 80,
            use_ssl=model.uptime_https,
            validate_ssl=model.uptime_validate_ssl,
            request_method="GET",
            accepted_response_status_codes=[u.MonitoringUptimeCheckConfigHttpCheckAcceptedResponseStatusCodes(status_class="STATUS_CLASS_2XX")],
        ),
        monitored_resource=u.MonitoringUptimeCheckConfigMonitoredResource(
            type="uptime_url", labels={"host": model.uptime_host, "project_id": project},
        ),
        user_labels={"model": model.name},
    )
    alert = spec.uptime
    scheme = "https" if model.uptime_https else "http"
    _model_policy(
        maker, model.name, "uptime", alert.severity, "health check failing through the load balancer",
        conditions=[threshold(
            f"More than one region fails {model.uptime_path} for {alert.duration}", uptime_passed(check.uptime_check_id),
            value=1, duration=api_duration(alert.duration), aligner="ALIGN_NEXT_OLDER", reducer="REDUCE_COUNT_FALSE",
            group_by=("resource.label.*",), period=1200,
        )],
        runbook=_runbook(
            f"Uptime checkers in more than one region could not get a 2xx from {scheme}://<load balancer>{model.uptime_path} "
            f"(**{model.name}**) for {alert.duration}.",
            ["Open the URL yourself; a certificate error in the first hour after adding a domain means the managed certificate "
             "is still provisioning.", "No healthy backend alert open as well? Start there.",
             "Cloud Armor rules blocking the checkers' addresses?"],
            f"`[observability.uptime]`, or `uptime_check = false` in `[observability.models.{model.name}]`.",
        ),
    )
    return check


# -- cache ------------------------------------------------------------------------------------------

def cache_alerts(maker: PolicyMaker, cache: Any, spec: ObservabilitySpec) -> None:
    """Per cache region: memory, evictions, no data (down) and, for STANDARD_HA instances, failover."""
    instance_mode = cache.spec.mode == "instance"
    for region in cache.regions:
        if instance_mode:
            instance_id = cache.instances[region].id
            memory, evictions, alive = (redis_instance(metric, instance_id) for metric in (REDIS_SYSTEM_MEMORY, REDIS_EVICTIONS, REDIS_UPTIME))
        else:
            name = cache.clusters[region].name
            memory, evictions, alive = (redis_cluster(metric, name, region) for metric in (CLUSTER_MEMORY, CLUSTER_EVICTIONS, CLUSTER_MEMORY))
        if spec.cache_memory.enabled:
            alert = spec.cache_memory
            _cache_policy(
                maker, region, "memory", alert.severity, f"memory above {alert.threshold:.0%}",
                threshold(f"Memory usage above {alert.threshold:g} for {alert.duration}", memory,
                          value=alert.threshold, duration=api_duration(alert.duration), aligner="ALIGN_MEAN"),
                f"used more than {alert.threshold:.0%} of its memory for {alert.duration}; "
                "near the limit Redis evicts hard and an instance may fail over.",
                ["Raise [cache] memory_size_gb (or shards in cluster mode).", "Keys without TTL piling up?"],
            )
        if spec.cache_evictions.enabled:
            alert = spec.cache_evictions
            _cache_policy(
                maker, region, "evictions", alert.severity, f"evicting more than {alert.threshold:g} keys/s",
                threshold(f"Evictions above {alert.threshold:g}/s for {alert.duration}", evictions,
                          value=alert.threshold, duration=api_duration(alert.duration), aligner="ALIGN_RATE", reducer="REDUCE_SUM"),
                f"evicted more than {alert.threshold:g} keys per second for {alert.duration}: it is "
                "smaller than the working set, so the hit ratio (dashboard) suffers.",
                ["Raise [cache] memory_size_gb.", "Shorter TTLs for large entries?"],
            )
        if spec.cache_availability.enabled:
            alert = spec.cache_availability
            _cache_policy(
                maker, region, "unavailable", alert.severity, "no data (down or unreachable)",
                absent(f"No cache metrics for {alert.duration}", alive, api_duration(alert.duration)),
                f"reported nothing for {alert.duration}: it is down, being repaired or deleted.",
                ["Memorystore instance state and operations in the console.", "Model servers fall back to no cache: watch latency."],
            )
            if instance_mode and cache.spec.tier == "STANDARD_HA":
                _cache_policy(
                    maker, region, "failover", alert.failover_severity, "failover",
                    threshold("The primary node changed", redis_instance(REDIS_ROLE, cache.instances[region].id),
                              value=0, duration="0s", aligner="ALIGN_STDDEV", period=300),
                    "failed over to its replica (maintenance, or the primary failed). Writes "
                    "were refused for seconds; connections were reset.",
                    ["Memorystore operations: a maintenance event is expected, anything else is not.",
                     "Repeated failovers: memory pressure (memory alert)?"],
                )


def _cache_policy(
    maker: PolicyMaker, region: str, signal: str, severity: str, title: str, condition: Any, what: str, checks: Sequence[str],
) -> None:
    """One cache alert of ``region``: id ``cache-<region>-<signal>``, label ``signal = cache-<signal>``,
    a runbook that starts "The inference cache in <region> <what>"."""
    maker.policy(
        f"cache-{region}-{signal}", title=f"cache {region}: {title}", severity=severity, conditions=[condition],
        labels={"region": region, "signal": f"cache-{signal}"},
        runbook=_runbook(
            f"The inference cache in {region} {what}", checks,
            "`[observability.cache_memory]`, `[observability.cache_evictions]`, `[observability.cache_availability]`.",
        ),
    )
