"""Spec of how a model scales (``[models.scaling]``): replica bounds and the signals the
autoscaler follows (CPU, load-balancer utilisation, Cloud Monitoring metrics, schedules).
Constructs: ``constructs_lib.vm.autoscaler.FleetAutoscaler`` (regional MIG autoscaler) and the
HorizontalPodAutoscaler of ``constructs_lib.gke.workload.ModelWorkload``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, invalid
from constructs_lib.naming import ResourceName
from constructs_lib.values import MetricType, pattern_type, unique


DEFAULT_COOLDOWN_SEC = 300
"""Cooldown when the fleet does not say how long its VMs take to start."""


_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}


_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}


_CRON_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _cron_value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(text)
        value = int(text)
    if not low <= value <= high:
        raise ValueError(text)
    return value


def check_cron(expression: str, field: str = "schedule") -> str:
    """``expression`` if it is a 5-field unix-cron expression (minute hour day-of-month month
    day-of-week; ``*``, numbers, names, ranges ``a-b``, steps ``/n`` and lists ``a,b``)."""
    parts = expression.split() if isinstance(expression, str) else []
    if len(parts) != 5:
        raise ConfigurationError(
            field, expression, "must be a 5-field cron expression: minute hour day-of-month month day-of-week, e.g. '0 8 * * MON-FRI'"
        )
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS):
        for item in part.split(","):
            base, _, step = item.partition("/")
            try:
                if step and (not step.isdigit() or int(step) < 1):
                    raise ValueError(step)
                if base != "*":
                    start, dash, end = base.partition("-")
                    first = _cron_value(start, low, high, names)
                    if dash and _cron_value(end, low, high, names) < first:
                        raise ValueError(base)
            except ValueError:
                raise ConfigurationError(
                    field, expression, f"the {name} field {part!r} is not valid ({low}-{high}, *, ranges, steps or lists)"
                ) from None
    return expression


class MetricSpec(Spec):
    """Scale on a Cloud Monitoring metric (``target`` per VM, or ``single_instance_assignment``
    for a per-group metric such as a queue depth)."""

    name: MetricType = Field(description="Metric type, e.g. agent.googleapis.com/gpu/utilization or custom.googleapis.com/queue_depth.")
    target: float | None = Field(default=None, description="Per-VM target value (> 0).")
    type: Literal["GAUGE", "DELTA_PER_SECOND", "DELTA_PER_MINUTE"] | None = Field(
        default=None, description="How target is read. Defaults to GCP's GAUGE when target is set."
    )
    filter: str | None = Field(default=None, description="Monitoring filter selecting the time series.")
    single_instance_assignment: float | None = Field(
        default=None, description="Amount of work one VM handles, for metrics not exported per VM (> 0)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> "MetricSpec":
        if (self.target is None) == (self.single_instance_assignment is None):
            raise ValueError(f"metric {self.name!r}: set exactly one of target or single_instance_assignment")
        for field, value in (("target", self.target), ("single_instance_assignment", self.single_instance_assignment)):
            if value is not None and value <= 0:
                raise ValueError(f"metric {self.name!r}: {field} ({value}) must be > 0")
        if self.type is not None and self.target is None:
            raise ValueError(f"metric {self.name!r}: type applies to target only; remove it or set target")
        if self.single_instance_assignment is not None and not self.filter:
            raise ValueError(f"metric {self.name!r}: single_instance_assignment needs a filter selecting the group's time series")
        return self


class ScaleInControlSpec(Spec):
    """Limit how many VMs may be removed within ``time_window_sec`` (exactly one of fixed / percent)."""

    max_scaled_in_replicas_fixed: int | None = Field(default=None, ge=0, description="VMs per window.")
    max_scaled_in_replicas_percent: int | None = Field(default=None, ge=0, le=100, description="Percent of the group per window.")
    time_window_sec: int = Field(default=600, ge=60, le=3600, description="Defaults to 600 s: about one model load.")

    @model_validator(mode="after")
    def _one(self) -> "ScaleInControlSpec":
        if (self.max_scaled_in_replicas_fixed is None) == (self.max_scaled_in_replicas_percent is None):
            raise ValueError("scale_in_control: set exactly one of max_scaled_in_replicas_fixed or max_scaled_in_replicas_percent")
        return self


class ScheduleSpec(Spec):
    """A scaling schedule: at least ``min_required_replicas`` VMs for ``duration_sec`` from each cron start."""

    name: ResourceName = Field(description="Schedule name (GCP name rule).")
    schedule: str = Field(description="5-field cron start time, e.g. '0 8 * * MON-FRI'.")
    duration_sec: int = Field(description="How long the floor holds; at least 300 s.")
    min_required_replicas: int = Field(ge=0, description="Floor while the schedule is active.")
    time_zone: str = Field(default="UTC", description="IANA time zone of the cron expression. Defaults to UTC.")
    description: str | None = Field(default=None, description="Free text shown with the schedule. Defaults to none.")
    disabled: bool = Field(default=False, description="Defaults to False.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        check_cron(value, "schedule")
        return value

    @field_validator("duration_sec")
    @classmethod
    def _duration(cls, value: int) -> int:
        if value < 300:
            raise invalid("duration_sec", value, "must be at least 300 seconds")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise invalid("time_zone", value, "must be an IANA time zone such as UTC or Europe/Berlin") from None
        return value


Signal = Literal["auto", "cpu", "gpu", "in-flight", "request-rate"]

SIGNAL_TARGETS: dict[str, float] = {"cpu": 0.6, "gpu": 0.7, "in-flight": 8.0, "request-rate": 10.0}
"""Default target per replica of each serving signal, and why:

* ``cpu`` 0.6 utilization: headroom for a zone's share of traffic while new replicas load;
* ``gpu`` 0.7 utilization (duty cycle): a GPU busy 70 % of the time still absorbs a burst;
* ``in-flight`` 8 requests being processed by one replica (the model server's own gauge): a
  continuous-batching server keeps its batch full without queueing long;
* ``request-rate`` 10 requests/s per replica through the load balancer: a GPU server at ~100 ms
  per request, batching off. Measure your model and set ``target``.
"""

IN_FLIGHT_METRIC = "model_server/requests_in_flight"
"""The gauge a model server exports for the ``in-flight`` signal, as the custom metric
``custom.googleapis.com/model_server/requests_in_flight`` (part of the model-server contract)."""

CustomMetricName = pattern_type(
    re.compile(r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$"),
    "must be a custom metric name such as model_server/requests_in_flight (lowercase, / separated)",
)


@dataclass(frozen=True)
class ScalingSignal:
    """One resolved signal: its kind and its target per replica (utilization in (0, 1] for cpu
    and gpu, requests for in-flight, requests/s for request-rate)."""

    kind: Literal["cpu", "gpu", "in-flight", "request-rate"]
    target: float


class ScalingSpec(Spec):
    """How a model's replicas scale (``[models.scaling]``), whatever the runtime: VM fleets get a
    regional autoscaler per region, GKE models a HorizontalPodAutoscaler.

    The autoscaler follows a serving signal (``signal``): ``auto`` (the default) scales a GPU model
    on GPU utilization and a CPU model on CPU utilization; ``in-flight`` follows the requests a
    replica is processing (a gauge the model server exports) and ``request-rate`` the load
    balancer's requests per second per replica. ``cpu_target`` adds CPU utilization as a second
    signal (the autoscaler takes the larger recommendation). A GPU model that would scale on CPU
    alone is rejected unless ``allow_cpu_only``: GPU-bound inference barely moves CPU, so it would
    never scale out. Defaults: 1..10 replicas (per region on VMs). ``load_balancing_target``,
    ``metrics``, ``schedules``, ``scale_in_control``, ``cpu_predictive``, ``mode`` and
    ``cooldown_period_sec`` are VM-fleet settings, ``scale_down_stabilization_sec`` a GKE one."""

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Defaults to 1: one warm server.")
    max_replicas: int = Field(default=10, ge=1, le=1000, description="Defaults to 10.")
    signal: Signal = Field(
        default="auto",
        description="What the autoscaler follows. Defaults to auto: gpu for GPU models, cpu otherwise. in-flight: the model "
        "server's requests-in-flight gauge; request-rate: load-balancer requests/s per replica.",
    )
    target: float | None = Field(
        default=None, gt=0,
        description="Target of the signal per replica. Defaults to cpu 0.6, gpu 0.7 (utilizations), in-flight 8 requests, request-rate 10 req/s.",
    )
    in_flight_metric: CustomMetricName = Field(
        default=IN_FLIGHT_METRIC,
        description="Custom metric (custom.googleapis.com/<name>) the model server writes for the in-flight signal. Defaults to model_server/requests_in_flight.",
    )
    allow_cpu_only: bool = Field(
        default=False, description="Let a GPU model scale on CPU alone. Defaults to False: GPU-bound inference barely moves CPU.",
    )
    cooldown_period_sec: int | None = Field(
        default=None, ge=15, le=3600,
        description=f"Initialization period of a new VM. Defaults to the model's startup_timeout_sec, else {DEFAULT_COOLDOWN_SEC} s.",
    )
    cpu_target: float | None = Field(
        default=None, description="CPU utilization target in (0, 1]: the cpu signal's target, or a second signal next to another one. Defaults to None."
    )
    cpu_predictive: bool = Field(
        default=False, description="Predictive CPU scaling (OPTIMIZE_AVAILABILITY). Defaults to False."
    )
    load_balancing_target: float | None = Field(
        default=None, description="Load-balancer serving-capacity target in (0, 1]. Defaults to off."
    )
    metrics: tuple[MetricSpec, ...] = Field(default=(), description="Cloud Monitoring metric signals.")
    scale_in_control: ScaleInControlSpec | None = Field(default=None, description="Defaults to none.")
    schedules: Annotated[tuple[ScheduleSpec, ...], unique("schedule name", key=lambda schedule: schedule.name)] = Field(
        default=(), description="Scaling schedules.",
    )
    mode: Literal["ON", "ONLY_SCALE_OUT", "OFF"] = Field(default="ON", description="Defaults to ON.")
    scale_down_stabilization_sec: int = Field(
        default=300, ge=0, le=3600,
        description="GKE: scale-down looks back this long, so a slow model load does not flap. Defaults to 300.",
    )

    @field_validator("cpu_target", "load_balancing_target")
    @classmethod
    def _utilization(cls, value: float | None, info) -> float | None:  # noqa: ANN001
        if value is not None and not 0 < value <= 1:
            raise invalid(info.field_name, value, "utilization targets must be in (0, 1]")
        return value

    @model_validator(mode="after")
    def _rules(self) -> "ScalingSpec":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if self.target is not None and self.signal in ("auto", "cpu", "gpu") and not 0 < self.target <= 1:
            kind = "CPU or GPU" if self.signal == "auto" else self.signal.upper()
            raise invalid("target", self.target, f"a {kind} utilization target must be in (0, 1]")
        if self.signal == "cpu" and self.target is not None and self.cpu_target is not None and self.target != self.cpu_target:
            raise invalid("cpu_target", self.cpu_target, f"signal cpu already has target {self.target}; give one of them")
        for index, schedule in enumerate(self.schedules):
            if schedule.min_required_replicas > self.max_replicas:
                raise ValueError(
                    f"schedules[{index}].min_required_replicas ({schedule.min_required_replicas}) must be <= max_replicas ({self.max_replicas})"
                )
        return self



def resolve_signals(scaling: ScalingSpec, *, gpu: bool) -> tuple[ScalingSignal, ...]:
    """The signals a model scales on: the primary ``signal`` (``auto`` -> gpu for GPU models, cpu
    otherwise) with its target, then CPU utilization when ``cpu_target`` adds it."""
    kind = ("gpu" if gpu else "cpu") if scaling.signal == "auto" else scaling.signal
    if kind == "cpu":
        return (ScalingSignal("cpu", scaling.target or scaling.cpu_target or SIGNAL_TARGETS["cpu"]),)
    primary = ScalingSignal(kind, scaling.target or SIGNAL_TARGETS[kind])
    return (primary,) + ((ScalingSignal("cpu", scaling.cpu_target),) if scaling.cpu_target is not None else ())
