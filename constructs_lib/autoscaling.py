"""``FleetAutoscaler``: a regional autoscaler that sizes a model server group.

Signals: CPU utilization (default target 0.6, optionally predictive), load-balancing
utilization, Cloud Monitoring metrics (GPU duty cycle, queue depth...), and scaling schedules
(a warm floor for known peaks). Scale-in control keeps a traffic dip from dropping VMs that
took minutes to load their model. The cooldown (GCP's "initialization period") defaults to
the fleet's auto-healing initial delay: a VM still loading its model says nothing useful
about load.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Literal, Protocol, runtime_checkable

from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import compute_region_autoscaler
from constructs_lib.errors import ConfigurationError, invalid
from constructs_lib.naming import Naming, check_name
from constructs_lib.regions import check_region

DEFAULT_COOLDOWN_SEC = 300
"""Cooldown when the fleet does not say how long its VMs take to start."""

_METRIC_NAME = re.compile(r"^[a-z][a-z0-9.-]*\.[a-z]{2,}/[A-Za-z0-9_./-]+$")
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


class MetricSpec(BaseModel):
    """Scale on a Cloud Monitoring metric (``target`` per VM, or ``single_instance_assignment``
    for a per-group metric such as a queue depth)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Metric type, e.g. agent.googleapis.com/gpu/utilization or custom.googleapis.com/queue_depth.")
    target: float | None = Field(default=None, description="Per-VM target value (> 0).")
    type: Literal["GAUGE", "DELTA_PER_SECOND", "DELTA_PER_MINUTE"] | None = Field(
        default=None, description="How target is read. Defaults to GCP's GAUGE when target is set."
    )
    filter: str | None = Field(default=None, description="Monitoring filter selecting the time series.")
    single_instance_assignment: float | None = Field(
        default=None, description="Amount of work one VM handles, for metrics not exported per VM (> 0)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _METRIC_NAME.fullmatch(value):
            raise invalid("metrics.name", value, "must be a Cloud Monitoring metric type such as custom.googleapis.com/queue_depth")
        return value

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


class ScaleInControlSpec(BaseModel):
    """Limit how many VMs may be removed within ``time_window_sec`` (exactly one of fixed / percent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_scaled_in_replicas_fixed: int | None = Field(default=None, ge=0, description="VMs per window.")
    max_scaled_in_replicas_percent: int | None = Field(default=None, ge=0, le=100, description="Percent of the group per window.")
    time_window_sec: int = Field(default=600, ge=60, le=3600, description="Defaults to 600 s: about one model load.")

    @model_validator(mode="after")
    def _one(self) -> "ScaleInControlSpec":
        if (self.max_scaled_in_replicas_fixed is None) == (self.max_scaled_in_replicas_percent is None):
            raise ValueError("scale_in_control: set exactly one of max_scaled_in_replicas_fixed or max_scaled_in_replicas_percent")
        return self


class ScheduleSpec(BaseModel):
    """A scaling schedule: at least ``min_required_replicas`` VMs for ``duration_sec`` from each cron start."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Schedule name (GCP name rule).")
    schedule: str = Field(description="5-field cron start time, e.g. '0 8 * * MON-FRI'.")
    duration_sec: int = Field(description="How long the floor holds; at least 300 s.")
    min_required_replicas: int = Field(ge=0, description="Floor while the schedule is active.")
    time_zone: str = Field(default="UTC", description="IANA time zone of the cron expression. Defaults to UTC.")
    description: str | None = None
    disabled: bool = Field(default=False, description="Defaults to False.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "schedules.name")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        check_cron(value, "schedules.schedule")
        return value

    @field_validator("duration_sec")
    @classmethod
    def _duration(cls, value: int) -> int:
        if value < 300:
            raise invalid("schedules.duration_sec", value, "must be at least 300 seconds")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise invalid("schedules.time_zone", value, "must be an IANA time zone such as UTC or Europe/Berlin") from None
        return value


class AutoscalingSpec(BaseModel):
    """Tunables of ``FleetAutoscaler``. Defaults: 1..10 VMs on CPU utilization 0.6."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Defaults to 1: one warm server.")
    max_replicas: int = Field(default=10, ge=1, le=1000, description="Defaults to 10.")
    cooldown_period_sec: int | None = Field(
        default=None, ge=15, le=3600,
        description=f"Initialization period of a new VM. Defaults to the fleet's initial_delay_sec, else {DEFAULT_COOLDOWN_SEC} s.",
    )
    cpu_target: float | None = Field(
        default=0.6, description="CPU utilization target in (0, 1]. Defaults to 0.6: headroom for a zone's share of traffic. None: off."
    )
    cpu_predictive: bool = Field(
        default=False, description="Predictive CPU scaling (OPTIMIZE_AVAILABILITY). Defaults to False."
    )
    load_balancing_target: float | None = Field(
        default=None, description="Load-balancer serving-capacity target in (0, 1]. Defaults to off."
    )
    metrics: tuple[MetricSpec, ...] = Field(default=(), description="Cloud Monitoring metric signals.")
    scale_in_control: ScaleInControlSpec | None = Field(default=None, description="Defaults to none.")
    schedules: tuple[ScheduleSpec, ...] = Field(default=(), description="Scaling schedules.")
    mode: Literal["ON", "ONLY_SCALE_OUT", "OFF"] = Field(default="ON", description="Defaults to ON.")

    @field_validator("cpu_target", "load_balancing_target")
    @classmethod
    def _utilization(cls, value: float | None, info) -> float | None:  # noqa: ANN001
        if value is not None and not 0 < value <= 1:
            raise invalid(info.field_name, value, "utilization targets must be in (0, 1]")
        return value

    @model_validator(mode="after")
    def _rules(self) -> "AutoscalingSpec":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if self.cpu_predictive and self.cpu_target is None:
            raise ValueError("cpu_predictive needs cpu_target (predictive scaling works on CPU utilization)")
        if self.cpu_target is None and self.load_balancing_target is None and not self.metrics and not self.schedules:
            raise ValueError("set at least one signal: cpu_target, load_balancing_target, metrics or schedules")
        names = [s.name for s in self.schedules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"schedule names must be unique; repeated: {', '.join(repeated)}")
        for index, schedule in enumerate(self.schedules):
            if schedule.min_required_replicas > self.max_replicas:
                raise ValueError(
                    f"schedules[{index}].min_required_replicas ({schedule.min_required_replicas}) must be <= max_replicas ({self.max_replicas})"
                )
        return self


@runtime_checkable
class AutoscalingTarget(Protocol):
    """What the autoscaler needs of a group: the regional MIG (``group_manager.id``) and its region."""

    @property
    def group_manager(self) -> object: ...

    @property
    def region(self) -> str: ...


class FleetAutoscaler(Construct):
    """``google_compute_region_autoscaler`` for a fleet's regional MIG (child id ``default``).

    ``fleet`` is a ``ModelServerFleet`` or any object with ``group_manager`` (``.id``) and
    ``region``; optional ``name`` (the autoscaler is ``<name>-as``, else ``<app>-<env>-<region>-as``)
    and ``initial_delay_sec`` (the default cooldown) are used when present. Exposes
    ``autoscaler``, ``spec`` and ``cooldown_period_sec``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleet: AutoscalingTarget,
        naming: Naming,
        spec: AutoscalingSpec | None = None,
    ) -> None:
        super().__init__(scope, id_)
        spec = spec or AutoscalingSpec()
        if not isinstance(fleet, AutoscalingTarget):
            raise ConfigurationError("fleet", type(fleet).__name__, "must have group_manager and region (e.g. a ModelServerFleet)")
        region = check_region(fleet.region, "fleet.region")
        fleet_name = getattr(fleet, "name", None)
        name = check_name(f"{fleet_name}-as", "name") if isinstance(fleet_name, str) else naming.name(region, "as")
        delay = getattr(fleet, "initial_delay_sec", None)
        cooldown = spec.cooldown_period_sec
        if cooldown is None:
            cooldown = delay if isinstance(delay, int) and delay >= 15 else DEFAULT_COOLDOWN_SEC
        self.spec = spec
        self.cooldown_period_sec = cooldown

        policy = compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicy(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            cooldown_period=cooldown,
            mode=spec.mode,
            cpu_utilization=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyCpuUtilization(
                target=spec.cpu_target,
                predictive_method="OPTIMIZE_AVAILABILITY" if spec.cpu_predictive else "NONE",
            ) if spec.cpu_target is not None else None,
            load_balancing_utilization=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization(
                target=spec.load_balancing_target,
            ) if spec.load_balancing_target is not None else None,
            metric=[
                compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyMetric(
                    name=m.name,
                    target=m.target,
                    type=m.type,
                    filter=m.filter,
                    single_instance_assignment=m.single_instance_assignment,
                ) for m in spec.metrics
            ] or None,
            scale_in_control=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScaleInControl(
                time_window_sec=spec.scale_in_control.time_window_sec,
                max_scaled_in_replicas=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicas(
                    fixed=spec.scale_in_control.max_scaled_in_replicas_fixed,
                    percent=spec.scale_in_control.max_scaled_in_replicas_percent,
                ),
            ) if spec.scale_in_control is not None else None,
            scaling_schedules=[
                compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScalingSchedules(
                    name=s.name,
                    schedule=s.schedule,
                    duration_sec=s.duration_sec,
                    min_required_replicas=s.min_required_replicas,
                    time_zone=s.time_zone,
                    description=s.description,
                    disabled=s.disabled,
                ) for s in spec.schedules
            ] or None,
        )
        self.autoscaler = compute_region_autoscaler.ComputeRegionAutoscaler(
            self, "default",
            name=name,
            region=region,
            target=fleet.group_manager.id,  # type: ignore[attr-defined]
            description="Sizes the model server group (managed by cdktf)",
            autoscaling_policy=policy,
        )
        attach = getattr(fleet, "_attach_autoscaler", None)
        if callable(attach):
            attach(self)
