"""Spec of operating a serving deployment (``[observability]``): who is notified, the service-level
objectives of every model, the burn-rate windows that page or open a ticket, the thresholds of
the symptom alerts, the uptime checks and the dashboard.
Construct: ``constructs_lib.observability.ServingObservability``.

Severities are two: ``page`` (someone is woken: users are affected now or the error budget burns
fast) and ``ticket`` (someone looks within a working day). Each alert routes to the notification
channels of its severity. Durations are written ``"90s"``, ``"5m"``, ``"1h"`` or ``"7d"``.

Pure pydantic: no cdktf import, so an environment file validates without starting Node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, invalid, rule
from constructs_lib.naming import NamePart, check_name_part
from constructs_lib.values import MetricType, is_token, matching, unique

Severity = Literal["page", "ticket"]

SEVERITIES: tuple[Severity, ...] = ("page", "ticket")

ALERT_SEVERITY: dict[str, str] = {"page": "CRITICAL", "ticket": "WARNING"}
"""Cloud Monitoring's ``severity`` of an alert policy per routing severity."""

UPTIME_PERIODS = (60, 300, 600, 900)
"""The periods Cloud Monitoring accepts for uptime checks, in seconds."""

MAX_ROLLING_DAYS = 30
"""``google_monitoring_slo.rolling_period_days`` is 1..30."""

MAX_GOAL = 0.999
"""``google_monitoring_slo.goal`` is at most 0.999 (0 < goal <= 0.999)."""

_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CHANNEL = re.compile(r"^projects/[a-z0-9:.-]+/notificationChannels/[0-9]+$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


check_duration = matching(
    _DURATION, "must be a duration such as '90s', '5m', '1h' or '7d' (a whole number and s, m, h or d)", field="duration",
    doc="``value`` if it is a whole number of seconds, minutes, hours or days (``\"90s\"``, ``\"5m\"``).",
)


def seconds(duration: str) -> int:
    """``"5m"`` -> 300."""
    match = _DURATION.fullmatch(check_duration(duration))
    assert match is not None
    return int(match.group(1)) * _UNIT[match.group(2)]


def api_duration(duration: str) -> str:
    """``"5m"`` -> ``"300s"``: the form the Monitoring API and the provider store."""
    return f"{seconds(duration)}s"


def check_channel(value: str, field: str = "channels") -> str:
    """An existing notification channel: its full name or a Terraform reference to one."""
    if is_token(value):
        return value
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise ConfigurationError(
            field, value, "must be a notification channel name projects/<project>/notificationChannels/<number> "
            "(gcloud beta monitoring channels list shows them) or a Terraform reference",
        )
    return value


check_email = matching(_EMAIL, "must be an email address such as oncall@example.com", field="emails", doc="An email address.")


Duration = Annotated[str, rule(check_duration)]
ChannelName = Annotated[str, rule(check_channel)]
Email = Annotated[str, rule(check_email)]


def _minutes(value: str, field: str, *, low: int = 60, high: int = 86400) -> None:
    """A duration of whole minutes between ``low`` and ``high`` seconds (alert durations and windows)."""
    total = seconds(value)
    if total % 60 or not low <= total <= high:
        raise invalid(field, value, f"must be whole minutes between {_show(low)} and {_show(high)}")


def _show(total: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


# -- notification ----------------------------------------------------------------------------------

class NotificationRouteSpec(Spec):
    """Where the alerts of one severity go: existing channels (PagerDuty, Slack, webhooks, SMS: any
    channel created in Cloud Monitoring, with its secrets kept out of Terraform) and email addresses
    for which an email channel is created. Defaults to none: the alert still opens an incident in
    the console."""

    channels: Annotated[tuple[ChannelName, ...], unique("channel", key=str.lower)] = Field(
        default=(), description="Existing notification channels, projects/<project>/notificationChannels/<number>. Defaults to none.",
    )
    emails: Annotated[tuple[Email, ...], unique("address", key=str.lower)] = Field(default=(), description="Email addresses to create an email channel for. Defaults to none.")


class NotificationsSpec(Spec):
    """Routing by severity: ``page`` alerts go to ``page``'s channels, ``ticket`` alerts to ``ticket``'s."""

    page: NotificationRouteSpec = Field(
        default_factory=NotificationRouteSpec, description="Who is paged (users affected now, fast budget burn). Defaults to no one.",
    )
    ticket: NotificationRouteSpec = Field(
        default_factory=NotificationRouteSpec, description="Who gets a ticket (slow burn, saturation, cache pressure). Defaults to no one.",
    )


# -- burn-rate alerting ------------------------------------------------------------------------------

class BurnRateSpec(Spec):
    """One multi-window burn-rate alert (the SRE workbook's recipe): it fires when the error budget
    burns faster than ``factor`` over both ``long_window`` and ``short_window`` (the short window
    resets it soon after the burn stops)."""

    name: NamePart = Field(description="Name of the window pair, part of the alert's construct id (fast, slow...).")
    long_window: Duration = Field(description="Long lookback, e.g. '1h'. Whole minutes, at most the SLO's rolling window.")
    short_window: Duration = Field(description="Short lookback, shorter than long_window, e.g. '5m' (usually 1/12 of it).")
    factor: float = Field(gt=1, le=1000, description="Burn rate that fires the alert (1 = the budget lasts exactly the SLO window).")
    severity: Severity = Field(description="page or ticket.")

    @model_validator(mode="after")
    def _windows(self) -> "BurnRateSpec":
        _minutes(self.long_window, "long_window", low=300, high=7 * 86400)
        _minutes(self.short_window, "short_window", low=60, high=7 * 86400)
        if seconds(self.short_window) >= seconds(self.long_window):
            raise invalid("short_window", self.short_window, f"must be shorter than long_window ({self.long_window})")
        return self


DEFAULT_BURN_RATES: tuple[BurnRateSpec, ...] = (
    BurnRateSpec(name="fast", long_window="1h", short_window="5m", factor=14.4, severity="page"),
    BurnRateSpec(name="slow", long_window="6h", short_window="30m", factor=6.0, severity="ticket"),
)
"""The SRE workbook's pairs for a 30-day budget: 14.4x over 1 h (2 % of the budget gone) pages,
6x over 6 h (5 % gone) opens a ticket."""


# -- symptom alerts ----------------------------------------------------------------------------------

class AlertSpec(Spec):
    """Common shape of a symptom alert: on/off, how long the condition must hold, who hears of it."""

    enabled: bool = Field(default=True, description="Create the alert. Defaults to on.")
    duration: Duration = Field(default="5m", description="How long the condition must hold before the alert fires. Defaults to 5m.")
    severity: Severity = Field(default="ticket", description="page or ticket. Defaults to ticket.")

    min_duration: ClassVar[int] = 60
    max_duration: ClassVar[int] = 86400

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        _minutes(value, "duration", low=cls.min_duration, high=cls.max_duration)
        return value


class ErrorRatioAlertSpec(AlertSpec):
    """Share of a model's requests answered 5xx. Defaults to > 5 % for 5 minutes, paging: the users
    of that model see errors now, whatever the budget says."""

    threshold: float = Field(default=0.05, gt=0, lt=1, description="Share of 5xx responses, in (0, 1). Defaults to 0.05.")
    severity: Severity = Field(default="page", description="Defaults to page.")


class LatencyAlertSpec(AlertSpec):
    """95th percentile of the backend latency. Defaults to above twice the latency SLO threshold
    for 10 minutes, as a ticket: the SLO already pages on a fast burn; this says requests got slow."""

    threshold_ms: int | None = Field(
        default=None, ge=1, le=3_600_000, description="p95 in milliseconds. Defaults to twice the latency SLO's threshold_ms.",
    )
    duration: Duration = Field(default="10m", description="Defaults to 10m.")


class NoHealthyBackendsAlertSpec(AlertSpec):
    """The load balancer found no healthy backend for a model's request (``failed_to_pick_backend``
    in its request log): every replica is down or failing its health check. Pages. Needs the backend
    service's request logging (on by default); ``duration`` is how often it notifies again while it
    lasts (log-based alerts notify at most every 5 minutes)."""

    severity: Severity = Field(default="page", description="Defaults to page.")
    min_duration: ClassVar[int] = 300


class SaturationAlertSpec(AlertSpec):
    """Replicas pinned at the autoscaler's maximum: the fleet cannot grow any more, latency and
    errors follow. Defaults to at least 100 % of max_replicas for 30 minutes, as a ticket (raise
    max_replicas or the quota)."""

    threshold: float = Field(default=1.0, gt=0, le=1, description="Share of max_replicas, in (0, 1]. Defaults to 1.0 (at the maximum).")
    duration: Duration = Field(default="30m", description="Defaults to 30m: short peaks at the maximum are what autoscaling is for.")


class GpuAlertSpec(AlertSpec):
    """Fleet-average GPU utilization of GPU models. Defaults to above 90 % for 30 minutes, as a
    ticket: the fleet is at its throughput limit (scale the target or max_replicas)."""

    threshold: float = Field(default=0.9, gt=0, le=1, description="Utilization in (0, 1]. Defaults to 0.9.")
    duration: Duration = Field(default="30m", description="Defaults to 30m.")


class CacheMemoryAlertSpec(AlertSpec):
    """Memorystore system memory usage (instance mode; cluster mode: the fullest node). Defaults to
    above 80 % for 5 minutes, as a ticket: Google's guidance for headroom before evictions and
    out-of-memory failovers."""

    threshold: float = Field(default=0.8, gt=0, lt=1, description="Usage ratio in (0, 1). Defaults to 0.8.")


class CacheEvictionsAlertSpec(AlertSpec):
    """Keys evicted per second for lack of memory. Defaults to above 100/s for 15 minutes, as a
    ticket: an LRU cache evicts a little once full; sustained eviction means it is too small for the
    working set and the hit ratio suffers."""

    threshold: float = Field(default=100.0, gt=0, description="Evicted keys per second (> 0). Defaults to 100.")
    duration: Duration = Field(default="15m", description="Defaults to 15m.")


class CacheAvailabilityAlertSpec(AlertSpec):
    """The cache stops reporting (no data for ``duration``: down or unreachable), and, for a
    STANDARD_HA instance, a failover (the primary changed). Defaults to 10 minutes without data, as
    a page: the model servers lose their cache."""

    severity: Severity = Field(default="page", description="Defaults to page.")
    duration: Duration = Field(default="10m", description="How long without data counts as down, at least 2m. Defaults to 10m.")
    min_duration: ClassVar[int] = 120
    failover_severity: Severity = Field(default="ticket", description="Severity of the failover alert. Defaults to ticket (service recovered itself).")


class UptimeSpec(AlertSpec):
    """An uptime check per model through the load balancer (HTTPS when the load balancer has it),
    from every checker region. Alerts when more than one region fails for ``duration``; pages."""

    period: Duration = Field(default="1m", description="Check period: 1m, 5m, 10m or 15m. Defaults to 1m.")
    timeout: Duration = Field(default="10s", description="Response timeout, 1s..60s. Defaults to 10s.")
    severity: Severity = Field(default="page", description="Defaults to page.")

    @model_validator(mode="after")
    def _period(self) -> "UptimeSpec":
        if seconds(self.period) not in UPTIME_PERIODS:
            raise invalid("period", self.period, "must be 1m, 5m, 10m or 15m (the periods Cloud Monitoring offers)")
        if not 1 <= seconds(self.timeout) <= 60:
            raise invalid("timeout", self.timeout, "must be between 1s and 60s")
        return self


# -- objectives --------------------------------------------------------------------------------------

class ModelObjectivesSpec(Spec):
    """One model's own objectives (``[observability.models.<name>]``); unset fields keep the
    deployment's. A large language model answers in seconds where an image classifier answers in
    milliseconds: their latency thresholds differ."""

    availability_target: float | None = Field(default=None, description="Overrides availability_target.")
    latency_target: float | None = Field(default=None, description="Overrides latency_target.")
    latency_threshold_ms: int | None = Field(default=None, ge=1, le=3_600_000, description="Overrides latency_threshold_ms.")
    p95_latency_ms: int | None = Field(default=None, ge=1, le=3_600_000, description="Overrides latency_alert.threshold_ms.")
    uptime_check: bool = Field(default=True, description="Create this model's uptime check. Defaults to on.")

    @field_validator("availability_target", "latency_target")
    @classmethod
    def _target(cls, value: float | None, info) -> float | None:  # noqa: ANN001
        if value is not None:
            _check_target(value, info.field_name)
        return value


def _check_target(value: float, field: str) -> None:
    if not 0.9 <= value <= MAX_GOAL:
        raise invalid(
            field, value,
            f"must be between 0.9 and {MAX_GOAL} (a share of good requests; Cloud Monitoring accepts goals up to {MAX_GOAL})",
        )


class ObservabilitySpec(Spec):
    """Tunables of ``ServingObservability``; the ``[observability]`` section of an environment file.

    Per model: an uptime check, a Cloud Monitoring service with an availability SLO (non-5xx share
    of the model's backend service) and a latency SLO (share of requests under
    ``latency_threshold_ms``), multi-window burn-rate alerts on both, and symptom alerts (5xx ratio,
    p95 latency, no healthy backends, saturation, GPU utilization); per cache region: memory,
    evictions, availability and failover alerts; one dashboard per environment."""

    enabled: bool | None = Field(
        default=None,
        description="Create the monitoring. Defaults to None: on in every environment except dev (which may opt in).",
    )
    notifications: NotificationsSpec = Field(default_factory=NotificationsSpec, description="Channels per severity. Defaults to none: alerts open incidents in the console only.")
    availability_target: float = Field(
        default=0.995,
        description="Share of a model's requests not answered 5xx, 0.9..0.999. Defaults to 0.995: about 3.4 hours of full outage per 4 weeks.",
    )
    latency_target: float = Field(
        default=0.99, description="Share of requests faster than latency_threshold_ms, 0.9..0.999. Defaults to 0.99.",
    )
    latency_threshold_ms: int = Field(
        default=1000, ge=1, le=3_600_000,
        description="Backend latency a request must beat to count as good. Defaults to 1000 ms; set it per model for slow (LLM) models.",
    )
    rolling_window: Duration = Field(
        default="28d", description="SLO compliance window, whole days 1d..30d. Defaults to 28d: four whole weeks (weekends weigh the same).",
    )
    burn_rates: Annotated[tuple[BurnRateSpec, ...], unique("window name", key=lambda window: window.name)] = Field(
        default=DEFAULT_BURN_RATES,
        description="Burn-rate alerts on every SLO. Defaults to fast (1h/5m at 14.4x, page) and slow (6h/30m at 6x, ticket).",
    )
    error_ratio: ErrorRatioAlertSpec = Field(default_factory=ErrorRatioAlertSpec, description="5xx ratio alert. Defaults to > 5 % for 5m, page.")
    latency_alert: LatencyAlertSpec = Field(default_factory=LatencyAlertSpec, description="p95 latency alert. Defaults to > 2x latency_threshold_ms for 10m, ticket.")
    no_healthy_backends: NoHealthyBackendsAlertSpec = Field(default_factory=NoHealthyBackendsAlertSpec, description="No healthy backend alert (load-balancer request log). Defaults to on, page.")
    saturation: SaturationAlertSpec = Field(default_factory=SaturationAlertSpec, description="Replicas pinned at max_replicas. Defaults to 100 % of the maximum for 30m, ticket.")
    gpu_utilization: GpuAlertSpec = Field(default_factory=GpuAlertSpec, description="GPU utilization of GPU models. Defaults to > 90 % for 30m, ticket.")
    vm_gpu_metric: MetricType = Field(
        default="agent.googleapis.com/gpu/utilization",
        description="GPU utilization metric (percent) of VM fleets. Defaults to the Ops Agent's; the VMs must run an agent that writes it.",
    )
    cache_memory: CacheMemoryAlertSpec = Field(default_factory=CacheMemoryAlertSpec, description="Cache memory alert. Defaults to > 80 % for 5m, ticket.")
    cache_evictions: CacheEvictionsAlertSpec = Field(default_factory=CacheEvictionsAlertSpec, description="Cache evictions alert. Defaults to > 100 keys/s for 15m, ticket.")
    cache_availability: CacheAvailabilityAlertSpec = Field(default_factory=CacheAvailabilityAlertSpec, description="Cache down (no data for 10m, page) and failover (ticket) alerts.")
    uptime: UptimeSpec = Field(default_factory=UptimeSpec, description="Uptime checks and their alert. Defaults to every 1m, page when more than one region fails for 5m.")
    dashboard: bool = Field(default=True, description="Create the environment's dashboard. Defaults to on.")
    models: dict[str, ModelObjectivesSpec] = Field(default_factory=dict, description="Per-model objectives, by model name. Defaults to none: every model has the deployment's.")

    @field_validator("availability_target", "latency_target")
    @classmethod
    def _target(cls, value: float, info) -> float:  # noqa: ANN001
        _check_target(value, info.field_name)
        return value

    @field_validator("rolling_window")
    @classmethod
    def _window(cls, value: str) -> str:
        if seconds(value) % 86400 or not 1 <= seconds(value) // 86400 <= MAX_ROLLING_DAYS:
            raise invalid("rolling_window", value, f"must be whole days between 1d and {MAX_ROLLING_DAYS}d (Cloud Monitoring's rolling periods)")
        return value

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelObjectivesSpec]) -> dict[str, ModelObjectivesSpec]:
        for name in value:
            try:
                check_name_part(name, name)
            except ConfigurationError as error:
                raise invalid(f"models.{name}", name, f"must be a model name: {error.allowed}") from None
        return value

    @model_validator(mode="after")
    def _rules(self) -> "ObservabilitySpec":
        names = [b.name for b in self.burn_rates]
        if len(self.burn_rates) > 4:
            raise invalid("burn_rates", names, "at most 4 window pairs (each is an alert policy per SLO and model)")
        window = seconds(self.rolling_window)
        for index, burn in enumerate(self.burn_rates):
            if seconds(burn.long_window) > window:
                raise invalid(
                    f"burn_rates[{index}].long_window", burn.long_window, f"must not be longer than rolling_window ({self.rolling_window})",
                )
        targets = [("availability_target", self.availability_target), ("latency_target", self.latency_target)]
        for name, objectives in self.models.items():
            for field in ("availability_target", "latency_target"):
                value = getattr(objectives, field)
                if value is not None:
                    targets.append((f"models.{name}.{field}", value))
        for field, target in targets:
            for burn in self.burn_rates:
                # The error ratio can never exceed 1: a factor whose budget share reaches 1 never fires.
                if burn.factor * (1 - target) >= 1:
                    raise invalid(
                        field, target,
                        f"burn rate {burn.name} ({burn.factor}x) times the error budget ({1 - target:.4g}) is >= 1, so that alert could "
                        "never fire; raise the target or lower the factor",
                    )
        return self

    def resolve_enabled(self, *, default: bool) -> bool:
        """``enabled``, or ``default`` when unset (the environment tier decides: off for dev)."""
        return default if self.enabled is None else self.enabled

    def objectives(self, model: str) -> "Objectives":
        """The resolved objectives of ``model`` (its overrides on top of the deployment's)."""
        own = self.models.get(model, ModelObjectivesSpec())
        threshold = own.latency_threshold_ms or self.latency_threshold_ms
        return Objectives(
            availability_target=own.availability_target or self.availability_target,
            latency_target=own.latency_target or self.latency_target,
            latency_threshold_ms=threshold,
            p95_latency_ms=own.p95_latency_ms or self.latency_alert.threshold_ms or 2 * threshold,
            uptime_check=own.uptime_check and self.uptime.enabled,
            rolling_days=seconds(self.rolling_window) // 86400,
        )


@dataclass(frozen=True)
class Objectives:
    """A model's resolved objectives (``ObservabilitySpec.objectives(name)``)."""

    availability_target: float
    latency_target: float
    latency_threshold_ms: int
    p95_latency_ms: int
    uptime_check: bool
    rolling_days: int
