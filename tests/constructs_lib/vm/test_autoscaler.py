"""``FleetAutoscaler`` (a regional autoscaler for a ``ScalableTarget``) and the ``ScalingSpec``
rules it runs on."""

import re
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import ScalableTarget
from constructs_lib.network import ServingNetwork
from constructs_lib.specs.model import AcceleratorSpec, ModelSpec
from constructs_lib.specs.scaling import (
    DEFAULT_COOLDOWN_SEC,
    MetricSpec,
    ScaleInControlSpec,
    ScalingSignal,
    ScalingSpec,
    ScheduleSpec,
    check_cron,
    resolve_signals,
)
from constructs_lib.vm.autoscaler import GPU_UTILIZATION_METRIC, FleetAutoscaler
from constructs_lib.vm.fleet import ModelServerFleet
from tests.conftest import only_resource, synth

MIG_ID = "projects/test-project-123/regions/europe-west1/instanceGroupManagers/ml-test-llama-europe-west1"
WEEKDAYS = ScheduleSpec(name="weekday-peak", schedule="0 8 * * MON-FRI", duration_sec=36000, min_required_replicas=4,
                        time_zone="Europe/Berlin", description="Office hours")


@dataclass(eq=False)
class FakeGroup:
    """A stand-in ``ScalableTarget`` (any regional MIG): the autoscaler needs its id, region, name
    and warm-up; ``startup_timeout_sec`` 0 means the group does not say how long a VM takes."""

    group_manager_id: str = MIG_ID
    region: str = "europe-west1"
    name: str = "ml-test-llama-europe-west1"
    startup_timeout_sec: int = 0
    autoscaler: Any = None

    def attach_autoscaler(self, autoscaler: Any) -> None:
        self.autoscaler = autoscaler


def _policy(stack, fleet=None, gpus_per_vm=None, **spec):
    FleetAutoscaler(stack, "autoscaler", fleet=fleet or FakeGroup(), spec=ScalingSpec(**spec) if spec else None, gpus_per_vm=gpus_per_vm)
    return only_resource(synth(stack), "google_compute_region_autoscaler")


def _fleet(stack, naming, vm=None, **model):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"])
    return ModelServerFleet(stack, "llama", network=network, naming=naming, region="europe-west1",
                            model=ModelSpec(name="llama", image="server:1", vm=vm or {}, **model))


# -- defaults -----------------------------------------------------------------------------------

def test_default_autoscaler_scales_1_to_10_on_cpu_0_6(stack):
    autoscaler = _policy(stack)
    assert autoscaler["name"] == "ml-test-llama-europe-west1-as"
    assert autoscaler["region"] == "europe-west1"
    assert autoscaler["target"] == MIG_ID
    assert autoscaler["autoscaling_policy"] == {
        "min_replicas": 1,
        "max_replicas": 10,
        "cooldown_period": DEFAULT_COOLDOWN_SEC,
        "mode": "ON",
        "cpu_utilization": {"target": 0.6, "predictive_method": "NONE"},
    }


def test_name_and_cooldown_come_from_the_fleet(stack):
    autoscaler = _policy(stack, fleet=FakeGroup(name="ml-test-resnet-us-east1", startup_timeout_sec=900))
    assert autoscaler["name"] == "ml-test-resnet-us-east1-as"
    assert autoscaler["autoscaling_policy"]["cooldown_period"] == 900


def test_a_fake_group_is_a_scalable_target_and_records_its_autoscaler(stack):
    group = FakeGroup()
    assert isinstance(group, ScalableTarget)
    scaler = FleetAutoscaler(stack, "autoscaler", fleet=group)
    assert group.autoscaler is scaler
    assert scaler.spec == ScalingSpec()
    assert scaler.cooldown_period_sec == DEFAULT_COOLDOWN_SEC


def test_targets_a_model_server_fleet(stack, naming):
    fleet = _fleet(stack, naming, startup_timeout_sec=450)
    scaler = FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet)
    autoscaler = only_resource(synth(stack), "google_compute_region_autoscaler")
    assert autoscaler["target"] == "${google_compute_region_instance_group_manager.llama_group_99E5CD86.id}"
    assert autoscaler["name"] == "ml-test-llama-europe-west1-as"
    assert autoscaler["autoscaling_policy"]["cooldown_period"] == 450
    assert scaler.cooldown_period_sec == 450
    assert fleet.autoscaler is scaler


# -- options -------------------------------------------------------------------------------------

def test_replicas_cooldown_mode_and_predictive_cpu(stack):
    policy = _policy(stack, fleet=FakeGroup(startup_timeout_sec=900), min_replicas=2, max_replicas=40,
                     cooldown_period_sec=240, mode="ONLY_SCALE_OUT", cpu_target=0.75, cpu_predictive=True)["autoscaling_policy"]
    assert (policy["min_replicas"], policy["max_replicas"], policy["cooldown_period"], policy["mode"]) == (2, 40, 240, "ONLY_SCALE_OUT")
    assert policy["cpu_utilization"] == {"target": 0.75, "predictive_method": "OPTIMIZE_AVAILABILITY"}


def test_load_balancing_utilization_next_to_cpu(stack):
    policy = _policy(stack, load_balancing_target=0.8)["autoscaling_policy"]
    assert policy["load_balancing_utilization"] == {"target": 0.8}
    assert policy["cpu_utilization"] == {"target": 0.6, "predictive_method": "NONE"}


# -- serving signals (issue #15: GPU fleets scale on a serving signal, never CPU alone) -------------

GPU_METRIC = {"name": GPU_UTILIZATION_METRIC, "type": "GAUGE", "filter": 'resource.type = "gce_instance"'}


def test_gpu_signal_holds_the_ops_agent_gpu_utilization_per_vm(stack):
    policy = _policy(stack, gpus_per_vm=1, signal="gpu")["autoscaling_policy"]
    assert GPU_UTILIZATION_METRIC == "agent.googleapis.com/gpu/utilization"
    assert policy["metric"] == [{**GPU_METRIC, "target": 70}]
    assert "cpu_utilization" not in policy and "load_balancing_utilization" not in policy


def test_gpu_signal_target_covers_every_gpu_of_a_vm(stack):
    """The agent writes one series per GPU and the autoscaler sums a VM's series: 4 GPUs at 80 % read 320."""
    policy = _policy(stack, gpus_per_vm=4, signal="gpu", target=0.8)["autoscaling_policy"]
    assert policy["metric"] == [{**GPU_METRIC, "target": 320}]


def test_a_gpu_fleet_scales_on_its_gpus_by_default(stack, naming):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-tesla-t4", count=2), vm={"machine_type": "n1-standard-16"},
                   startup_timeout_sec=900)
    scaler = FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet)
    policy = only_resource(synth(stack), "google_compute_region_autoscaler")["autoscaling_policy"]
    assert fleet.gpus_per_vm == 2
    assert scaler.signals == (ScalingSignal("gpu", 0.7),)
    assert policy["metric"] == [{**GPU_METRIC, "target": 140}]
    assert "cpu_utilization" not in policy


def test_cpu_target_adds_cpu_next_to_the_gpu_signal(stack):
    policy = _policy(stack, gpus_per_vm=1, signal="gpu", cpu_target=0.8)["autoscaling_policy"]
    assert policy["metric"] == [{**GPU_METRIC, "target": 70}]
    assert policy["cpu_utilization"] == {"target": 0.8, "predictive_method": "NONE"}


def test_in_flight_signal_holds_the_servers_gauge_per_vm(stack):
    policy = _policy(stack, signal="in-flight")["autoscaling_policy"]
    assert policy["metric"] == [{
        "name": "custom.googleapis.com/model_server/requests_in_flight", "target": 8, "type": "GAUGE",
        "filter": 'resource.type = "gce_instance"',
    }]
    assert "cpu_utilization" not in policy


def test_in_flight_metric_name_and_target(stack):
    policy = _policy(stack, signal="in-flight", target=24, in_flight_metric="vllm/num_requests_running")["autoscaling_policy"]
    assert [(m["name"], m["target"]) for m in policy["metric"]] == [("custom.googleapis.com/vllm/num_requests_running", 24)]


def test_request_rate_signal_holds_80_percent_of_the_rate_a_vm_serves(stack):
    policy = _policy(stack, signal="request-rate", target=30)["autoscaling_policy"]
    assert policy["load_balancing_utilization"] == {"target": 0.8}
    assert "cpu_utilization" not in policy and "metric" not in policy


def test_request_rate_utilization_can_be_set(stack):
    policy = _policy(stack, signal="request-rate", load_balancing_target=0.9)["autoscaling_policy"]
    assert policy["load_balancing_utilization"] == {"target": 0.9}


def test_signal_metrics_come_before_extra_metrics(stack):
    extra = MetricSpec(name="custom.googleapis.com/serving/queue_depth", target=4, type="GAUGE")
    policy = _policy(stack, gpus_per_vm=1, signal="gpu", metrics=(extra,))["autoscaling_policy"]
    assert [m["name"] for m in policy["metric"]] == [GPU_UTILIZATION_METRIC, "custom.googleapis.com/serving/queue_depth"]


def test_fails_when_the_gpu_signal_targets_a_fleet_without_gpus(stack):
    with pytest.raises(ConfigurationError, match=(
        r"^scaling.signal = 'gpu': fleet ml-test-llama-europe-west1 has no GPUs \(gpus_per_vm = 0\); use cpu, in-flight or request-rate$"
    )):
        _policy(stack, signal="gpu")


def test_fails_when_a_group_would_scale_on_more_than_5_metrics(stack):
    metrics = tuple(MetricSpec(name=f"custom.googleapis.com/m{index}", target=1) for index in range(5))
    with pytest.raises(ConfigurationError, match=r"^scaling.metrics = 5: a group autoscales on at most 5 Monitoring metrics, 1 of them the gpu signal's$"):
        _policy(stack, gpus_per_vm=1, signal="gpu", metrics=metrics)


def test_custom_metrics(stack):
    metrics = (
        MetricSpec(name="agent.googleapis.com/gpu/utilization", target=70, type="GAUGE",
                   filter='resource.type = "gce_instance"'),
        MetricSpec(name="custom.googleapis.com/serving/queue_depth", single_instance_assignment=16,
                   filter='resource.type = "global" AND metric.labels.model = "llama"'),
    )
    policy = _policy(stack, metrics=metrics)["autoscaling_policy"]
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
def test_scale_in_control(stack, control, expected):
    assert _policy(stack, scale_in_control=control)["autoscaling_policy"]["scale_in_control"] == expected


def test_schedules(stack):
    nightly = ScheduleSpec(name="nightly-batch", schedule="*/30 1-4 * * *", duration_sec=300, min_required_replicas=2,
                           disabled=True)
    policy = _policy(stack, schedules=(WEEKDAYS, nightly))["autoscaling_policy"]
    assert policy["scaling_schedules"] == [
        {"name": "weekday-peak", "schedule": "0 8 * * MON-FRI", "duration_sec": 36000, "min_required_replicas": 4,
         "time_zone": "Europe/Berlin", "description": "Office hours", "disabled": False},
        {"name": "nightly-batch", "schedule": "*/30 1-4 * * *", "duration_sec": 300, "min_required_replicas": 2,
         "time_zone": "UTC", "disabled": True},
    ]


def test_schedules_alone_are_a_signal():
    spec = ScalingSpec(cpu_target=None, schedules=(WEEKDAYS,))
    assert spec.cpu_target is None


def test_mode_off_and_utilization_target_of_one(stack):
    policy = _policy(stack, mode="OFF", cpu_target=1.0)["autoscaling_policy"]
    assert policy["mode"] == "OFF"
    assert policy["cpu_utilization"]["target"] == 1


@pytest.mark.parametrize("expression", [
    "0 8 * * MON-FRI", "*/15 * * * *", "0 0 1 JAN,JUL *", "30 6-18/2 * * 1-5", "0 0 * * 7", "59 23 31 12 SUN",
])
def test_valid_cron_expressions(expression):
    assert check_cron(expression) == expression


# -- validation -----------------------------------------------------------------------------------

def test_fails_when_min_replicas_exceeds_max():
    with pytest.raises(ConfigurationError, match=r"max_replicas \(2\) must be >= min_replicas \(4\)"):
        ScalingSpec(min_replicas=4, max_replicas=2)


def test_fails_when_max_replicas_is_zero():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: max_replicas = 0: Input should be greater than or equal to 1$"):
        ScalingSpec(min_replicas=0, max_replicas=0)


@pytest.mark.parametrize("field", ["cpu_target", "load_balancing_target"])
@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, 60.0])
def test_fails_when_utilization_target_is_outside_0_1(field, value):
    with pytest.raises(ConfigurationError, match=rf"^ScalingSpec: {field} = {value}: utilization targets must be in \(0, 1\]$"):
        ScalingSpec(**{field: value})


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
    schedule = {"name": "peak", "schedule": expression, "duration_sec": 600, "min_required_replicas": 1}
    with pytest.raises(ConfigurationError, match=rf"^ScalingSpec: schedules\[0\].schedule = '{re.escape(expression)}': {message}"):
        ScalingSpec(schedules=(schedule,))


def test_fails_when_schedule_duration_is_below_300():
    with pytest.raises(ConfigurationError, match=r"^ScheduleSpec: duration_sec = 299: must be at least 300 seconds$"):
        ScheduleSpec(name="peak", schedule="0 8 * * *", duration_sec=299, min_required_replicas=1)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CEST", "../etc/passwd", ""])
def test_fails_when_time_zone_is_not_iana(zone):
    with pytest.raises(ConfigurationError, match=r"^ScheduleSpec: time_zone = .*: must be an IANA time zone"):
        ScheduleSpec(name="peak", schedule="0 8 * * *", duration_sec=600, min_required_replicas=1, time_zone=zone)


def test_fails_when_schedule_name_is_invalid():
    with pytest.raises(ConfigurationError, match=r"^ScheduleSpec: name = 'Peak Hours': must match"):
        ScheduleSpec(name="Peak Hours", schedule="0 8 * * *", duration_sec=600, min_required_replicas=1)


def test_schedule_rules_name_the_full_key_path_in_a_model():
    schedule = {"name": "peak", "schedule": "0 8 * * *", "duration_sec": 299, "min_required_replicas": 1}
    with pytest.raises(ConfigurationError, match=r"^ModelSpec: scaling.schedules\[0\].duration_sec = 299: must be at least 300 seconds$") as caught:
        ModelSpec(name="llama", image="server:1", scaling={"schedules": [schedule]})
    assert caught.value.field == "scaling.schedules[0].duration_sec"


def test_fails_when_schedule_floor_exceeds_max_replicas():
    with pytest.raises(ConfigurationError, match=r"schedules\[0\].min_required_replicas \(4\) must be <= max_replicas \(3\)"):
        ScalingSpec(max_replicas=3, schedules=(WEEKDAYS,))


def test_fails_when_schedule_names_repeat():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: schedules = .*: each schedule name may be listed once; repeated: weekday-peak$"):
        ScalingSpec(schedules=(WEEKDAYS, WEEKDAYS))


def test_fails_when_metric_has_both_or_neither_target():
    with pytest.raises(ConfigurationError, match=r"set exactly one of target or single_instance_assignment"):
        MetricSpec(name="custom.googleapis.com/q", target=1, single_instance_assignment=1, filter="x")
    with pytest.raises(ConfigurationError, match=r"set exactly one of target or single_instance_assignment"):
        MetricSpec(name="custom.googleapis.com/q")


def test_fails_when_metric_target_is_not_positive():
    with pytest.raises(ConfigurationError, match=r"target \(0.0\) must be > 0"):
        MetricSpec(name="custom.googleapis.com/q", target=0)


def test_fails_when_metric_type_is_given_without_target():
    with pytest.raises(ConfigurationError, match=r"type applies to target only"):
        MetricSpec(name="custom.googleapis.com/q", single_instance_assignment=4, type="GAUGE", filter="x")


def test_fails_when_single_instance_assignment_has_no_filter():
    with pytest.raises(ConfigurationError, match=r"single_instance_assignment needs a filter"):
        MetricSpec(name="custom.googleapis.com/q", single_instance_assignment=4)


def test_fails_when_metric_name_is_not_a_metric_type():
    with pytest.raises(ConfigurationError, match=r"^MetricSpec: name = 'queue_depth': must be a Cloud Monitoring metric type"):
        MetricSpec(name="queue_depth", target=1)
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: metrics\[0\].name = 'queue_depth': must be a Cloud Monitoring metric type"):
        ScalingSpec(metrics=({"name": "queue_depth", "target": 1},))


def test_fails_when_metric_type_is_unknown():
    with pytest.raises(ConfigurationError, match=r"^MetricSpec: type = 'CUMULATIVE': Input should be 'GAUGE', 'DELTA_PER_SECOND' or 'DELTA_PER_MINUTE'$"):
        MetricSpec(name="custom.googleapis.com/q", target=1, type="CUMULATIVE")


def test_fails_when_scale_in_control_has_both_or_neither_limit():
    with pytest.raises(ConfigurationError, match=r"set exactly one of max_scaled_in_replicas_fixed or max_scaled_in_replicas_percent"):
        ScaleInControlSpec()
    with pytest.raises(ConfigurationError, match=r"set exactly one of"):
        ScaleInControlSpec(max_scaled_in_replicas_fixed=1, max_scaled_in_replicas_percent=10)


def test_fails_when_scale_in_percent_exceeds_100():
    with pytest.raises(ConfigurationError, match=r"^ScaleInControlSpec: max_scaled_in_replicas_percent = 150: Input should be less than or equal to 100$"):
        ScaleInControlSpec(max_scaled_in_replicas_percent=150)


def test_fails_when_predictive_has_no_cpu_signal():
    """Checked on the model, where auto resolves: predictive scaling on a CPU model is fine, on a GPU
    model's gpu signal alone it has nothing to predict from."""
    from constructs_lib.specs.model import ModelSpec

    image = "us-docker.pkg.dev/p/r/server:1"
    assert ModelSpec(name="cpu", image=image, scaling=ScalingSpec(cpu_predictive=True)).scaling.cpu_predictive
    with pytest.raises(ConfigurationError, match=r"scaling.cpu_predictive = True: needs a CPU signal \(signal = 'cpu', or cpu_target next to another signal\)"):
        ModelSpec(name="llm", image=image, accelerator={"type": "nvidia-l4"}, scaling=ScalingSpec(cpu_predictive=True))


def test_every_spec_resolves_to_a_serving_signal():
    """The earlier "set at least one signal" rule: ``auto`` always resolves to one."""
    assert resolve_signals(ScalingSpec(), gpu=False) == (ScalingSignal("cpu", 0.6),)
    assert resolve_signals(ScalingSpec(), gpu=True) == (ScalingSignal("gpu", 0.7),)
    assert resolve_signals(ScalingSpec(signal="in-flight", cpu_target=0.9), gpu=True) == (
        ScalingSignal("in-flight", 8.0), ScalingSignal("cpu", 0.9),
    )
    assert resolve_signals(ScalingSpec(cpu_target=0.75), gpu=False) == (ScalingSignal("cpu", 0.75),)


@pytest.mark.parametrize("signal,kind", [("auto", "CPU or GPU"), ("cpu", "CPU"), ("gpu", "GPU")])
@pytest.mark.parametrize("target", [1.5, 70.0])
def test_fails_when_a_utilization_target_is_above_1(signal, kind, target):
    with pytest.raises(ConfigurationError, match=rf"^ScalingSpec: target = {target}: a {kind} utilization target must be in \(0, 1\]$"):
        ScalingSpec(signal=signal, target=target)


def test_fails_when_target_is_not_positive():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: target = 0: Input should be greater than 0$"):
        ScalingSpec(signal="in-flight", target=0)


def test_fails_when_cpu_signal_has_two_targets():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: cpu_target = 0.7: signal cpu already has target 0.5; give one of them$"):
        ScalingSpec(signal="cpu", target=0.5, cpu_target=0.7)


@pytest.mark.parametrize("name", ["custom.googleapis.com/x", "Model/InFlight", "model_server//x", "/x"])
def test_fails_when_in_flight_metric_is_not_a_custom_metric_name(name):
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: in_flight_metric = .*: must be a custom metric name such as model_server/requests_in_flight"):
        ScalingSpec(in_flight_metric=name)


def test_fails_when_signal_is_unknown():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: signal = 'latency': Input should be 'auto', 'cpu', 'gpu', 'in-flight' or 'request-rate'$"):
        ScalingSpec(signal="latency")


def test_fails_when_mode_is_unknown():
    with pytest.raises(ConfigurationError, match=r"^ScalingSpec: mode = 'ONLY_UP': Input should be 'ON', 'ONLY_SCALE_OUT' or 'OFF'$"):
        ScalingSpec(mode="ONLY_UP")


def test_fails_when_fleet_is_not_a_scalable_target(stack):
    with pytest.raises(ConfigurationError, match=r"^fleet = 'SimpleNamespace': must be a ScalableTarget \(group_manager_id, region, name, "):
        FleetAutoscaler(stack, "autoscaler", fleet=SimpleNamespace(region="europe-west1"))


def test_fails_when_fleet_region_is_unknown(stack):
    with pytest.raises(ConfigurationError, match=r"fleet.region = 'europe-west99': unknown Google Cloud region"):
        FleetAutoscaler(stack, "autoscaler", fleet=FakeGroup(region="europe-west99"))


def test_fails_when_a_fleet_gets_a_second_autoscaler(stack, naming):
    fleet = _fleet(stack, naming)
    FleetAutoscaler(stack, "first", fleet=fleet)
    with pytest.raises(ConfigurationError, match=r"fleet = 'test/llama': already has an autoscaler \(test/first\); a group takes one"):
        FleetAutoscaler(stack, "second", fleet=fleet)
