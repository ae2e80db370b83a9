"""``FleetAutoscaler``: a regional autoscaler that sizes a model's managed instance group.

The serving signal (``ScalingSpec.signal``, resolved by ``resolve_signals``) maps to the
autoscaling policy as follows (Compute Engine takes the largest recommendation of all signals):

* ``cpu``: ``cpu_utilization`` at the target (default 0.6, optionally predictive);
* ``gpu``: the Ops Agent's per-GPU utilization (``agent.googleapis.com/gpu/utilization``, percent
  of time a kernel ran, NVML) as a per-instance GAUGE. The agent writes one time series per GPU
  and the autoscaler sums the series of an instance, so the target is ``target x 100 x GPUs per
  VM`` (a 4-GPU VM at 70 % each reads 280): the mean GPU of a VM is held at the target;
* ``in-flight``: the model server's gauge ``custom.googleapis.com/<in_flight_metric>`` (written
  per VM, monitored resource ``gce_instance``) as a per-instance GAUGE at the target;
* ``request-rate``: ``load_balancing_utilization`` at ``load_balancing_target`` (default 0.8) of
  the backend's RATE capacity, whose ``max_rate_per_instance`` is the target (the fleet's backend
  switches to RATE): replicas run at 80 % of the requests/s one can serve.

``cpu_target`` adds CPU next to a non-CPU signal; ``load_balancing_target``, ``metrics`` (at
most 5 Monitoring metrics in all) and ``schedules`` (a warm floor for known peaks) add to them.
Scale-in control keeps a traffic dip from dropping VMs that took minutes to load their model.
The cooldown (GCP's "initialization period") defaults to the group's ``startup_timeout_sec``: a
VM still loading its model says nothing useful about load.
"""

from __future__ import annotations

from typing import Sequence

from constructs import Construct

from constructs_lib._google import compute_region_autoscaler
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import ScalableTarget
from constructs_lib.naming import check_name
from constructs_lib.regions import check_region
from constructs_lib.specs.scaling import DEFAULT_COOLDOWN_SEC, ScalingSignal, ScalingSpec, resolve_signals

GPU_UTILIZATION_METRIC = "agent.googleapis.com/gpu/utilization"
"""The Ops Agent's per-GPU utilization (0-100, NVML), one time series per GPU of a VM (GA; the
DCGM receiver's metrics are richer but need DCGM and a Preview receiver)."""

PER_INSTANCE_FILTER = 'resource.type = "gce_instance"'
"""Selects the per-VM time series of a metric (the autoscaler then expects one per VM)."""

REQUEST_RATE_UTILIZATION = 0.8
"""Load-balancing utilization the ``request-rate`` signal holds when ``load_balancing_target`` is
unset: 80 % of the rate a replica can serve, headroom while new VMs load their model."""

MAX_METRICS = 5
"""Compute Engine autoscales on at most 5 Monitoring metrics per group."""


class FleetAutoscaler(Construct):
    """``google_compute_region_autoscaler`` for a fleet's regional MIG (child id ``default``).

    ``fleet`` is a ``ScalableTarget`` (a ``ModelServerFleet``): the autoscaler is named
    ``<group name>-as`` and attaches itself to the group (one per group). ``signals`` default to
    ``resolve_signals(spec)`` for the fleet's GPUs; ``gpus_per_vm`` defaults to the fleet's
    ``gpus_per_vm`` (0 when it has none), the ``gpu`` signal's multiplier. Exposes ``autoscaler``,
    ``spec``, ``signals`` and ``cooldown_period_sec``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleet: ScalableTarget,
        spec: ScalingSpec | None = None,
        signals: Sequence[ScalingSignal] | None = None,
        gpus_per_vm: int | None = None,
    ) -> None:
        if not isinstance(fleet, ScalableTarget):
            raise ConfigurationError(
                "fleet", type(fleet).__name__,
                "must be a ScalableTarget (group_manager_id, region, name, startup_timeout_sec, attach_autoscaler), e.g. a ModelServerFleet",
            )
        spec = spec or ScalingSpec()
        if gpus_per_vm is None:
            gpus_per_vm = getattr(fleet, "gpus_per_vm", 0)
        signals = tuple(signals) if signals is not None else resolve_signals(spec, gpu=gpus_per_vm > 0)
        by_kind = {signal.kind: signal for signal in signals}
        cpu = by_kind.get("cpu")
        if "gpu" in by_kind and gpus_per_vm < 1:
            raise ConfigurationError(
                "scaling.signal", "gpu", f"fleet {fleet.name} has no GPUs (gpus_per_vm = {gpus_per_vm}); use cpu, in-flight or request-rate",
            )
        signal_metrics = []
        if "gpu" in by_kind:
            signal_metrics.append((GPU_UTILIZATION_METRIC, round(by_kind["gpu"].target * 100 * gpus_per_vm, 6)))
        if "in-flight" in by_kind:
            signal_metrics.append((f"custom.googleapis.com/{spec.in_flight_metric}", by_kind["in-flight"].target))
        if len(signal_metrics) + len(spec.metrics) > MAX_METRICS:
            raise ConfigurationError(
                "scaling.metrics", len(spec.metrics),
                f"a group autoscales on at most {MAX_METRICS} Monitoring metrics, {len(signal_metrics)} of them the {signals[0].kind} signal's",
            )
        load_balancing = spec.load_balancing_target
        if "request-rate" in by_kind and load_balancing is None:
            load_balancing = REQUEST_RATE_UTILIZATION
        region = check_region(fleet.region, "fleet.region")
        name = check_name(f"{fleet.name}-as", "name")
        super().__init__(scope, id_)
        cooldown = spec.cooldown_period_sec
        if cooldown is None:
            cooldown = fleet.startup_timeout_sec if fleet.startup_timeout_sec >= 15 else DEFAULT_COOLDOWN_SEC
        self.spec = spec
        self.signals = signals
        self.cooldown_period_sec = cooldown

        policy = compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicy(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            cooldown_period=cooldown,
            mode=spec.mode,
            cpu_utilization=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyCpuUtilization(
                target=cpu.target,
                predictive_method="OPTIMIZE_AVAILABILITY" if spec.cpu_predictive else "NONE",
            ) if cpu is not None else None,
            load_balancing_utilization=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization(
                target=load_balancing,
            ) if load_balancing is not None else None,
            metric=[
                compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyMetric(
                    name=metric, target=target, type="GAUGE", filter=PER_INSTANCE_FILTER,
                ) for metric, target in signal_metrics
            ] + [
                # MetricSpec / ScheduleSpec fields are the API's, one to one.
                compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyMetric(**m.model_dump()) for m in spec.metrics
            ] or None,
            scale_in_control=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScaleInControl(
                time_window_sec=spec.scale_in_control.time_window_sec,
                max_scaled_in_replicas=compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScaleInControlMaxScaledInReplicas(
                    fixed=spec.scale_in_control.max_scaled_in_replicas_fixed,
                    percent=spec.scale_in_control.max_scaled_in_replicas_percent,
                ),
            ) if spec.scale_in_control is not None else None,
            scaling_schedules=[
                compute_region_autoscaler.ComputeRegionAutoscalerAutoscalingPolicyScalingSchedules(**s.model_dump()) for s in spec.schedules
            ] or None,
        )
        self.autoscaler = compute_region_autoscaler.ComputeRegionAutoscaler(
            self, "default",
            name=name,
            region=region,
            target=fleet.group_manager_id,
            description="Sizes the model server group (managed by cdktf)",
            autoscaling_policy=policy,
        )
        fleet.attach_autoscaler(self)
