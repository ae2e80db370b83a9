import re
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from constructs_lib.autoscaling import (
    DEFAULT_COOLDOWN_SEC,
    AutoscalingSpec,
    FleetAutoscaler,
    MetricSpec,
    ScaleInControlSpec,
    ScheduleSpec,
    check_cron,
)
from constructs_lib.compute import ContainerSpec, FleetSpec, ModelServerFleet
from constructs_lib.errors import ConfigurationError
from constructs_lib.network import ServingNetwork
from tests.conftest import only_resource, synth

MIG_ID = "projects/test-project-123/regions/europe-west1/instanceGroupManagers/ml-test-llama-europe-west1"
WEEKDAYS = ScheduleSpec(name="weekday-peak", schedule="0 8 * * MON-FRI", duration_sec=36000, min_required_replicas=4,
                        time_zone="Europe/Berlin", description="Office hours")


def _group(region="europe-west1", **extra):
    """A stand-in for anything with a regional MIG: the autoscaler needs only its id and region."""
    return SimpleNamespace(group_manager=SimpleNamespace(id=MIG_ID), region=region, **extra)


def _policy(stack, naming, fleet=None, **spec):
    FleetAutoscaler(stack, "autoscaler", fleet=fleet or _group(), naming=naming,
                    spec=AutoscalingSpec(**spec) if spec else None)
    return only_resource(synth(stack), "google_compute_region_autoscaler")


# -- defaults -----------------------------------------------------------------------------------

def test_default_autoscaler_scales_1_to_10_on_cpu_0_6(stack, naming):
    autoscaler = _policy(stack, naming)
    assert autoscaler["name"] == "ml-test-europe-west1-as"
    assert autoscaler["region"] == "europe-west1"
    assert autoscaler["target"] == MIG_ID
    assert autoscaler["autoscaling_policy"] == {
        "min_replicas": 1,
        "max_replicas": 10,
        "cooldown_period": DEFAULT_COOLDOWN_SEC,
        "mode": "ON",
        "cpu_utilization": {"target": 0.6, "predictive_method": "NONE"},
    }


def test_name_and_cooldown_come_from_the_fleet(stack, naming):
    autoscaler = _policy(stack, naming, fleet=_group(name="ml-test-llama-europe-west1", initial_delay_sec=900))
    assert autoscaler["name"] == "ml-test-llama-europe-west1-as"
    assert autoscaler["autoscaling_policy"]["cooldown_period"] == 900


def test_targets_a_model_server_fleet(stack, naming):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"])
    fleet = ModelServerFleet(stack, "llama", network=network, naming=naming, region="europe-west1", model="llama",
                             spec=FleetSpec(container=ContainerSpec(image="server:1"), initial_delay_sec=450))
    scaler = FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet, naming=naming)
    autoscaler = only_resource(synth(stack), "google_compute_region_autoscaler")
    assert autoscaler["target"] == "${google_compute_region_instance_group_manager.llama_group_99E5CD86.id}"
    assert autoscaler["autoscaling_policy"]["cooldown_period"] == 450
    assert scaler.cooldown_period_sec == 450
    assert fleet.autoscaler is scaler


# -- options -------------------------------------------------------------------------------------

def test_replicas_cooldown_mode_and_predictive_cpu(stack, naming):
    policy = _policy(stack, naming, fleet=_group(initial_delay_sec=900), min_replicas=2, max_replicas=40,
                     cooldown_period_sec=240, mode="ONLY_SCALE_OUT", cpu_target=0.75, cpu_predictive=True)["autoscaling_policy"]
    assert (policy["min_replicas"], policy["max_replicas"], policy["cooldown_period"], policy["mode"]) == (2, 40, 240, "ONLY_SCALE_OUT")
    assert policy["cpu_utilization"] == {"target": 0.75, "predictive_method": "OPTIMIZE_AVAILABILITY"}


def test_load_balancing_utilization_without_cpu(stack, naming):
    policy = _policy(stack, naming, cpu_target=None, load_balancing_target=0.8)["autoscaling_policy"]
    assert policy["load_balancing_utilization"] == {"target": 0.8}
    assert "cpu_utilization" not in policy


def test_custom_metrics(stack, naming):
    metrics = (
        MetricSpec(name="agent.googleapis.com/gpu/utilization", target=70, type="GAUGE",
                   filter='resource.type = "gce_instance"'),
        MetricSpec(name="custom.googleapis.com/serving/queue_depth", single_instance_assignment=16,
                   filter='resource.type = "global" AND metric.labels.model = "llama"'),
    )
    policy = _policy(stack, naming, metrics=metrics)["autoscaling_policy"]
    assert policy["metric"] == [
        {"name": "agent.googleapis.com/gpu/utilization", "target": 70, "type": "GAUGE",
         "filter": 'resource.type = "gce_instance"'},
        {"name": "custom.googleapis.com/serving/queue_depth", "single_instance_assignment": 16,
         "filter": 'resource.type = "global" AND metric.labels.model = "llama"'},
    ]
    assert policy["cpu_utilization"]["target"] == 0.6


@pytest.mark.parametrize(("control", "expected"), [
    (ScaleInControlSpec(max_scaled_in_replicas_fixed=2), {"time_window_sec": 600, "max_scaled_in_replicas": {"fixed": 2}}),
    (ScaleInControlSpec(max_scaled_in_replicas_percent=25, time_window_sec=1200),
     {"time_window_sec": 1200, "max_scaled_in_replicas": {"percent": 25}}),
])
def test_scale_in_control(stack, naming, control, expected):
    assert _policy(stack, naming, scale_in_control=control)["autoscaling_policy"]["scale_in_control"] == expected


def test_schedules(stack, naming):
    nightly = ScheduleSpec(name="nightly-batch", schedule="*/30 1-4 * * *", duration_sec=300, min_required_replicas=2,
                           disabled=True)
    policy = _policy(stack, naming, schedules=(WEEKDAYS, nightly))["autoscaling_policy"]
    assert policy["scaling_schedules"] == [
        {"name": "weekday-peak", "schedule": "0 8 * * MON-FRI", "duration_sec": 36000, "min_required_replicas": 4,
         "time_zone": "Europe/Berlin", "description": "Office hours", "disabled": False},
        {"name": "nightly-batch", "schedule": "*/30 1-4 * * *", "duration_sec": 300, "min_required_replicas": 2,
         "time_zone": "UTC", "disabled": True},
    ]


def test_schedules_alone_are_a_signal():
    spec = AutoscalingSpec(cpu_target=None, schedules=(WEEKDAYS,))
    assert spec.cpu_target is None


def test_mode_off_and_utilization_target_of_one(stack, naming):
    policy = _policy(stack, naming, mode="OFF", cpu_target=1.0)["autoscaling_policy"]
    assert policy["mode"] == "OFF"
    assert policy["cpu_utilization"]["target"] == 1


@pytest.mark.parametrize("expression", [
    "0 8 * * MON-FRI", "*/15 * * * *", "0 0 1 JAN,JUL *", "30 6-18/2 * * 1-5", "0 0 * * 7", "59 23 31 12 SUN",
])
def test_valid_cron_expressions(expression):
    assert check_cron(expression) == expression


# -- validation -----------------------------------------------------------------------------------

def test_fails_when_min_replicas_exceeds_max():
    with pytest.raises(ValidationError, match=r"max_replicas \(2\) must be >= min_replicas \(4\)"):
        AutoscalingSpec(min_replicas=4, max_replicas=2)


def test_fails_when_max_replicas_is_zero():
    with pytest.raises(ValidationError, match=r"max_replicas"):
        AutoscalingSpec(min_replicas=0, max_replicas=0)


@pytest.mark.parametrize("field", ["cpu_target", "load_balancing_target"])
@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, 60.0])
def test_fails_when_utilization_target_is_outside_0_1(field, value):
    with pytest.raises(ValidationError, match=rf"{field} = {value}: utilization targets must be in \(0, 1\]"):
        AutoscalingSpec(**{field: value})


@pytest.mark.parametrize(("expression", "message"), [
    ("0 8 * *", r"must be a 5-field cron expression"),
    ("0 8 * * * *", r"must be a 5-field cron expression"),
    ("60 8 * * *", r"the minute field '60' is not valid \(0-59"),
    ("0 24 * * *", r"the hour field '24' is not valid"),
    ("0 8 0 * *", r"the day of month field '0' is not valid"),
    ("0 8 * FOO *", r"the month field 'FOO' is not valid"),
    ("0 8 * * MON-XYZ", r"the day of week field 'MON-XYZ' is not valid"),
    ("0 18-8 * * *", r"the hour field '18-8' is not valid"),
    ("*/0 * * * *", r"the minute field '\*/0' is not valid"),
])
def test_fails_when_schedule_has_a_bad_cron(expression, message):
    with pytest.raises(ValidationError, match=rf"schedules.schedule = '{re.escape(expression)}': {message}"):
        ScheduleSpec(name="peak", schedule=expression, duration_sec=600, min_required_replicas=1)


def test_fails_when_schedule_duration_is_below_300():
    with pytest.raises(ValidationError, match=r"schedules.duration_sec = 299: must be at least 300 seconds"):
        ScheduleSpec(name="peak", schedule="0 8 * * *", duration_sec=299, min_required_replicas=1)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CEST", "../etc/passwd", ""])
def test_fails_when_time_zone_is_not_iana(zone):
    with pytest.raises(ValidationError, match=r"schedules.time_zone = .*: must be an IANA time zone"):
        ScheduleSpec(name="peak", schedule="0 8 * * *", duration_sec=600, min_required_replicas=1, time_zone=zone)


def test_fails_when_schedule_name_is_invalid():
    with pytest.raises(ValidationError, match=r"schedules.name = 'Peak Hours': must match"):
        ScheduleSpec(name="Peak Hours", schedule="0 8 * * *", duration_sec=600, min_required_replicas=1)


def test_fails_when_schedule_floor_exceeds_max_replicas():
    with pytest.raises(ValidationError, match=r"schedules\[0\].min_required_replicas \(4\) must be <= max_replicas \(3\)"):
        AutoscalingSpec(max_replicas=3, schedules=(WEEKDAYS,))


def test_fails_when_schedule_names_repeat():
    with pytest.raises(ValidationError, match=r"schedule names must be unique; repeated: weekday-peak"):
        AutoscalingSpec(schedules=(WEEKDAYS, WEEKDAYS))


def test_fails_when_metric_has_both_or_neither_target():
    with pytest.raises(ValidationError, match=r"set exactly one of target or single_instance_assignment"):
        MetricSpec(name="custom.googleapis.com/q", target=1, single_instance_assignment=1, filter="x")
    with pytest.raises(ValidationError, match=r"set exactly one of target or single_instance_assignment"):
        MetricSpec(name="custom.googleapis.com/q")


def test_fails_when_metric_target_is_not_positive():
    with pytest.raises(ValidationError, match=r"target \(0.0\) must be > 0"):
        MetricSpec(name="custom.googleapis.com/q", target=0)


def test_fails_when_metric_type_is_given_without_target():
    with pytest.raises(ValidationError, match=r"type applies to target only"):
        MetricSpec(name="custom.googleapis.com/q", single_instance_assignment=4, type="GAUGE", filter="x")


def test_fails_when_single_instance_assignment_has_no_filter():
    with pytest.raises(ValidationError, match=r"single_instance_assignment needs a filter"):
        MetricSpec(name="custom.googleapis.com/q", single_instance_assignment=4)


def test_fails_when_metric_name_is_not_a_metric_type():
    with pytest.raises(ValidationError, match=r"metrics.name = 'queue_depth': must be a Cloud Monitoring metric type"):
        MetricSpec(name="queue_depth", target=1)


def test_fails_when_metric_type_is_unknown():
    with pytest.raises(ValidationError, match=r"type"):
        MetricSpec(name="custom.googleapis.com/q", target=1, type="CUMULATIVE")


def test_fails_when_scale_in_control_has_both_or_neither_limit():
    with pytest.raises(ValidationError, match=r"set exactly one of max_scaled_in_replicas_fixed or max_scaled_in_replicas_percent"):
        ScaleInControlSpec()
    with pytest.raises(ValidationError, match=r"set exactly one of"):
        ScaleInControlSpec(max_scaled_in_replicas_fixed=1, max_scaled_in_replicas_percent=10)


def test_fails_when_scale_in_percent_exceeds_100():
    with pytest.raises(ValidationError, match=r"max_scaled_in_replicas_percent"):
        ScaleInControlSpec(max_scaled_in_replicas_percent=150)


def test_fails_when_predictive_has_no_cpu_target():
    with pytest.raises(ValidationError, match=r"cpu_predictive needs cpu_target"):
        AutoscalingSpec(cpu_target=None, load_balancing_target=0.8, cpu_predictive=True)


def test_fails_when_there_is_no_signal():
    with pytest.raises(ValidationError, match=r"set at least one signal: cpu_target, load_balancing_target, metrics or schedules"):
        AutoscalingSpec(cpu_target=None)


def test_fails_when_mode_is_unknown():
    with pytest.raises(ValidationError, match=r"mode"):
        AutoscalingSpec(mode="ONLY_UP")


def test_fails_when_fleet_has_no_group_manager(stack, naming):
    with pytest.raises(ConfigurationError, match=r"fleet = 'SimpleNamespace': must have group_manager and region"):
        FleetAutoscaler(stack, "autoscaler", fleet=SimpleNamespace(region="europe-west1"), naming=naming)


def test_fails_when_fleet_region_is_unknown(stack, naming):
    with pytest.raises(ConfigurationError, match=r"fleet.region = 'europe-west99': unknown Google Cloud region"):
        FleetAutoscaler(stack, "autoscaler", fleet=_group(region="europe-west99"), naming=naming)


def test_fails_when_a_fleet_gets_a_second_autoscaler(stack, naming):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"])
    fleet = ModelServerFleet(stack, "llama", network=network, naming=naming, region="europe-west1", model="llama",
                             spec=FleetSpec(container=ContainerSpec(image="server:1")))
    FleetAutoscaler(stack, "first", fleet=fleet, naming=naming)
    with pytest.raises(ConfigurationError, match=r"fleet = 'test/llama': already has an autoscaler \(test/first\); a group takes one"):
        FleetAutoscaler(stack, "second", fleet=fleet, naming=naming)
