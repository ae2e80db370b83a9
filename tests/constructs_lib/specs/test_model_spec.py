"""``ModelSpec`` (specs/model.py: the model-server contract, runtime choice, accelerator, canary,
``check_models``) and the VM runtime's spec (specs/vm.py). Pure pydantic: nothing is synthesized."""

import pytest

from constructs_lib.errors import ConfigurationError, SpecError
from constructs_lib.specs.model import (
    MAX_MODEL_NAME,
    MOVED_KEYS,
    SERVER_ENV,
    AcceleratorSpec,
    ModelSpec,
    check_models,
    check_server_env,
)
from constructs_lib.specs.scaling import MetricSpec, ScaleInControlSpec, ScalingSignal, ScalingSpec, ScheduleSpec
from constructs_lib.specs.vm import (
    COS_IMAGE,
    DEBIAN_IMAGE,
    DEFAULT_FLEET_ROLES,
    GPU_IMAGE,
    RESERVED_METADATA,
    AutohealSpec,
    ReservationSpec,
    VmCanarySpec,
    VmRuntimeSpec,
    is_cos,
)

IMAGE = "europe-docker.pkg.dev/test-project-123/serving/server:1.4.0"
REGIONS = ("europe-west1",)


def _model(**fields):
    """The ``llama`` model running ``IMAGE`` (unless ``vm`` has a startup script), with ``fields`` on top."""
    fields.setdefault("name", "llama")
    if "startup_script" not in fields.get("vm", {}):
        fields.setdefault("image", IMAGE)
    return ModelSpec(**fields)


def _fails(pattern, **fields):
    """Building ``_model(**fields)`` fails with a message matching ``pattern``; returns the error."""
    with pytest.raises(ConfigurationError, match=pattern) as caught:
        _model(**fields)
    return caught.value


# -- errors: one line, full key path, "did you mean" ------------------------------------------------

def test_spec_error_is_a_one_line_configuration_error_with_the_full_key_path():
    error = _fails(r"^ModelSpec: scaling.max_replicas = 0: Input should be greater than or equal to 1$",
                   scaling={"max_replicas": 0})
    assert isinstance(error, SpecError) and isinstance(error, ConfigurationError)
    assert "\n" not in str(error)
    assert (error.field, error.value) == ("scaling.max_replicas", 0)


def test_rule_errors_of_nested_tables_keep_their_full_key_path():
    error = _fails(r"^ModelSpec: vm.health_check.check_interval_sec = 0: ", vm={"health_check": {"check_interval_sec": 0}})
    assert error.field == "vm.health_check.check_interval_sec"
    error = _fails(r"^ModelSpec: vm.roles\[1\] = 'roles/owner': ", vm={"roles": ("roles/logging.logWriter", "roles/owner")})
    assert error.field == "vm.roles[1]"


def test_fails_when_a_key_is_unknown_with_a_did_you_mean_for_a_near_miss():
    error = _fails(r"^ModelSpec: imagee = 'x': unknown key; did you mean 'image'\? allowed keys: accelerator, args, ", imagee="x")
    assert error.field == "imagee"
    _fails(r"^ModelSpec: vm.machine_typ = 'n2-standard-8': unknown key; did you mean 'machine_type'\? allowed keys: account_id, ",
           vm={"machine_typ": "n2-standard-8"})
    _fails(r"^ModelSpec: scaling.max_replica = 4: unknown key; did you mean 'max_replicas'\?", scaling={"max_replica": 4})


def test_fails_when_a_key_is_unknown_and_nothing_is_close():
    with pytest.raises(ConfigurationError, match=r"^VmRuntimeSpec: preemptible = True: unknown key; allowed keys: account_id, boot_disk_size_gb, "):
        VmRuntimeSpec(preemptible=True)


@pytest.mark.parametrize("key", sorted(MOVED_KEYS))
def test_fails_when_a_key_of_the_earlier_model_shape_is_used_with_where_it_moved(key):
    error = _fails(rf"^ModelSpec: {key} = {{'min_replicas': 2}}: this key moved: ", **{key: {"min_replicas": 2}})
    assert str(error) == f"ModelSpec: {key} = {{'min_replicas': 2}}: this key moved: {MOVED_KEYS[key]}"
    assert error.field == key


def test_moved_key_hints_name_the_new_keys():
    assert "image -> models.image" in MOVED_KEYS["fleet"]
    assert "gpu -> models.accelerator" in MOVED_KEYS["fleet"]
    assert "initial_delay_sec -> models.startup_timeout_sec" in MOVED_KEYS["fleet"]
    assert "health_check.path -> models.health_path" in MOVED_KEYS["fleet"]
    assert MOVED_KEYS["autoscaling"] == "renamed to [models.scaling] (same keys)"


# -- defaults -------------------------------------------------------------------------------------

def test_defaults_of_a_cpu_model():
    model = _model()
    assert (model.runtime, model.port, model.health_path, model.startup_timeout_sec) == ("vm", None, "/healthz", 600)
    assert (model.command, model.args, model.env, model.accelerator) == ((), (), {}, None)
    assert model.route_paths == ("/v1/models/llama", "/v1/models/llama/*")
    assert model.object_path == "llama"
    assert (model.machine_type, model.gpus_per_vm) == ("n2-standard-4", 0)
    assert (model.scaling.min_replicas, model.scaling.max_replicas, model.scaling_signals) == (1, 10, (ScalingSignal("cpu", 0.6),))
    assert (model.canary_of, model.canary_weight, model.use_cache, model.cloud_armor) == (None, 10, True, True)
    assert model.vm == VmRuntimeSpec()
    assert model.vm.roles == DEFAULT_FLEET_ROLES
    assert (model.vm.target_size, model.vm.port_name, model.distribution_shape) == (None, "http", "EVEN")
    assert (model.boot_image, model.downloads_model, model.vm.reservation, model.vm.spot) == (COS_IMAGE, False, None, False)


def test_defaults_of_a_gpu_model():
    """Issue #15: a GPU model scales on its GPUs, spreads BALANCED, boots the signed-driver image
    (Secure Boot stays on) and copies its weights to local disk."""
    model = _model(accelerator={"type": "nvidia-l4"})
    assert model.scaling_signals == (ScalingSignal("gpu", 0.7),)
    assert (model.distribution_shape, model.boot_image, model.vm.secure_boot) == ("BALANCED", GPU_IMAGE, True)
    assert GPU_IMAGE == "ubuntu-os-accelerator-images/ubuntu-accelerator-2404-amd64-with-nvidia-580"
    assert model.downloads_model and model.vm.model_download.disk == "boot"
    assert _model(vm={"startup_script": "#!/bin/bash\n"}, accelerator={"type": "nvidia-l4"}).boot_image == DEBIAN_IMAGE


def test_model_path_routes_and_machine_type_when_given():
    model = _model(model_path="llama/v3", routes=("/v1/chat", "/v1/chat/*"), vm={"machine_type": "n2-highmem-8"})
    assert model.object_path == "llama/v3"
    assert model.route_paths == ("/v1/chat", "/v1/chat/*")
    assert model.machine_type == "n2-highmem-8"


@pytest.mark.parametrize(("accelerator", "machine", "gpus"), [
    ({"type": "nvidia-l4"}, "g2-standard-8", 1),
    ({"type": "nvidia-l4", "count": 2}, "g2-standard-24", 2),
    ({"type": "nvidia-l4", "count": 4}, "g2-standard-48", 4),
    ({"type": "nvidia-tesla-t4"}, "n1-standard-8", 1),
    ({"type": "nvidia-tesla-t4", "count": 4}, "n1-standard-8", 4),
    ({"type": "nvidia-tesla-v100"}, "n1-standard-8", 1),
    ({"type": "nvidia-tesla-a100"}, "a2-highgpu-1g", 1),
    ({"type": "nvidia-a100-80gb"}, "a2-ultragpu-1g", 1),
    ({"type": "nvidia-h100-80gb"}, "a3-highgpu-1g", 1),
])
def test_default_machine_per_accelerator(accelerator, machine, gpus):
    model = _model(accelerator=accelerator)
    assert (model.machine_type, model.gpus_per_vm) == (machine, gpus)


def test_gpu_count_defaults_to_what_the_machine_carries():
    assert _model(accelerator={"type": "nvidia-l4"}, vm={"machine_type": "g2-standard-24"}).gpus_per_vm == 2
    assert _model(accelerator={"type": "nvidia-tesla-t4"}, vm={"machine_type": "n1-standard-16"}).gpus_per_vm == 1


def test_startup_script_model_runs_without_an_image():
    model = _model(vm={"startup_script": "#!/bin/bash\n"})
    assert model.image is None and model.vm.startup_script == "#!/bin/bash\n"


def test_a_gke_model_keeps_its_vm_section_unchecked():
    """Moving a model between runtimes changes one key: VM-only settings may stay in place."""
    model = _model(runtime="gke", accelerator={"type": "nvidia-l4"}, vm={"machine_type": "n2-standard-4"},
                   startup_timeout_sec=7200, scaling={"min_replicas": 1, "max_replicas": 4, "cpu_target": 0.7})
    assert model.runtime == "gke" and model.vm.machine_type == "n2-standard-4"


def test_vm_only_scaling_settings_are_fine_on_vms():
    model = _model(scaling={"schedules": [{"name": "peak", "schedule": "0 8 * * *", "duration_sec": 600, "min_required_replicas": 2}],
                            "mode": "ONLY_SCALE_OUT", "cooldown_period_sec": 120, "load_balancing_target": 0.8})
    assert model.scaling.mode == "ONLY_SCALE_OUT"


# -- model name -----------------------------------------------------------------------------------

def test_model_name_may_have_20_characters():
    assert len(_model(name="a" * MAX_MODEL_NAME).name) == 20


def test_fails_when_model_name_is_too_long():
    error = _fails(r"^ModelSpec: name = 'aaaaaaaaaaaaaaaaaaaaa': must be at most 20 characters \(has 21\): it is part of every resource name$",
                   name="a" * 21)
    assert error.field == "name"


@pytest.mark.parametrize("name", ["Llama_3", "llama-", "3llama", "llama 3"])
def test_fails_when_model_name_is_not_a_name_part(name):
    _fails(rf"^ModelSpec: name = '{name}': must match \^\[a-z\]\[a-z0-9-\]\*\$ and not end with a hyphen", name=name)


def test_fails_when_runtime_is_unknown():
    _fails(r"^ModelSpec: runtime = 'cloudrun': Input should be 'vm' or 'gke'$", runtime="cloudrun")


# -- what runs: exactly one of image / vm.startup_script on VMs -------------------------------------

def test_fails_when_a_vm_model_has_neither_image_nor_startup_script():
    with pytest.raises(ConfigurationError, match=(
        r"^ModelSpec: set exactly one of image \(a container the VM runs under systemd\) or vm.startup_script$"
    )):
        ModelSpec(name="llama")


def test_fails_when_a_vm_model_has_both_image_and_startup_script():
    _fails(r"^ModelSpec: set exactly one of image", image=IMAGE, vm={"startup_script": "#!/bin/bash\n"})


def test_fails_when_image_is_malformed():
    _fails(r"^ModelSpec: image = 'Server Image': must be a container image reference", image="Server Image")


def test_fails_when_canary_image_is_given_in_startup_script_mode():
    error = _fails(rf"^ModelSpec: vm.canary.image = '{IMAGE}': needs image mode \(set image, not vm.startup_script\)$",
                   vm={"startup_script": "#!/bin/bash\n", "canary": {"image": IMAGE}})
    assert error.field == "vm.canary.image"


# -- GKE ------------------------------------------------------------------------------------------

def test_fails_when_a_gke_model_has_no_image():
    with pytest.raises(ConfigurationError, match=(
        r"^ModelSpec: image = None: a GKE model runs an image: set image \(vm.startup_script is for VM fleets\)$"
    )):
        ModelSpec(name="llama", runtime="gke", vm={"startup_script": "#!/bin/bash\n"})


@pytest.mark.parametrize("port", [80, 443, 1023])
def test_fails_when_a_gke_model_port_is_privileged(port):
    _fails(rf"^ModelSpec: port = {port}: must be >= 1024 on GKE: the container runs as a non-root user$", runtime="gke", port=port)


def test_gke_ports_from_1024_and_any_vm_port_are_fine():
    assert _model(runtime="gke", port=1024).port == 1024
    assert _model(port=80).port == 80


def test_fails_when_a_gke_model_scales_to_zero():
    _fails(r"^ModelSpec: scaling.min_replicas = 0: must be >= 1 on GKE", runtime="gke", scaling={"min_replicas": 0})


def test_gke_grace_period_defaults_to_the_backends_draining_and_may_not_be_shorter():
    assert _model(runtime="gke").termination_grace_period_sec == 60
    assert _model(runtime="gke", backend={"timeout_sec": 900}).termination_grace_period_sec == 900
    assert _model(runtime="gke", backend={"connection_draining_timeout_sec": 30}, gke={"termination_grace_period_sec": 45}).termination_grace_period_sec == 45
    _fails(r"^ModelSpec: gke.termination_grace_period_sec = 30: must be >= the backend's connection draining \(60 s\): the load "
           r"balancer lets in-flight requests run that long", runtime="gke", gke={"termination_grace_period_sec": 30})


@pytest.mark.parametrize("runtime", ["vm", "gke"])
def test_fails_when_the_gpu_signal_is_asked_of_a_model_without_gpus(runtime):
    _fails(r"^ModelSpec: scaling.signal = 'gpu': the gpu signal measures the model's GPUs and this model has no accelerator; "
           r"use cpu, in-flight or request-rate$", runtime=runtime, scaling={"signal": "gpu"})


@pytest.mark.parametrize(("key", "value"), [
    ("schedules", (ScheduleSpec(name="peak", schedule="0 8 * * *", duration_sec=600, min_required_replicas=1),)),
    ("scale_in_control", ScaleInControlSpec(max_scaled_in_replicas_fixed=1)),
    ("cpu_predictive", True),
    ("mode", "ON"),
    ("cooldown_period_sec", 120),
    ("load_balancing_target", 0.8),
    ("metrics", (MetricSpec(name="custom.googleapis.com/q", target=1),)),
])
def test_fails_when_a_gke_model_uses_a_vm_only_scaling_setting(key, value):
    error = _fails(rf"^ModelSpec: scaling.{key} = 'set': is a VM-fleet autoscaler setting; a GKE model scales with a "
                   r"HorizontalPodAutoscaler \(min/max replicas, signal, target, cpu_target, scale_down_stabilization_sec\)$",
                   # predictive scaling needs a CPU signal of its own (cpu_target), which GKE models may have
                   runtime="gke", scaling=ScalingSpec(**{key: value}, **({"cpu_target": 0.6} if key == "cpu_predictive" else {})))
    assert error.field == f"scaling.{key}"


# -- startup timeout ------------------------------------------------------------------------------

def test_vm_startup_timeout_may_be_an_hour():
    assert _model(startup_timeout_sec=3600).startup_timeout_sec == 3600


def test_fails_when_a_vm_startup_timeout_exceeds_what_compute_engine_accepts():
    error = _fails(r"^ModelSpec: startup_timeout_sec = 3601: must be <= 3600 on VM fleets: it is the group's auto-healing "
                   r"delay and the autoscaler's initialization period", startup_timeout_sec=3601)
    assert error.field == "startup_timeout_sec"


@pytest.mark.parametrize("seconds", [29, 7201])
def test_fails_when_startup_timeout_is_outside_30_7200(seconds):
    _fails(rf"^ModelSpec: startup_timeout_sec = {seconds}: Input should be ", runtime="gke", startup_timeout_sec=seconds)


# -- env: the model-server contract ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SERVER_ENV))
def test_fails_when_env_sets_a_reserved_name(name):
    error = _fails(rf"^ModelSpec: env.{name} = '{name}': is set from the wiring; reserved: CACHE_AUTH_SECRET, CACHE_CA_SECRET, "
                   r"CACHE_ENDPOINT_SECRET, CACHE_HOST, CACHE_PORT, CACHE_READ_HOST, CACHE_TLS, MODEL_DIR, MODEL_URI, POD_NAME, "
                   r"POD_NAMESPACE, PORT$", env={name: "x"})
    assert error.field == f"env.{name}"


def test_server_env_names_are_the_contract():
    assert SERVER_ENV == {"PORT", "MODEL_URI", "MODEL_DIR", "CACHE_ENDPOINT_SECRET", "CACHE_HOST", "CACHE_PORT", "CACHE_READ_HOST",
                          "CACHE_TLS", "CACHE_AUTH_SECRET", "CACHE_CA_SECRET", "POD_NAME", "POD_NAMESPACE"}


@pytest.mark.parametrize("name", ["1BAD", "BAD-NAME", "BAD NAME", ""])
def test_fails_when_env_name_is_invalid(name):
    _fails(rf"^ModelSpec: env.{name} = '{name}': must be an environment variable name", env={name: "x"})


@pytest.mark.parametrize("name", ["DB_PASSWORD", "HF_TOKEN", "OPENAI_API_KEY", "client_secret", "GCP_CREDENTIALS", "TLS_PRIVATE_KEY"])
def test_fails_when_a_secret_named_variable_holds_a_literal(name):
    error = _fails(rf"^ModelSpec: env.{name} = '<hidden>': looks like a secret: .* pass a Secret Manager version "
                   r"\(projects/<p>/secrets/<s>/versions/<v>\) and read it at start$", env={name: "hunter2"})
    assert "hunter2" not in str(error) and "hunter2" not in repr(error.value)


@pytest.mark.parametrize("value", ["projects/p/secrets/hf-token/versions/3", "${google_secret_manager_secret_version.hf.id}"])
def test_secret_named_variable_may_hold_a_secret_manager_version(value):
    assert _model(env={"HF_TOKEN": value}).env["HF_TOKEN"] == value


def test_fails_when_env_value_is_not_a_string():
    _fails(r"^ModelSpec: env.WORKERS = 2: Input should be a valid string$", env={"WORKERS": 2})


def test_check_server_env_names_the_field_it_is_given():
    with pytest.raises(ConfigurationError, match=r"^models\[0\].env.PORT = 'PORT': is set from the wiring"):
        check_server_env("PORT", "8080", "models[0].env.PORT")
    check_server_env("LOG_LEVEL", "info", "env.LOG_LEVEL")


# -- accelerator and machine fit -------------------------------------------------------------------

def test_fails_when_gpu_type_is_unknown():
    error = _fails(r"^ModelSpec: accelerator.type = 'nvidia-gtx-1080': unknown GPU type; allowed: nvidia-tesla-t4, ",
                   accelerator={"type": "nvidia-gtx-1080"})
    assert error.field == "accelerator.type"
    with pytest.raises(ConfigurationError, match=r"^AcceleratorSpec: type = 'nvidia-gtx-1080': unknown GPU type"):
        AcceleratorSpec(type="nvidia-gtx-1080")


def test_fails_when_gpu_count_is_bad():
    error = _fails(r"^ModelSpec: accelerator.count = 3: nvidia-tesla-t4 may be attached 1, 2, 4 at a time$",
                   accelerator={"type": "nvidia-tesla-t4", "count": 3})
    assert error.field == "accelerator.count"
    with pytest.raises(ConfigurationError, match=r"^AcceleratorSpec: count = 3: nvidia-tesla-t4 may be attached 1, 2, 4 at a time$"):
        AcceleratorSpec(type="nvidia-tesla-t4", count=3)


def test_fails_when_gpu_is_on_a_machine_family_that_cannot_take_it():
    error = _fails(r"^ModelSpec: vm.machine_type = 'n2-standard-8': cannot take nvidia-tesla-t4; use a n1-\* machine type$",
                   vm={"machine_type": "n2-standard-8"}, accelerator={"type": "nvidia-tesla-t4"})
    assert error.field == "vm.machine_type"


def test_fails_when_l4_is_on_n1():
    _fails(r"^ModelSpec: vm.machine_type = 'n1-standard-8': cannot take nvidia-l4; machine types that carry it: g2-standard-4 \(1\)",
           vm={"machine_type": "n1-standard-8"}, accelerator={"type": "nvidia-l4"})


def test_fails_when_gpu_count_does_not_match_the_machine_type():
    error = _fails(r"^ModelSpec: accelerator.count = 4: g2-standard-8 comes with exactly 1 x nvidia-l4; omit count or set 1$",
                   vm={"machine_type": "g2-standard-8"}, accelerator={"type": "nvidia-l4", "count": 4})
    assert error.field == "accelerator.count"


def test_fails_when_n1_has_more_vcpus_than_the_gpu_count_allows():
    _fails(r"^ModelSpec: vm.machine_type = 'n1-standard-16': has 16 vCPUs; with 1 x nvidia-tesla-v100 at most 12 vCPUs are allowed$",
           vm={"machine_type": "n1-standard-16"}, accelerator={"type": "nvidia-tesla-v100"})


def test_fails_when_accelerator_optimized_machine_has_no_gpu():
    _fails(r"^ModelSpec: vm.machine_type = 'a2-highgpu-1g': is accelerator-optimized and comes with GPUs; "
           r"set accelerator.type = 'nvidia-tesla-a100'$", vm={"machine_type": "a2-highgpu-1g"})


def test_fails_when_machine_type_is_bad():
    _fails(r"^ModelSpec: vm.machine_type = 'n2 standard 4': must be a Compute Engine machine type", vm={"machine_type": "n2 standard 4"})


def test_fails_when_machine_shape_does_not_exist():
    _fails(r"^ModelSpec: vm.machine_type = 'n2-standard-3': is not a predefined machine type; n2-standard comes in ",
           vm={"machine_type": "n2-standard-3"})


# -- serving signals, group shape and capacity on VM fleets (issue #15) -----------------------------

def test_fails_when_a_gpu_model_would_scale_on_cpu_alone():
    error = _fails(r"^ModelSpec: scaling.signal = 'cpu': a GPU model scaling on CPU alone never scales out \(GPU-bound inference "
                   r"barely moves CPU\); use signal gpu, in-flight or request-rate, or set scaling.allow_cpu_only = true$",
                   accelerator={"type": "nvidia-l4"}, scaling={"signal": "cpu"})
    assert error.field == "scaling.signal"


def test_a_gpu_model_may_scale_on_cpu_when_it_says_so():
    model = _model(accelerator={"type": "nvidia-l4"}, scaling={"signal": "cpu", "allow_cpu_only": True})
    assert model.scaling_signals == (ScalingSignal("cpu", 0.6),)


@pytest.mark.parametrize("signal", ["gpu", "in-flight", "request-rate"])
def test_a_gpu_model_scales_on_any_serving_signal(signal):
    assert _model(accelerator={"type": "nvidia-l4"}, scaling={"signal": signal}).scaling_signals[0].kind == signal


@pytest.mark.parametrize("shape", ["ANY", "ANY_SINGLE_ZONE"])
def test_fails_when_an_autoscaled_group_is_not_even_or_balanced(shape):
    error = _fails(rf"^ModelSpec: vm.distribution_target_shape = '{shape}': an autoscaled regional group must be EVEN or BALANCED "
                   r"\(Compute Engine rejects the others\); set vm.target_size for a fixed-size group$",
                   vm={"distribution_target_shape": shape})
    assert error.field == "vm.distribution_target_shape"


@pytest.mark.parametrize("shape", ["ANY", "ANY_SINGLE_ZONE"])
def test_a_fixed_size_group_may_have_any_shape(shape):
    assert _model(vm={"distribution_target_shape": shape, "target_size": 2}).distribution_shape == shape


def test_fails_when_a_canary_version_runs_in_a_balanced_gpu_group():
    error = _fails(r"^ModelSpec: vm.distribution_target_shape = 'BALANCED': a vm.canary \(two versions in one group\) needs EVEN: "
                   r"Compute Engine rejects it with BALANCED, ANY and ANY_SINGLE_ZONE \(GPU models default to BALANCED\); set EVEN "
                   r"or serve the canary as its own model \(canary_of\)$",
                   accelerator={"type": "nvidia-l4"}, vm={"canary": {"image": IMAGE}})
    assert error.field == "vm.distribution_target_shape"
    _fails(r"^ModelSpec: vm.distribution_target_shape = 'ANY': a vm.canary", vm={"canary": {"image": IMAGE}, "distribution_target_shape": "ANY",
                                                                                "target_size": 2})


def test_a_gpu_canary_version_runs_in_an_even_group():
    model = _model(accelerator={"type": "nvidia-l4"}, vm={"canary": {"image": IMAGE}, "distribution_target_shape": "EVEN"})
    assert model.distribution_shape == "EVEN"


def test_fails_when_the_gpu_signal_runs_on_container_optimized_os():
    error = _fails(r"^ModelSpec: scaling.signal = 'auto': the gpu signal reads the Ops Agent's GPU utilization and the Ops Agent does "
                   r"not run on Container-Optimized OS \(cos-cloud/cos-stable\); use the default GPU image \(leave vm.boot_image unset\) "
                   r"or signal in-flight or request-rate$",
                   accelerator={"type": "nvidia-l4"}, vm={"boot_image": COS_IMAGE})
    assert error.field == "scaling.signal"
    _fails(r"^ModelSpec: scaling.signal = 'gpu': the gpu signal .*\(cos-cloud/cos-beta\)",
           accelerator={"type": "nvidia-l4"}, scaling={"signal": "gpu"},
           vm={"distribution_target_shape": "EVEN", "canary": {"boot_image": "cos-cloud/cos-beta"}})


def test_a_gpu_model_on_cos_scales_on_in_flight_requests():
    model = _model(accelerator={"type": "nvidia-l4"}, vm={"boot_image": COS_IMAGE}, scaling={"signal": "in-flight"})
    assert is_cos(model.boot_image) and model.scaling_signals == (ScalingSignal("in-flight", 8.0),)


def test_fails_when_request_rate_meets_utilization_balancing():
    error = _fails(r"^ModelSpec: backend.balancing_mode = 'UTILIZATION': signal request-rate scales on the load balancer's requests/s "
                   r"per VM, which needs RATE balancing; leave balancing_mode unset \(RATE at max_rate_per_instance = scaling.target\) "
                   r"or set RATE$",
                   scaling={"signal": "request-rate"}, backend={"balancing_mode": "UTILIZATION"})
    assert error.field == "backend.balancing_mode"


def test_fails_when_request_rate_has_two_targets():
    _fails(r"^ModelSpec: scaling.target = 20.0: backend.max_rate_per_instance \(40.0\) is already the requests/s target of signal "
           r"request-rate; give one of them$",
           scaling={"signal": "request-rate", "target": 20}, backend={"balancing_mode": "RATE", "max_rate_per_instance": 40})


def test_request_rate_target_from_the_backend_rate():
    model = _model(scaling={"signal": "request-rate"}, backend={"balancing_mode": "RATE", "max_rate_per_instance": 40})
    assert model.backend.max_rate_per_instance == 40


def test_fails_when_spot_vms_would_consume_a_reservation():
    error = _fails(r"^ModelSpec: vm.reservation.consume = 'SPECIFIC_RESERVATION': Spot VMs cannot consume reservations; drop "
                   r"vm.reservation \(or set NO_RESERVATION\) or vm.spot$",
                   vm={"spot": True, "reservation": {"names": ("l4-serving",)}})
    assert error.field == "vm.reservation.consume"
    _fails(r"^ModelSpec: vm.reservation.consume = 'ANY_RESERVATION': Spot VMs cannot", vm={"spot": True, "reservation": {"consume": "ANY_RESERVATION"}})


def test_fails_when_a_specific_reservation_has_no_name():
    with pytest.raises(ConfigurationError, match=r"^ReservationSpec: names = \[\]: SPECIFIC_RESERVATION needs at least one reservation name$"):
        ReservationSpec()


def test_fails_when_reservation_names_are_given_for_another_affinity():
    _fails(r"^ModelSpec: vm.reservation.names = \['l4'\]: names apply to SPECIFIC_RESERVATION only, not ANY_RESERVATION$",
           vm={"reservation": {"consume": "ANY_RESERVATION", "names": ("l4",)}})


@pytest.mark.parametrize("name", ["L4-Pool", "l4_pool", "projects/p/reservations/x", "projects/my-project/l4"])
def test_fails_when_a_reservation_name_is_invalid(name):
    _fails(rf"^ModelSpec: vm.reservation.names\[0\] = '{name}': must be a reservation name or projects/<project>/reservations/<name>$",
           vm={"reservation": {"names": (name,)}})


def test_fails_when_reservation_names_repeat():
    _fails(r"^ModelSpec: vm.reservation.names = .*: each reservation may be listed once; repeated: l4$", vm={"reservation": {"names": ("l4", "l4")}})


def test_fails_when_a_download_is_asked_for_in_startup_script_mode():
    error = _fails(r"^ModelSpec: vm.model_download.enabled = True: needs image mode: in startup-script mode the script fetches the model itself$",
                   vm={"startup_script": "#!/bin/bash\n", "model_download": {"enabled": True}})
    assert error.field == "vm.model_download.enabled"


def test_downloads_can_be_switched_off_or_on():
    assert not _model(accelerator={"type": "nvidia-l4"}, vm={"model_download": {"enabled": False}}).downloads_model
    assert _model(vm={"model_download": {"enabled": True}}).downloads_model


def test_fails_when_the_download_disk_is_unknown():
    _fails(r"^ModelSpec: vm.model_download.disk = 'ram': Input should be 'boot' or 'local-ssd'$", vm={"model_download": {"disk": "ram"}})


def test_vm_fleet_rules_do_not_apply_to_gke_models():
    model = _model(runtime="gke", accelerator={"type": "nvidia-l4"},
                   vm={"distribution_target_shape": "ANY", "boot_image": COS_IMAGE, "spot": True, "reservation": {"names": ("l4",)}})
    assert model.runtime == "gke"


# -- VM runtime settings ----------------------------------------------------------------------------

@pytest.mark.parametrize(("port", "bound"), [(0, "greater than or equal to 1"), (65536, "less than or equal to 65535")])
def test_fails_when_port_is_outside_1_65535(port, bound):
    _fails(rf"^ModelSpec: port = {port}: Input should be {bound}$", port=port)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("restart_policy", "Sometimes", r"Input should be 'Always', 'OnFailure' or 'Never'"),
    ("boot_disk_type", "pd-extreme", r"Input should be 'pd-balanced', 'pd-ssd', 'pd-standard' or 'hyperdisk-balanced'"),
    ("distribution_target_shape", "ODD", r"Input should be 'EVEN', 'BALANCED', 'ANY' or 'ANY_SINGLE_ZONE'"),
    ("spot_termination_action", "HIBERNATE", r"Input should be 'STOP' or 'DELETE'"),
    ("boot_disk_size_gb", 5, r"Input should be greater than or equal to 10"),
])
def test_fails_when_a_vm_setting_is_outside_its_choices(key, value, message):
    _fails(rf"^ModelSpec: vm.{key} = {value!r}: {message}$", vm={key: value})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("type", "ROLLING", r"Input should be 'PROACTIVE' or 'OPPORTUNISTIC'"),
    ("minimal_action", "REBOOT", r"Input should be 'REPLACE', 'RESTART', 'REFRESH' or 'NONE'"),
    ("replacement_method", "SWAP", r"Input should be 'SUBSTITUTE' or 'RECREATE'"),
    ("max_surge_fixed", -1, r"Input should be greater than or equal to 0"),
    ("max_unavailable_fixed", -1, r"Input should be greater than or equal to 0"),
])
def test_fails_when_update_policy_setting_is_invalid(key, value, message):
    _fails(rf"^ModelSpec: vm.update_policy.{key} = {value!r}: {message}$", vm={"update_policy": {key: value}})


def test_fails_when_zones_repeat():
    _fails(r"^ModelSpec: vm.zones = \('europe-west1-b', 'europe-west1-b'\): each zone may be listed once; repeated: europe-west1-b$",
           vm={"zones": ("europe-west1-b", "europe-west1-b")})


@pytest.mark.parametrize("name", ["HTTP", "http_alt", "-http", "8080", "a" * 64])
def test_fails_when_named_port_is_not_a_valid_name(name):
    _fails(r"^ModelSpec: vm.port_name = .*: must match \^\[a-z\]\(\[-a-z0-9\]\{0,61\}\[a-z0-9\]\)\?\$", vm={"port_name": name})


@pytest.mark.parametrize("key", ["enable-oslogin", "block-project-ssh-keys", "serial-port-enable", "startup-script", "ssh-keys",
                                 "gce-container-declaration", "user-data", "model-server-env", "google-logging-enabled"])
def test_fails_when_metadata_overrides_hardening_or_runtime_keys(key):
    assert key in RESERVED_METADATA
    _fails(rf"^ModelSpec: vm.metadata.{key} = '{key}': is set by the fleet; reserved keys: ", vm={"metadata": {key: "x"}})


def test_fails_when_metadata_key_is_invalid():
    _fails(r"^ModelSpec: vm.metadata.model version = 'model version': metadata keys are 1-128 letters, digits, '-' and '_'$",
           vm={"metadata": {"model version": "3"}})


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer"])
def test_fails_when_roles_include_a_primitive_role(role):
    _fails(rf"^ModelSpec: vm.roles\[1\] = '{role}': primitive roles .* are not allowed", vm={"roles": ("roles/logging.logWriter", role)})


def test_fails_when_roles_repeat():
    _fails(r"^ModelSpec: vm.roles = .*: each role may be listed once; repeated: logging.logWriter$",
           vm={"roles": ("roles/logging.logWriter", "roles/logging.logWriter")})


def test_fails_when_a_role_is_not_a_role_name():
    _fails(r"^ModelSpec: vm.roles\[0\] = 'logging.logWriter': must be a role name: roles/<name>, ", vm={"roles": ("logging.logWriter",)})


def test_fails_when_a_label_key_is_invalid():
    _fails(r"labels.Team = 'Team': label keys must match", vm={"labels": {"Team": "nlp"}})


def test_fails_when_account_id_is_invalid():
    _fails(r"^ModelSpec: vm.account_id = 'short': must be 6-30 characters", vm={"account_id": "short"})


def test_fails_when_health_check_timeout_exceeds_interval():
    _fails(r"health_check.timeout_sec \(20\) must be <= check_interval_sec \(10\)", vm={"health_check": {"timeout_sec": 20}})
    with pytest.raises(ConfigurationError, match=r"^AutohealSpec: health_check.timeout_sec \(20\) must be <= check_interval_sec \(10\)$"):
        AutohealSpec(timeout_sec=20)


def test_fails_when_health_path_is_relative():
    _fails(r"^ModelSpec: health_path = 'healthz': must be an absolute request path", health_path="healthz")


def test_fails_when_model_path_is_not_a_relative_prefix():
    _fails(r"^ModelSpec: model_path = '/llama': must be a relative object prefix", model_path="/llama")


def test_fails_when_boot_image_is_malformed():
    _fails(r"^ModelSpec: vm.boot_image = 'cos-stable': must be <project>/<image or family>", vm={"boot_image": "cos-stable"})
    _fails(r"^ModelSpec: vm.canary.boot_image = 'cos-stable': must be <project>/<image or family>",
           vm={"canary": {"boot_image": "cos-stable"}})


def test_fails_when_network_tag_is_invalid():
    _fails(r"^ModelSpec: vm.network_tags\[1\] = 'Llama': must match", vm={"network_tags": ("model-server", "Llama")})


def test_fails_when_target_size_is_negative():
    _fails(r"^ModelSpec: vm.target_size = -1: Input should be greater than or equal to 0$", vm={"target_size": -1})


@pytest.mark.parametrize(("percent", "bound"), [(-1, "greater than or equal to 0"), (101, "less than or equal to 100")])
def test_fails_when_canary_percent_is_outside_0_100(percent, bound):
    _fails(rf"^ModelSpec: vm.canary.percent = {percent}: Input should be {bound}$", vm={"canary": {"percent": percent, "image": IMAGE}})


def test_fails_when_vm_canary_image_is_malformed():
    _fails(r"^ModelSpec: vm.canary.image = 'Bad Image': must be a container image reference", vm={"canary": {"image": "Bad Image"}})


def test_fails_when_vm_canary_changes_nothing():
    with pytest.raises(ConfigurationError, match=r"^VmCanarySpec: canary: set image and/or boot_image \(what the canary version runs\)$"):
        VmCanarySpec(percent=10)
    _fails(r"vm.canary.*canary: set image and/or boot_image", vm={"canary": {"percent": 10}})


# -- canary_of ------------------------------------------------------------------------------------

def test_canary_shares_the_stable_models_routes():
    canary = _model(name="llama-next", canary_of="llama", canary_weight=20)
    assert (canary.canary_of, canary.canary_weight) == ("llama", 20)


def test_fails_when_model_is_a_canary_of_itself():
    _fails(r"^ModelSpec: model 'llama' cannot be a canary of itself$", canary_of="llama")


def test_fails_when_a_canary_has_routes_of_its_own():
    _fails(r"^ModelSpec: model 'llama-next' is a canary of 'llama': it shares that model's routes, so leave routes empty$",
           name="llama-next", canary_of="llama", routes=("/v1/next",))


@pytest.mark.parametrize(("weight", "bound"), [(0, "greater than or equal to 1"), (100, "less than or equal to 99")])
def test_fails_when_canary_weight_is_outside_1_99(weight, bound):
    _fails(rf"^ModelSpec: canary_weight = {weight}: Input should be {bound}$", name="llama-next", canary_of="llama", canary_weight=weight)


# -- check_models: the rules across a deployment's models -------------------------------------------

def test_a_valid_set_of_models_passes():
    models = [_model(), _model(name="llama-next", canary_of="llama", canary_weight=30),
              _model(name="resnet", runtime="gke", routes=("/v1/vision",))]
    assert check_models(models, REGIONS) is None


def test_fails_when_there_are_no_models():
    with pytest.raises(ConfigurationError, match=r"^models = \[\]: at least one \[\[models\]\] table is required$"):
        check_models([], REGIONS)


def test_fails_when_model_names_repeat():
    with pytest.raises(ConfigurationError, match=r"^models\[1\].name = 'llama': model names must be unique$"):
        check_models([_model(), _model(routes=("/v2",))], REGIONS)


def test_fails_when_a_model_region_is_not_a_deployment_region():
    with pytest.raises(ConfigurationError, match=r"^models\[0\].regions = \['us-east1'\]: must be among the deployment's regions \(europe-west1\)$"):
        check_models([_model(regions=("us-east1",))], REGIONS)


def test_fails_when_a_vm_zone_is_not_in_a_region_the_model_serves():
    with pytest.raises(ConfigurationError, match=r"^models\[0\].vm.zones\[0\] = 'us-central1-a': not a zone of europe-west1; allowed: "):
        check_models([_model(vm={"zones": ("us-central1-a",)})], REGIONS)
    with pytest.raises(ConfigurationError, match=r"^models\[0\].vm.zones\[0\] = 'europe-west1-b': not a zone of us-central1"):
        check_models([_model(vm={"zones": ("europe-west1-b",)})], ("europe-west1", "us-central1"))
    check_models([_model(vm={"zones": ("europe-west1-b",)}, regions=("europe-west1",))], ("europe-west1", "us-central1"))


def test_zones_of_a_gke_model_are_not_checked():
    check_models([_model(runtime="gke", vm={"zones": ("us-central1-a",)})], REGIONS)


def test_fails_when_canary_of_names_no_model():
    with pytest.raises(ConfigurationError, match=r"^models\[1\].canary_of = 'resnet': must name a model that is not a canary itself; allowed: llama$"):
        check_models([_model(), _model(name="llama-next", canary_of="resnet")], REGIONS)


def test_fails_when_canary_of_names_a_canary():
    with pytest.raises(ConfigurationError, match=r"^models\[2\].canary_of = 'llama-next': must name a model that is not a canary itself; allowed: llama$"):
        check_models([_model(), _model(name="llama-next", canary_of="llama"), _model(name="llama-rc", canary_of="llama-next")], REGIONS)


def test_canary_weights_of_one_model_may_add_up_to_99():
    check_models([_model(), _model(name="llama-a", canary_of="llama", canary_weight=50),
                  _model(name="llama-b", canary_of="llama", canary_weight=49)], REGIONS)


def test_fails_when_canary_weights_reach_100():
    with pytest.raises(ConfigurationError, match=r"^models\[llama\] canaries = 100: canary weights of one model must add up to less than 100$"):
        check_models([_model(), _model(name="llama-a", canary_of="llama", canary_weight=60),
                      _model(name="llama-b", canary_of="llama", canary_weight=40)], REGIONS)


def test_fails_when_two_models_route_the_same_path():
    with pytest.raises(ConfigurationError, match=(
        r"^models\[resnet\].routes = '/v1/models/llama': is already routed to model 'llama'; every path goes to one place$"
    )):
        check_models([_model(), _model(name="resnet", routes=("/v1/models/llama",))], REGIONS)


def test_fails_when_another_path_takes_a_model_route():
    with pytest.raises(ConfigurationError, match=(
        r"^static_content.paths\[0\] = '/v1/models/llama/\*': is already routed to model 'llama'; every path goes to one place$"
    )):
        check_models([_model()], REGIONS, [("static_content.paths[0]", "/v1/models/llama/*", "static_content")])
