"""What ``ServingObservability`` measures, written once: the Cloud Monitoring filters that select a
model's backend service, instance groups, pods and cache, and the typed dashboard (mosaic layout)
built from them.

Pure Python (no cdktf): every filter is an exact string, so tests compare whole filters and a
reviewer reads them as Cloud Monitoring will. Metric and label names (Cloud Monitoring metrics
lists, 2026): ``loadbalancing.googleapis.com/https/*`` on ``https_lb_rule`` (global external and
classic Application Load Balancers; ``response_code_class`` is 200/300/400/500, 0 for none),
``compute.googleapis.com/instance_group/size`` on ``instance_group``,
``kubernetes.io/container/accelerator/duty_cycle`` on ``k8s_container`` (percent),
``redis.googleapis.com/stats/*`` on ``redis_instance`` (``instance_id`` is the instance's full
name, the Terraform ``id``), ``redis.googleapis.com/cluster/*`` on ``redis.googleapis.com/Cluster``,
and the kube-state-metrics HPA series GKE exports through Managed Service for Prometheus.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

LB_REQUESTS = "loadbalancing.googleapis.com/https/request_count"
LB_BACKEND_LATENCY = "loadbalancing.googleapis.com/https/backend_latencies"
LB_TOTAL_LATENCY = "loadbalancing.googleapis.com/https/total_latencies"
MIG_SIZE = "compute.googleapis.com/instance_group/size"
GKE_DUTY_CYCLE = "kubernetes.io/container/accelerator/duty_cycle"
UPTIME_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"
REDIS_SYSTEM_MEMORY = "redis.googleapis.com/stats/memory/system_memory_usage_ratio"
REDIS_MEMORY = "redis.googleapis.com/stats/memory/usage_ratio"
REDIS_HIT_RATIO = "redis.googleapis.com/stats/cache_hit_ratio"
REDIS_EVICTIONS = "redis.googleapis.com/stats/evicted_keys"
REDIS_ROLE = "redis.googleapis.com/replication/role"
REDIS_UPTIME = "redis.googleapis.com/server/uptime"
CLUSTER_MEMORY = "redis.googleapis.com/cluster/memory/maximum_utilization"
CLUSTER_EVICTIONS = "redis.googleapis.com/cluster/stats/total_evicted_keys_count"
SERVER_CONTAINER = "server"
"""The model server's container name in a GKE model's pods (``constructs_lib.gke.workload``)."""
GKE_NAME_LABEL = "app.kubernetes.io/name"
"""The pod label that carries the model name (``ModelWorkload.labels``)."""


def _and(*terms: str) -> str:
    return " AND ".join(terms)


# -- load balancer ------------------------------------------------------------------------------

def lb_requests(backend_service: str) -> str:
    """Requests the load balancer routed to one backend service."""
    return _and(f'metric.type="{LB_REQUESTS}"', 'resource.type="https_lb_rule"', f'resource.labels.backend_target_name="{backend_service}"')


def lb_errors(backend_service: str) -> str:
    """Its 5xx responses (from the model or from the load balancer on its behalf)."""
    return _and(lb_requests(backend_service), 'metric.labels.response_code_class="500"')


def lb_backend_latency(backend_service: str) -> str:
    """Backend latency distribution (ms) of one backend service."""
    return _and(
        f'metric.type="{LB_BACKEND_LATENCY}"', 'resource.type="https_lb_rule"', f'resource.labels.backend_target_name="{backend_service}"',
    )


def lb_all_requests(url_map: str) -> str:
    return _and(f'metric.type="{LB_REQUESTS}"', 'resource.type="https_lb_rule"', f'resource.labels.url_map_name="{url_map}"')


def lb_all_errors(url_map: str) -> str:
    return _and(lb_all_requests(url_map), 'metric.labels.response_code_class="500"')


def lb_all_latency(url_map: str) -> str:
    return _and(f'metric.type="{LB_TOTAL_LATENCY}"', 'resource.type="https_lb_rule"', f'resource.labels.url_map_name="{url_map}"')


def no_backend_log(backend_service: str) -> str:
    """Request-log entries the load balancer could not send to any healthy backend."""
    return _and(
        'resource.type="http_load_balancer"', f'resource.labels.backend_service_name="{backend_service}"',
        'jsonPayload.statusDetails="failed_to_pick_backend"',
    )


def uptime_passed(check_id: str) -> str:
    return _and(f'metric.type="{UPTIME_PASSED}"', 'resource.type="uptime_url"', f'metric.labels.check_id="{check_id}"')


# -- runtimes -----------------------------------------------------------------------------------

def mig_size(group: str, region: str) -> str:
    """VMs in one regional managed instance group."""
    return _and(
        f'metric.type="{MIG_SIZE}"', 'resource.type="instance_group"',
        f'resource.labels.instance_group_name="{group}"', f'resource.labels.location="{region}"',
    )


def vm_gpu(metric: str, group: str) -> str:
    """GPU utilization (percent) of the VMs of one managed instance group."""
    return _and(f'metric.type="{metric}"', 'resource.type="gce_instance"', f'metadata.system_labels."instance_group"="{group}"')


def gke_gpu(cluster: str, location: str, namespace: str, model: str) -> str:
    """GPU duty cycle (percent) of a GKE model's server containers."""
    return _and(
        f'metric.type="{GKE_DUTY_CYCLE}"', 'resource.type="k8s_container"',
        f'resource.labels.cluster_name="{cluster}"', f'resource.labels.location="{location}"',
        f'resource.labels.namespace_name="{namespace}"', f'resource.labels.container_name="{SERVER_CONTAINER}"',
        f'metadata.user_labels."{GKE_NAME_LABEL}"="{model}"',
    )


def hpa_replicas(cluster: str, location: str, namespace: str, hpa: str) -> str:
    """PromQL: the current replicas of a GKE model's HorizontalPodAutoscaler (kube state metrics)."""
    return (
        f'kube_horizontalpodautoscaler_status_current_replicas{{cluster="{cluster}",location="{location}",'
        f'namespace="{namespace}",horizontalpodautoscaler="{hpa}"}}'
    )


# -- cache --------------------------------------------------------------------------------------

def redis_instance(metric: str, instance_id: str) -> str:
    """A Memorystore instance's metric; ``instance_id`` is projects/<p>/locations/<r>/instances/<name>."""
    return _and(f'metric.type="{metric}"', 'resource.type="redis_instance"', f'resource.labels.instance_id="{instance_id}"')


def redis_cluster(metric: str, cluster: str, region: str) -> str:
    return _and(
        f'metric.type="{metric}"', 'resource.type="redis.googleapis.com/Cluster"',
        f'resource.labels.cluster_id="{cluster}"', f'resource.labels.location="{region}"',
    )


# -- dashboard model ----------------------------------------------------------------------------

COLUMNS = 48
"""Width of the mosaic grid (the console's current default)."""


def _compact(value: Any) -> Any:
    """Drop None, 0-valued positions, empty lists and maps: the API omits them, so a dashboard sent
    with them would differ from what Terraform reads back (a permanent diff)."""
    if isinstance(value, dict):
        kept = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {}, "") and not (k in ("xPos", "yPos") and v == 0)}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


@dataclass(frozen=True)
class Aggregation:
    """Per-series aligner over ``period`` seconds, then an optional cross-series reducer."""

    aligner: str
    reducer: str | None = None
    group_by: tuple[str, ...] = ()
    period: int = 60

    def to_json(self) -> dict[str, Any]:
        return {
            "alignmentPeriod": f"{self.period}s", "perSeriesAligner": self.aligner,
            "crossSeriesReducer": self.reducer, "groupByFields": list(self.group_by),
        }


@dataclass(frozen=True)
class Filter:
    """A time-series filter and how it is aggregated."""

    filter: str
    aggregation: Aggregation

    def to_json(self) -> dict[str, Any]:
        return {"timeSeriesFilter": {"filter": self.filter, "aggregation": self.aggregation.to_json()}}


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator, series by series."""

    numerator: Filter
    denominator: Filter

    def to_json(self) -> dict[str, Any]:
        part = lambda f: {"filter": f.filter, "aggregation": f.aggregation.to_json()}  # noqa: E731
        return {"timeSeriesFilterRatio": {"numerator": part(self.numerator), "denominator": part(self.denominator)}}


@dataclass(frozen=True)
class PromQL:
    query: str

    def to_json(self) -> dict[str, Any]:
        return {"prometheusQuery": self.query}


Query = Union[Filter, Ratio, PromQL]


@dataclass(frozen=True)
class Series:
    query: Query
    legend: str | None = None
    plot: str = "LINE"

    def to_json(self) -> dict[str, Any]:
        return {"timeSeriesQuery": self.query.to_json(), "plotType": self.plot, "legendTemplate": self.legend, "targetAxis": "Y1"}


@dataclass(frozen=True)
class Threshold:
    """A horizontal line on a chart (a limit the series should stay under)."""

    value: float
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "targetAxis": "Y1"}


@dataclass(frozen=True)
class XyChart:
    title: str
    series: tuple[Series, ...]
    y_label: str
    thresholds: tuple[Threshold, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "xyChart": {
            "dataSets": [s.to_json() for s in self.series],
            "thresholds": [t.to_json() for t in self.thresholds],
            "yAxis": {"label": self.y_label, "scale": "LINEAR"},
        }}


@dataclass(frozen=True)
class SectionHeader:
    title: str
    subtitle: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "sectionHeader": {"subtitle": self.subtitle, "dividerBelow": True}}


Widget = Union[XyChart, SectionHeader]


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    width: int
    height: int
    widget: Widget

    def to_json(self) -> dict[str, Any]:
        return {"xPos": self.x, "yPos": self.y, "width": self.width, "height": self.height, "widget": self.widget.to_json()}


@dataclass
class Dashboard:
    """A mosaic dashboard laid out top to bottom: sections (a header across the grid) and rows of
    equally wide charts. ``to_json()`` is deterministic (same input, same string)."""

    display_name: str
    labels: dict[str, str] = field(default_factory=dict)
    tiles: list[Tile] = field(default_factory=list)
    header_height: int = 4
    chart_height: int = 16
    charts_per_row: int = 3
    _y: int = 0

    def section(self, title: str, subtitle: str = "") -> None:
        self.tiles.append(Tile(0, self._y, COLUMNS, self.header_height, SectionHeader(title, subtitle)))
        self._y += self.header_height

    def row(self, charts: Sequence[XyChart]) -> None:
        """``charts`` side by side, ``charts_per_row`` wide (a short row keeps the same chart width)."""
        width = COLUMNS // self.charts_per_row
        for start in range(0, len(charts), self.charts_per_row):
            for index, chart in enumerate(charts[start:start + self.charts_per_row]):
                self.tiles.append(Tile(index * width, self._y, width, self.chart_height, chart))
            self._y += self.chart_height

    @property
    def widgets(self) -> list[Widget]:
        return [tile.widget for tile in self.tiles]

    def to_json(self) -> str:
        body = {
            "displayName": self.display_name,
            "labels": dict(sorted(self.labels.items())),
            "mosaicLayout": {"columns": COLUMNS, "tiles": [t.to_json() for t in self.tiles]},
        }
        return escape_templates(json.dumps(_compact(body), indent=2))


_TEMPLATE = re.compile(r"\$\{(?!TfToken\[)")


def escape_templates(text: str) -> str:
    """``${metric.labels.x}`` (a legend template of the dashboard) as ``$${...}``: Terraform reads
    every string as a template, and ``$${`` is its literal ``${``. cdktf references
    (``${TfToken[...]}``) stay references."""
    return _TEMPLATE.sub("$${", text)


# -- charts -------------------------------------------------------------------------------------

RATE = Aggregation("ALIGN_RATE", "REDUCE_SUM")


def request_rate(title: str, filter_: str, group_by: tuple[str, ...] = ()) -> XyChart:
    legend = "${metric.labels.response_code_class}" if "metric.label.response_code_class" in group_by else None
    return XyChart(title, (Series(Filter(filter_, Aggregation("ALIGN_RATE", "REDUCE_SUM", group_by)), legend),), "req/s")


def error_ratio(title: str, errors: str, requests: str, threshold: float | None = None) -> XyChart:
    return XyChart(
        title, (Series(Ratio(Filter(errors, RATE), Filter(requests, RATE)), "5xx share"),), "ratio",
        (Threshold(threshold, "alert"),) if threshold is not None else (),
    )


def latency_percentiles(title: str, filter_: str, threshold_ms: float | None = None) -> XyChart:
    series = tuple(
        Series(Filter(filter_, Aggregation("ALIGN_DELTA", f"REDUCE_PERCENTILE_{p:02d}")), f"p{p}") for p in (50, 95, 99)
    )
    return XyChart(title, series, "ms", (Threshold(threshold_ms, "SLO threshold"),) if threshold_ms is not None else ())


def gauge(title: str, filters: Sequence[tuple[str, str]], y_label: str, *, threshold: Threshold | None = None,
          aligner: str = "ALIGN_MEAN", reducer: str | None = "REDUCE_MEAN") -> XyChart:
    """One series per (legend, filter), each averaged across its time series."""
    series = tuple(Series(Filter(f, Aggregation(aligner, reducer)), legend) for legend, f in filters)
    return XyChart(title, series, y_label, (threshold,) if threshold else ())
