"""``FleetAutoscaler``: a regional autoscaler that sizes a model's managed instance group.

Signals (``ScalingSpec``): CPU utilization (default target 0.6, optionally predictive),
load-balancing utilization, Cloud Monitoring metrics (GPU duty cycle, queue depth...), and
scaling schedules (a warm floor for known peaks). Scale-in control keeps a traffic dip from
dropping VMs that took minutes to load their model. The cooldown (GCP's "initialization
period") defaults to the group's ``startup_timeout_sec``: a VM still loading its model says
nothing useful about load.
"""

from __future__ import annotations

from constructs import Construct

from constructs_lib._google import compute_region_autoscaler
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import ScalableTarget
from constructs_lib.naming import check_name
from constructs_lib.regions import check_region
from constructs_lib.specs.scaling import DEFAULT_COOLDOWN_SEC, ScalingSpec


class FleetAutoscaler(Construct):
    """``google_compute_region_autoscaler`` for a fleet's regional MIG (child id ``default``).

    ``fleet`` is a ``ScalableTarget`` (a ``ModelServerFleet``): the autoscaler is named
    ``<group name>-as`` and attaches itself to the group (one per group). Exposes ``autoscaler``,
    ``spec`` and ``cooldown_period_sec``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        fleet: ScalableTarget,
        spec: ScalingSpec | None = None,
    ) -> None:
        spec = spec or ScalingSpec()
        if not isinstance(fleet, ScalableTarget):
            raise ConfigurationError(
                "fleet", type(fleet).__name__,
                "must be a ScalableTarget (group_manager_id, region, name, startup_timeout_sec, attach_autoscaler), e.g. a ModelServerFleet",
            )
        region = check_region(fleet.region, "fleet.region")
        name = check_name(f"{fleet.name}-as", "name")
        super().__init__(scope, id_)
        cooldown = spec.cooldown_period_sec
        if cooldown is None:
            cooldown = fleet.startup_timeout_sec if fleet.startup_timeout_sec >= 15 else DEFAULT_COOLDOWN_SEC
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
            target=fleet.group_manager_id,
            description="Sizes the model server group (managed by cdktf)",
            autoscaling_policy=policy,
        )
        fleet.attach_autoscaler(self)
