"""``ObservabilitySpec`` (specs/observability.py): defaults that say why, per-model objectives, and
one ``test_fails_when_...`` per rule. Pure pydantic: nothing is synthesized."""

import json

import pytest

from constructs_lib.errors import ConfigurationError, SpecError
from constructs_lib.specs.observability import (
    ALERT_SEVERITY,
    DEFAULT_BURN_RATES,
    BurnRateSpec,
    ObservabilitySpec,
    Objectives,
    api_duration,
    check_channel,
    check_duration,
    seconds,
)

CHANNEL = "projects/my-project-1/notificationChannels/123456"
FAST = {"name": "fast", "long_window": "1h", "short_window": "5m", "factor": 14.4, "severity": "page"}


def _fails(pattern, **fields):
    with pytest.raises(ConfigurationError, match=pattern) as caught:
        ObservabilitySpec(**fields)
    assert "\n" not in str(caught.value)
    return caught.value


# -- defaults -------------------------------------------------------------------------------------

def test_defaults_are_the_sre_workbook_burn_rates_and_sane_targets():
    spec = ObservabilitySpec()
    assert spec.enabled is None and spec.dashboard is True
    assert (spec.availability_target, spec.latency_target, spec.latency_threshold_ms, spec.rolling_window) == (0.995, 0.99, 1000, "28d")
    assert [(b.name, seconds(b.long_window), seconds(b.short_window), b.factor, b.severity) for b in spec.burn_rates] == [
        ("fast", 3600, 300, 14.4, "page"), ("slow", 21600, 1800, 6.0, "ticket"),
    ]
    assert spec.burn_rates == DEFAULT_BURN_RATES


def test_symptom_defaults_page_on_user_facing_failures_and_ticket_the_rest():
    spec = ObservabilitySpec()
    assert (spec.error_ratio.threshold, spec.error_ratio.duration, spec.error_ratio.severity) == (0.05, "5m", "page")
    assert (spec.latency_alert.threshold_ms, spec.latency_alert.duration, spec.latency_alert.severity) == (None, "10m", "ticket")
    assert (spec.no_healthy_backends.duration, spec.no_healthy_backends.severity) == ("5m", "page")
    assert (spec.saturation.threshold, spec.saturation.duration, spec.saturation.severity) == (1.0, "30m", "ticket")
    assert (spec.gpu_utilization.threshold, spec.gpu_utilization.duration) == (0.9, "30m")
    assert (spec.cache_memory.threshold, spec.cache_evictions.threshold, spec.cache_evictions.duration) == (0.8, 100, "15m")
    assert (spec.cache_availability.severity, spec.cache_availability.failover_severity) == ("page", "ticket")
    assert (spec.uptime.period, spec.uptime.timeout, spec.uptime.severity) == ("1m", "10s", "page")
    assert spec.vm_gpu_metric == "agent.googleapis.com/gpu/utilization"
    assert ALERT_SEVERITY == {"page": "CRITICAL", "ticket": "WARNING"}


def test_a_partial_table_keeps_the_other_defaults_of_that_alert():
    spec = ObservabilitySpec(error_ratio={"threshold": 0.1})
    assert (spec.error_ratio.threshold, spec.error_ratio.duration, spec.error_ratio.severity) == (0.1, "5m", "page")


def test_an_environment_file_table_validates_into_the_spec():
    table = {
        "enabled": True,
        "notifications": {"page": {"channels": [CHANNEL], "emails": ["oncall@example.com"]}, "ticket": {"emails": ["ml@example.com"]}},
        "burn_rates": [FAST],
        "models": {"llm": {"latency_threshold_ms": 8000}},
    }
    spec = ObservabilitySpec.model_validate_json(json.dumps(table))
    assert spec.notifications.page.channels == (CHANNEL,) and spec.notifications.ticket.emails == ("ml@example.com",)
    assert [b.name for b in spec.burn_rates] == ["fast"]


def test_objectives_put_a_models_overrides_on_top_of_the_deployments():
    spec = ObservabilitySpec(latency_threshold_ms=500, models={"llm": {"latency_threshold_ms": 8000, "availability_target": 0.99}})
    assert spec.objectives("resnet") == Objectives(0.995, 0.99, 500, 1000, True, 28)
    assert spec.objectives("llm") == Objectives(0.99, 0.99, 8000, 16000, True, 28)
    spec = ObservabilitySpec(latency_alert={"threshold_ms": 3000}, models={"llm": {"p95_latency_ms": 20000, "uptime_check": False}})
    assert (spec.objectives("resnet").p95_latency_ms, spec.objectives("llm").p95_latency_ms) == (3000, 20000)
    assert spec.objectives("llm").uptime_check is False
    assert ObservabilitySpec(uptime={"enabled": False}).objectives("resnet").uptime_check is False


def test_enabled_follows_the_tier_unless_set():
    assert ObservabilitySpec().resolve_enabled(default=False) is False
    assert ObservabilitySpec().resolve_enabled(default=True) is True
    assert ObservabilitySpec(enabled=True).resolve_enabled(default=False) is True
    assert ObservabilitySpec(enabled=False).resolve_enabled(default=True) is False


def test_durations_are_read_in_seconds():
    assert [seconds(d) for d in ("90s", "5m", "1h", "7d")] == [90, 300, 3600, 604800]
    assert api_duration("30m") == "1800s"
    assert check_channel(CHANNEL) == CHANNEL


# -- one test per rule ----------------------------------------------------------------------------

def test_fails_as_one_line_spec_error_with_the_full_key_path():
    error = _fails(r"^ObservabilitySpec: burn_rates\[1\]\.short_window = '6h': must be shorter than long_window \(1h\)$",
                   burn_rates=[FAST, {**FAST, "name": "slow", "short_window": "6h"}])
    assert isinstance(error, SpecError) and error.field == "burn_rates[1].short_window"


def test_fails_when_a_key_is_unknown():
    _fails(r"notificatons: unknown key; did you mean 'notifications'\?", notificatons={})


def test_fails_when_a_duration_is_not_a_duration():
    _fails(r"error_ratio\.duration = '5 minutes': must be a duration such as '90s', '5m', '1h' or '7d'", error_ratio={"duration": "5 minutes"})
    with pytest.raises(ConfigurationError, match=r"^duration = '0m': must be a duration"):
        check_duration("0m")


def test_fails_when_an_alert_duration_is_not_whole_minutes_up_to_a_day():
    _fails(r"error_ratio\.duration = '90s': must be whole minutes between 1m and 1d", error_ratio={"duration": "90s"})
    _fails(r"saturation\.duration = '2d': must be whole minutes between 1m and 1d", saturation={"duration": "2d"})


def test_fails_when_the_no_healthy_backend_notification_period_is_under_5_minutes():
    _fails(r"no_healthy_backends\.duration = '2m': must be whole minutes between 5m and 1d", no_healthy_backends={"duration": "2m"})


def test_fails_when_the_cache_absence_window_is_under_2_minutes():
    _fails(r"cache_availability\.duration = '1m': must be whole minutes between 2m and 1d", cache_availability={"duration": "1m"})


@pytest.mark.parametrize(("table", "value", "message"), [
    ("error_ratio", 0, "Input should be greater than 0"),
    ("error_ratio", 1, "Input should be less than 1"),
    ("saturation", 1.5, "Input should be less than or equal to 1"),
    ("gpu_utilization", 0, "Input should be greater than 0"),
    ("cache_memory", 1, "Input should be less than 1"),
    ("cache_evictions", 0, "Input should be greater than 0"),
])
def test_fails_when_a_threshold_is_out_of_range(table, value, message):
    _fails(rf"{table}\.threshold = {value}: {message}", **{table: {"threshold": value}})


def test_fails_when_a_latency_threshold_is_not_a_positive_number_of_milliseconds():
    _fails(r"latency_threshold_ms = 0: Input should be greater than or equal to 1", latency_threshold_ms=0)
    _fails(r"latency_alert\.threshold_ms = 0: Input should be greater than or equal to 1", latency_alert={"threshold_ms": 0})
    _fails(r"models\.llm\.latency_threshold_ms = 0: Input should be greater", models={"llm": {"latency_threshold_ms": 0}})


@pytest.mark.parametrize("target", [0.5, 0.9999, 1.0])
def test_fails_when_a_target_is_outside_0_9_to_0_999(target):
    _fails(rf"availability_target = {target}: must be between 0.9 and 0.999", availability_target=target)
    _fails(rf"models\.llm\.latency_target = {target}: must be between 0.9 and 0.999", models={"llm": {"latency_target": target}})


def test_fails_when_a_burn_rate_could_never_fire():
    # 14.4 x (1 - 0.92) = 1.15: the error ratio would have to exceed 100 %.
    _fails(r"^ObservabilitySpec: availability_target = 0.92: burn rate fast \(14.4x\) times the error budget \(0.08\) is >= 1, "
           r"so that alert could never fire", availability_target=0.92)
    _fails(r"models\.llm\.availability_target = 0.93: burn rate fast", models={"llm": {"availability_target": 0.93}})
    assert ObservabilitySpec(availability_target=0.92, burn_rates=[{**FAST, "factor": 10}]).availability_target == 0.92


def test_fails_when_the_rolling_window_is_not_1_to_30_whole_days():
    _fails(r"rolling_window = '36h': must be whole days between 1d and 30d", rolling_window="36h")
    _fails(r"rolling_window = '31d': must be whole days between 1d and 30d", rolling_window="31d")


def test_fails_when_a_burn_window_is_longer_than_the_rolling_window():
    _fails(r"burn_rates\[0\]\.long_window = '3d': must not be longer than rolling_window \(2d\)",
           rolling_window="2d", burn_rates=[{**FAST, "long_window": "3d"}])


def test_fails_when_burn_windows_are_out_of_range():
    _fails(r"burn_rates\[0\]\.long_window = '1m': must be whole minutes between 5m and 7d", burn_rates=[{**FAST, "long_window": "1m", "short_window": "30s"}])
    _fails(r"burn_rates\[0\]\.short_window = '30s': must be whole minutes between 1m and 7d", burn_rates=[{**FAST, "short_window": "30s"}])
    _fails(r"burn_rates\[0\]\.short_window = '1h': must be shorter than long_window \(1h\)", burn_rates=[{**FAST, "short_window": "1h"}])


def test_fails_when_a_burn_factor_is_not_above_1():
    _fails(r"burn_rates\[0\]\.factor = 1: Input should be greater than 1", burn_rates=[{**FAST, "factor": 1}])
    with pytest.raises(ConfigurationError, match=r"^BurnRateSpec: factor = 2000: Input should be less than or equal to 1000"):
        BurnRateSpec(**{**FAST, "factor": 2000})


def test_fails_when_burn_rate_names_repeat_or_there_are_too_many():
    _fails(r"burn_rates = .*: each window name may be listed once; repeated: fast$", burn_rates=[FAST, FAST])
    pairs = [{**FAST, "name": f"w{i}"} for i in range(5)]
    _fails(r"burn_rates = \['w0', 'w1', 'w2', 'w3', 'w4'\]: at most 4 window pairs", burn_rates=pairs)


def test_fails_when_a_severity_is_unknown():
    _fails(r"error_ratio\.severity = 'sms': Input should be 'page' or 'ticket'", error_ratio={"severity": "sms"})


def test_fails_when_a_channel_is_not_a_channel_name():
    _fails(r"notifications\.page\.channels\[0\] = '123456': must be a notification channel name "
           r"projects/<project>/notificationChannels/<number>", notifications={"page": {"channels": ["123456"]}})


def test_fails_when_an_email_is_not_an_address():
    _fails(r"notifications\.ticket\.emails\[0\] = 'ml-team': must be an email address", notifications={"ticket": {"emails": ["ml-team"]}})


def test_fails_when_a_channel_or_address_is_listed_twice():
    _fails(r"notifications\.page\.emails = \['a@example.com', 'A@example.com'\]: each address may be listed once; repeated: a@example.com$",
           notifications={"page": {"emails": ["a@example.com", "A@example.com"]}})
    _fails(r"notifications\.page\.channels = .*: each channel may be listed once", notifications={"page": {"channels": [CHANNEL, CHANNEL]}})


def test_fails_when_the_uptime_period_or_timeout_is_not_offered():
    _fails(r"uptime\.period = '2m': must be 1m, 5m, 10m or 15m", uptime={"period": "2m"})
    _fails(r"uptime\.timeout = '2m': must be between 1s and 60s", uptime={"timeout": "2m"})


def test_fails_when_the_vm_gpu_metric_is_not_a_metric_type():
    _fails(r"vm_gpu_metric = 'gpu utilization': must be a Cloud Monitoring metric type", vm_gpu_metric="gpu utilization")


def test_fails_when_a_model_override_is_not_a_model_name():
    _fails(r"models\.LLM = 'LLM': must be a model name: must match", models={"LLM": {}})
