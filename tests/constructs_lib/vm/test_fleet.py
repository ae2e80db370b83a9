"""``ModelServerFleet``: one model's servers in one region (template, health check, regional MIG,
service account). Spec rules (``ModelSpec`` / ``VmRuntimeSpec``) are in tests/constructs_lib/specs."""

import pytest
import yaml
from cdktf import TerraformOutput, Testing

from constructs_lib.errors import ConfigurationError
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.interfaces import BackendTarget, CacheConnection, ModelSource, ScalableTarget
from constructs_lib.network import ServingNetwork
from constructs_lib.regions import region_code
from constructs_lib.specs.model import AcceleratorSpec, ModelSpec
from constructs_lib.specs.backends import BackendServiceSpec
from constructs_lib.specs.network import NetworkSpec
from constructs_lib.specs.scaling import ScalingSpec
from constructs_lib.specs.vm import COS_IMAGE, DEFAULT_FLEET_ROLES, GPU_IMAGE, AutohealSpec, UpdatePolicySpec, VmCanarySpec, VmRuntimeSpec
from constructs_lib.vm.autoscaler import FleetAutoscaler
from constructs_lib.vm.fleet import ModelServerFleet, fleet_identity
from constructs_lib.vm.runner import COS_GPU_DRIVER_SCRIPT, LINUX_GPU_SETUP_SCRIPT, LINUX_HOST_SETUP_SCRIPT, OPS_AGENT_DCGM_CONFIG
from tests.conftest import only_resource, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/serving/server:1.4.0"
SA_EMAIL = "llama-runner@test-project-123.iam.gserviceaccount.com"
SUBNET = "${google_compute_subnetwork.network_subnet-europe-west1_02BD014D.self_link}"
LABELS = {"app": "ml", "env": "test", "managed-by": "cdktf", "model": "llama"}
MODEL_SOURCE = ModelSource(uri="gs://ml-test-models/llama/v3", bucket="ml-test-models")


def _network(stack, naming, regions=("europe-west1",), **spec):
    return ServingNetwork(stack, "network", naming=naming, regions=list(regions), spec=NetworkSpec(**spec))


def _model(vm=None, **fields):
    """The ``llama`` model on VMs: ``IMAGE`` and a fixed group of 2 unless told otherwise.
    ``vm`` holds ``[models.vm]`` settings, the other keywords model-level ones."""
    fields.setdefault("name", "llama")
    fields.setdefault("image", IMAGE)
    return ModelSpec(vm=VmRuntimeSpec(**{"target_size": 2, **(vm or {})}), **fields)


def _fleet(stack, naming, *, region="europe-west1", network=None, id_="llama-europe-west1",
           model_source=None, cache=None, identity=None, vm=None, **fields):
    return ModelServerFleet(
        stack, id_, network=network or _network(stack, naming), naming=naming, region=region,
        model=_model(vm, **fields), model_source=model_source, cache=cache, identity=identity,
    )


def _cloud_config(template):
    """The template's ``user-data``, parsed (so every test also checks it is valid YAML)."""
    text = template["metadata"]["user-data"]
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def _files(template):
    """``write_files`` of the template's cloud-config: path -> content."""
    return {file["path"]: file["content"] for file in _cloud_config(template)["write_files"]}


def _run(template):
    return _files(template)["/etc/model-server/run.sh"]


def _env(template):
    return _files(template)["/etc/model-server/env"]


def _fleet_only(result):
    """The synthesized stack without the network's own resources (owned and snapshotted elsewhere)."""
    kept = {}
    for rtype, items in result["resource"].items():
        mine = {k: v for k, v in items.items() if not k.startswith("network_")}
        if mine:
            kept[rtype] = mine
    return {**result, "resource": kept}


# -- defaults -----------------------------------------------------------------------------------

def test_default_template_is_hardened_cos_container_without_public_ip(stack, naming):
    _fleet(stack, naming)
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["name_prefix"] == "ml-test-llama-europe-west1-"
    assert "name" not in template
    assert template["lifecycle"] == {"create_before_destroy": True}
    assert template["machine_type"] == "n2-standard-4"
    assert template["region"] == "europe-west1"
    assert template["can_ip_forward"] is False
    assert template["disk"] == [{
        "boot": True, "auto_delete": True, "source_image": "cos-cloud/cos-stable",
        "disk_size_gb": 100, "disk_type": "pd-balanced", "labels": LABELS,
    }]
    assert template["network_interface"] == [{"subnetwork": SUBNET}]
    assert template["tags"] == ["model-server"]
    assert template["labels"] == LABELS
    assert template["shielded_instance_config"] == {
        "enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True,
    }
    assert template["scheduling"] == {
        "provisioning_model": "STANDARD", "preemptible": False, "automatic_restart": True, "on_host_maintenance": "MIGRATE",
    }
    assert "guest_accelerator" not in template
    assert template["service_account"] == {
        "email": "${google_service_account.llama-europe-west1_identity_default_1FCB486D.email}",
        "scopes": ["cloud-platform"],
    }
    metadata = template["metadata"]
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "true"
    assert metadata["serial-port-enable"] == "FALSE"
    assert metadata["google-logging-enabled"] == "true"
    assert metadata["google-monitoring-enabled"] == "true"
    assert "startup-script" not in metadata
    assert sorted(metadata) == [
        "block-project-ssh-keys", "enable-oslogin", "google-logging-enabled", "google-monitoring-enabled",
        "serial-port-enable", "user-data",
    ]


def test_default_runner_is_cloud_init_with_a_systemd_unit_not_the_deprecated_container_agent(stack, naming):
    _fleet(stack, naming)
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert "gce-container-declaration" not in template["metadata"]
    config = _cloud_config(template)
    assert config["runcmd"] == ["systemctl daemon-reload", "systemctl enable --now --no-block model-server.service"]
    assert [(f["path"], f["permissions"], f["owner"]) for f in config["write_files"]] == [
        ("/etc/model-server/env", "0600", "root:root"),
        ("/etc/model-server/run.sh", "0700", "root:root"),
        ("/etc/systemd/system/model-server.service", "0644", "root:root"),
    ]
    files = _files(template)
    assert files["/etc/model-server/env"] == "PORT=8080\n"
    assert files["/etc/model-server/run.sh"] == (
        "#!/bin/bash\n"
        "# Runs the llama model server; model-server.service restarts it (Restart=always).\n"
        "set -euo pipefail\n"
        "mkdir -p /var/lib/model-server\n"
        "docker-credential-gcr configure-docker --registries=europe-docker.pkg.dev\n"
        "exec docker run \\\n"
        "  --rm \\\n"
        "  --name model-server \\\n"
        "  --network host \\\n"
        "  --log-driver gcplogs \\\n"
        "  --env-file /etc/model-server/env \\\n"
        f"  {IMAGE}\n"
    )
    assert files["/etc/systemd/system/model-server.service"] == (
        "[Unit]\n"
        "Description=Model server llama (container model-server)\n"
        "Wants=network-online.target\n"
        "Wants=gcr-online.target\n"
        "After=network-online.target docker.service gcr-online.target\n"
        "\n"
        "[Service]\n"
        "Environment=HOME=/var/lib/model-server\n"
        "ExecStartPre=-/usr/bin/docker rm --force model-server\n"
        "ExecStart=/bin/bash /etc/model-server/run.sh\n"
        "ExecStop=/usr/bin/docker stop --time 30 model-server\n"
        "Restart=always\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def test_default_health_check_is_http_on_the_serving_port(stack, naming):
    _fleet(stack, naming)
    check = only_resource(synth(stack), "google_compute_health_check")
    assert check["name"] == "ml-test-llama-europe-west1-hc"
    assert check["http_health_check"] == {"port": 8080, "request_path": "/healthz"}
    assert (check["check_interval_sec"], check["timeout_sec"]) == (10, 5)
    assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (2, 3)


def test_default_group_spreads_evenly_with_autohealing_and_surge_rollout(stack, naming):
    _fleet(stack, naming)
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    assert group["name"] == "ml-test-llama-europe-west1"
    assert group["base_instance_name"] == "ml-test-llama"
    assert group["region"] == "europe-west1"
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    assert group["distribution_policy_target_shape"] == "EVEN"
    assert group["named_port"] == [{"name": "http", "port": 8080}]
    assert group["auto_healing_policies"] == {
        "health_check": "${google_compute_health_check.llama-europe-west1_health-check_64EE3957.id}",
        "initial_delay_sec": 600,
    }
    assert group["update_policy"] == {
        "type": "PROACTIVE", "minimal_action": "REPLACE", "replacement_method": "SUBSTITUTE",
        "max_surge_fixed": 3, "max_unavailable_fixed": 0, "instance_redistribution_type": "PROACTIVE",
    }
    assert group["version"] == [{
        "name": "stable",
        "instance_template": "${google_compute_instance_template.llama-europe-west1_template_51AD2CDB.self_link_unique}",
    }]
    assert group["wait_for_instances"] is False
    assert group["target_size"] == 2


def test_default_identity_is_a_dedicated_service_account_with_least_privilege_roles(stack, naming):
    fleet = _fleet(stack, naming)
    result = synth(stack)
    account = only_resource(result, "google_service_account")
    assert account["account_id"] == "ml-test-llama-euw1"
    bindings = resources(result, "google_project_iam_member")
    assert sorted(b["role"] for b in bindings.values()) == sorted(DEFAULT_FLEET_ROLES)
    sa = "google_service_account.llama-europe-west1_identity_default_1FCB486D"
    for binding in bindings.values():
        assert binding["member"] == f"${{{sa}.member}}"
        assert binding["project"] == f"${{{sa}.project}}"
    assert fleet.identity is not None
    assert fleet.service_account_email == fleet.identity.email
    assert fleet.iam_member == fleet.identity.iam_member


def test_fleet_is_a_backend_target_and_a_scalable_target(stack, naming):
    fleet = _fleet(stack, naming)
    assert isinstance(fleet, BackendTarget)
    assert isinstance(fleet, ScalableTarget)
    assert fleet.backend_kind == "instance-group"
    assert tuple(fleet.dependencies) == ()
    assert (fleet.port_name, fleet.port, fleet.region, fleet.network_tag) == ("http", 8080, "europe-west1", "model-server")
    assert fleet.location == "europe-west1"
    assert fleet.admits_health_checks(8080) and not fleet.admits_health_checks(9000)
    assert fleet.zones == ("europe-west1-b", "europe-west1-c", "europe-west1-d")
    assert fleet.startup_timeout_sec == 600
    assert fleet.name == "ml-test-llama-europe-west1"
    assert fleet.canary_template is None
    assert fleet.health_check_rule is None
    assert fleet.autoscaler is None
    for name, value in (("ig", fleet.instance_group), ("mig", fleet.group_manager.id), ("mig-id", fleet.group_manager_id),
                        ("template", fleet.template.self_link_unique), ("hc", fleet.health_check.id)):
        TerraformOutput(stack, name, value=value)
    outputs = {name: body["value"] for name, body in synth(stack)["output"].items()}
    group = "google_compute_region_instance_group_manager.llama-europe-west1_group_28DBAA26"
    assert outputs == {
        "ig": f"${{{group}.instance_group}}",
        "mig": f"${{{group}.id}}",
        "mig-id": f"${{{group}.id}}",
        "template": "${google_compute_instance_template.llama-europe-west1_template_51AD2CDB.self_link_unique}",
        "hc": "${google_compute_health_check.llama-europe-west1_health-check_64EE3957.id}",
    }


# -- wiring: environment ------------------------------------------------------------------------

def test_model_source_and_cache_become_server_environment_with_secret_references_only(stack, naming):
    cache = CacheConnection(
        endpoint_secret="projects/p/secrets/cache-endpoint/versions/latest", tls=True,
        auth_secret="projects/p/secrets/cache-auth/versions/1", ca_secret="projects/p/secrets/cache-ca/versions/2",
    )
    _fleet(stack, naming, model_source=MODEL_SOURCE, cache=cache, env={"LOG_LEVEL": "info", "BATCH": "8"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert _env(template) == (
        "PORT=8080\n"
        "MODEL_URI=gs://ml-test-models/llama/v3\n"
        "CACHE_ENDPOINT_SECRET=projects/p/secrets/cache-endpoint/versions/latest\n"
        "CACHE_TLS=true\n"
        "CACHE_AUTH_SECRET=projects/p/secrets/cache-auth/versions/1\n"
        "CACHE_CA_SECRET=projects/p/secrets/cache-ca/versions/2\n"
        "BATCH=8\n"
        "LOG_LEVEL=info\n"
    )
    assert "--env-file /etc/model-server/env" in _run(template)


def test_cache_without_tls_or_auth(stack, naming):
    _fleet(stack, naming, cache=CacheConnection(endpoint_secret="projects/p/secrets/cache-endpoint/versions/latest"))
    env = _env(only_resource(synth(stack), "google_compute_instance_template"))
    assert "CACHE_TLS=false\n" in env
    assert "CACHE_AUTH_SECRET" not in env and "CACHE_CA_SECRET" not in env


def test_terraform_tokens_pass_into_the_environment(stack, naming):
    network = _network(stack, naming)
    uri = f"gs://{network.network.name}/llama"
    _fleet(stack, naming, network=network, model_source=ModelSource(uri=uri, bucket="b"))
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert "MODEL_URI=gs://${google_compute_network.network_default_09D2BCBB.name}/llama\n" in _env(template)


def test_fails_when_an_environment_value_spans_lines(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^env.GREETING = '<multi-line value>': a server variable on VM fleets must be one line$"):
        _fleet(stack, naming, env={"GREETING": "hello\nworld"})


def test_container_command_args_restart_policy_and_privileged(stack, naming):
    _fleet(stack, naming, command=("python", "-m", "server"), args=("--model", "llama 3", "it's"),
           vm={"restart_policy": "OnFailure", "privileged": True})
    template = only_resource(synth(stack), "google_compute_instance_template")
    run = _run(template)
    assert "  --privileged \\\n" in run
    # command[0] replaces the entrypoint; the rest of command and args follow the image, one shell word each.
    assert run.endswith(f"  --entrypoint python \\\n  {IMAGE} -m server --model 'llama 3' 'it'\\''s'\n")
    assert "Restart=on-failure\n" in _files(template)["/etc/systemd/system/model-server.service"]


@pytest.mark.parametrize(("policy", "restart"), [("Always", "always"), ("OnFailure", "on-failure"), ("Never", "no")])
def test_restart_policy_maps_to_systemd(stack, naming, policy, restart):
    _fleet(stack, naming, vm={"restart_policy": policy})
    unit = _files(only_resource(synth(stack), "google_compute_instance_template"))["/etc/systemd/system/model-server.service"]
    assert f"Restart={restart}\n" in unit


def test_images_outside_google_registries_need_no_credentials(stack, naming):
    _fleet(stack, naming, image="docker.io/library/nginx:1.27")
    run = _run(only_resource(synth(stack), "google_compute_instance_template"))
    assert "docker-credential-gcr" not in run and "docker login" not in run


def test_scripts_leave_no_terraform_interpolation_of_their_own():
    """Terraform reads ``${`` and ``%{`` in metadata strings as interpolation: only the wiring's
    tokens may contain them."""
    for script in (COS_GPU_DRIVER_SCRIPT, LINUX_HOST_SETUP_SCRIPT, LINUX_GPU_SETUP_SCRIPT, OPS_AGENT_DCGM_CONFIG):
        assert "${" not in script and "%{" not in script


def test_startup_script_mode_uses_debian_and_publishes_the_environment(stack, naming):
    script = "#!/bin/bash\nset -e\n/opt/server/run.sh\n"
    _fleet(stack, naming, image=None, vm={"startup_script": script},
           model_source=ModelSource(uri="gs://models/llama", bucket="models"), env={"WORKERS": "2"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["disk"][0]["source_image"] == "debian-cloud/debian-12"
    metadata = template["metadata"]
    assert metadata["startup-script"] == script
    assert metadata["model-server-env"] == "PORT=8080\nMODEL_URI=gs://models/llama\nWORKERS=2\n"
    assert "gce-container-declaration" not in metadata
    assert metadata["enable-oslogin"] == "TRUE"


# -- options -------------------------------------------------------------------------------------

def test_gpu_fleet_runs_on_the_signed_driver_image_with_the_ops_agent_and_the_gpus_in_the_container(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), vm={"machine_type": "g2-standard-8"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["guest_accelerator"] == [{"type": "nvidia-l4", "count": 1}]
    assert template["scheduling"] == {
        "provisioning_model": "STANDARD", "preemptible": False, "automatic_restart": True, "on_host_maintenance": "TERMINATE",
    }
    # Canonical's signed NVIDIA driver: Secure Boot stays on.
    assert template["disk"][0]["source_image"] == GPU_IMAGE
    assert template["shielded_instance_config"]["enable_secure_boot"] is True
    metadata = template["metadata"]
    assert "gce-container-declaration" not in metadata and "startup-script" not in metadata
    assert "google-logging-enabled" not in metadata  # the Ops Agent ships logs and metrics there
    files = _files(template)
    assert files["/etc/model-server/host-setup.sh"] == LINUX_HOST_SETUP_SCRIPT + LINUX_GPU_SETUP_SCRIPT
    assert "bash /tmp/add-ops-agent-repo.sh --also-install" in LINUX_HOST_SETUP_SCRIPT
    assert "nvidia-container-toolkit" in LINUX_GPU_SETUP_SCRIPT and "datacenter-gpu-manager" in LINUX_GPU_SETUP_SCRIPT
    assert files["/etc/model-server/ops-agent.yaml"] == OPS_AGENT_DCGM_CONFIG
    unit = files["/etc/systemd/system/model-server.service"]
    assert "Requires=model-host-setup.service\n" in unit
    assert "After=network-online.target docker.service model-host-setup.service\n" in unit
    run = files["/etc/model-server/run.sh"]
    assert "  --gpus all \\\n  --ipc host \\\n" in run and "--privileged" not in run
    # No docker-credential-gcr outside COS: the VM's service account token logs docker in.
    assert "docker login --username oauth2accesstoken --password-stdin https://europe-docker.pkg.dev\n" in run


def test_gpu_fleet_on_container_optimized_os_installs_the_cos_driver_and_mounts_the_devices(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-tesla-t4", count=2),
           vm={"machine_type": "n1-standard-16", "boot_image": COS_IMAGE}, scaling={"signal": "in-flight"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    files = _files(template)
    assert files["/etc/model-server/host-setup.sh"] == COS_GPU_DRIVER_SCRIPT
    assert "cos-extensions install gpu" in COS_GPU_DRIVER_SCRIPT
    run = files["/etc/model-server/run.sh"]
    for flag in ("--volume /var/lib/nvidia/lib64:/usr/local/nvidia/lib64:ro", "--volume /var/lib/nvidia/bin:/usr/local/nvidia/bin:ro",
                 "--device /dev/nvidia0:/dev/nvidia0", "--device /dev/nvidia1:/dev/nvidia1",
                 "--device /dev/nvidia-uvm:/dev/nvidia-uvm", "--device /dev/nvidiactl:/dev/nvidiactl"):
        assert f"  {flag} \\\n" in run
    assert "/dev/nvidia2" not in run and "--privileged" not in run and "--gpus" not in run
    assert "docker-credential-gcr configure-docker --registries=europe-docker.pkg.dev\n" in run


def test_container_on_another_linux_image_gets_docker_and_the_ops_agent_installed(stack, naming):
    _fleet(stack, naming, vm={"boot_image": "debian-cloud/debian-12"})
    files = _files(only_resource(synth(stack), "google_compute_instance_template"))
    assert files["/etc/model-server/host-setup.sh"] == LINUX_HOST_SETUP_SCRIPT
    assert "command -v docker >/dev/null || apt_install docker.io" in LINUX_HOST_SETUP_SCRIPT
    assert "/etc/model-server/ops-agent.yaml" not in files


def test_gpu_model_without_machine_type_gets_the_accelerators_usual_machine(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"))
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["machine_type"] == "g2-standard-8"
    assert template["guest_accelerator"] == [{"type": "nvidia-l4", "count": 1}]
    assert template["scheduling"]["on_host_maintenance"] == "TERMINATE"


def test_n1_gpu_count(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-tesla-t4", count=2), vm={"machine_type": "n1-standard-16"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["guest_accelerator"] == [{"type": "nvidia-tesla-t4", "count": 2}]


def test_spot_vms(stack, naming):
    _fleet(stack, naming, vm={"spot": True})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["scheduling"] == {
        "provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False,
        "on_host_maintenance": "TERMINATE", "instance_termination_action": "DELETE",
    }


def test_spot_gpu_vms_with_stop_action(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"),
           vm={"machine_type": "g2-standard-8", "spot": True, "spot_termination_action": "STOP"})
    scheduling = only_resource(synth(stack), "google_compute_instance_template")["scheduling"]
    assert scheduling["provisioning_model"] == "SPOT"
    assert scheduling["instance_termination_action"] == "STOP"
    assert scheduling["on_host_maintenance"] == "TERMINATE"


def test_boot_disk_image_tags_labels_metadata_and_secure_boot(stack, naming):
    _fleet(stack, naming, vm={
        "boot_image": "projects/my-images/global/images/family/server", "boot_disk_size_gb": 200,
        "boot_disk_type": "pd-ssd", "network_tags": ("model-server", "llama"), "labels": {"team": "nlp"},
        "metadata": {"model-version": "3"}, "secure_boot": False,
    })
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["disk"][0]["source_image"] == "projects/my-images/global/images/family/server"
    assert (template["disk"][0]["disk_size_gb"], template["disk"][0]["disk_type"]) == (200, "pd-ssd")
    assert template["disk"][0]["labels"] == {**LABELS, "team": "nlp"}
    assert template["tags"] == ["model-server", "llama"]
    assert template["labels"] == {**LABELS, "team": "nlp"}
    assert template["metadata"]["model-version"] == "3"
    assert template["shielded_instance_config"]["enable_secure_boot"] is False
    assert template["shielded_instance_config"]["enable_vtpm"] is True


def test_zone_subset_and_other_target_shape(stack, naming):
    fleet = _fleet(stack, naming, vm={"zones": ("europe-west1-b", "europe-west1-c"), "distribution_target_shape": "BALANCED"})
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c"]
    assert group["distribution_policy_target_shape"] == "BALANCED"
    assert group["update_policy"]["instance_redistribution_type"] == "NONE"
    assert group["update_policy"]["max_surge_fixed"] == 2
    assert fleet.zones == ("europe-west1-b", "europe-west1-c")


# -- GPU zones and the group's shape (issue #15: accelerators are in some zones only) --------------

def test_gpu_fleet_spreads_balanced_over_the_zones_that_offer_its_accelerator(stack, naming):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), vm={"target_size": None})
    FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet)
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    # europe-west1-d has no L4: with it in an EVEN group, a third of the VMs would never start.
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c"]
    assert group["distribution_policy_target_shape"] == "BALANCED"
    assert group["update_policy"]["instance_redistribution_type"] == "NONE"
    assert group["update_policy"]["max_surge_fixed"] == 2
    assert (fleet.zones, fleet.distribution_shape) == (("europe-west1-b", "europe-west1-c"), "BALANCED")


def test_gpu_zones_come_from_the_per_zone_table_in_every_region(stack, naming):
    network = _network(stack, naming, regions=("us-central1", "europe-west4"))
    central = _fleet(stack, naming, network=network, region="us-central1", id_="a", accelerator=AcceleratorSpec(type="nvidia-l4"))
    west4 = _fleet(stack, naming, network=network, region="europe-west4", id_="b", accelerator=AcceleratorSpec(type="nvidia-l4"))
    a100 = _fleet(stack, naming, network=network, region="us-central1", id_="c", accelerator=AcceleratorSpec(type="nvidia-a100-80gb"))
    assert central.zones == ("us-central1-a", "us-central1-b", "us-central1-c")
    assert west4.zones == ("europe-west4-a", "europe-west4-b", "europe-west4-c")
    assert a100.zones == ("us-central1-a", "us-central1-c")


def test_cpu_fleet_keeps_every_zone_and_even(stack, naming):
    fleet = _fleet(stack, naming)
    assert (fleet.zones, fleet.distribution_shape) == (("europe-west1-b", "europe-west1-c", "europe-west1-d"), "EVEN")


def test_gpu_fleet_may_be_even_over_zones_that_all_offer_its_accelerator(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), vm={"distribution_target_shape": "EVEN"})
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    assert group["distribution_policy_target_shape"] == "EVEN"
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c"]
    assert group["update_policy"]["instance_redistribution_type"] == "PROACTIVE"


def test_fails_when_an_explicit_zone_does_not_offer_the_accelerator(stack, naming):
    with pytest.raises(ConfigurationError, match=(
        r"^vm.zones\[1\] = 'europe-west1-d': nvidia-l4 is not offered in that zone \(approximate table; a regional group would "
        r"never start its VMs there\); zones of europe-west1 with it: europe-west1-b, europe-west1-c; "
        r"set accelerator.skip_region_check = true if Google has added it$"
    )):
        _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), vm={"zones": ("europe-west1-b", "europe-west1-d")})


def test_zone_check_is_skipped_with_the_region_check(stack, naming):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4", skip_region_check=True),
                   vm={"zones": ("europe-west1-b", "europe-west1-d")})
    assert fleet.zones == ("europe-west1-b", "europe-west1-d")


# -- capacity: Spot and reservations --------------------------------------------------------------

def test_specific_reservation_affinity(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"),
           vm={"reservation": {"names": ("l4-serving", "projects/shared-capacity/reservations/l4-pool")}})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["reservation_affinity"] == {
        "type": "SPECIFIC_RESERVATION",
        "specific_reservation": {"key": "compute.googleapis.com/reservation-name",
                                 "values": ["l4-serving", "projects/shared-capacity/reservations/l4-pool"]},
    }


@pytest.mark.parametrize("consume", ["ANY_RESERVATION", "NO_RESERVATION"])
def test_any_or_no_reservation(stack, naming, consume):
    _fleet(stack, naming, vm={"reservation": {"consume": consume}})
    assert only_resource(synth(stack), "google_compute_instance_template")["reservation_affinity"] == {"type": consume}


def test_no_reservation_affinity_by_default(stack, naming):
    _fleet(stack, naming)
    assert "reservation_affinity" not in only_resource(synth(stack), "google_compute_instance_template")


def test_spot_vms_that_never_consume_reservations(stack, naming):
    _fleet(stack, naming, vm={"spot": True, "reservation": {"consume": "NO_RESERVATION"}})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["scheduling"]["provisioning_model"] == "SPOT"
    assert template["reservation_affinity"] == {"type": "NO_RESERVATION"}


# -- model weights: downloaded to local disk before the server starts ------------------------------

def test_gpu_model_downloads_its_files_to_the_boot_disk_and_gets_model_dir(stack, naming):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), model_source=MODEL_SOURCE)
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert fleet.model_dir == "/models"
    assert _env(template).startswith("PORT=8080\nMODEL_URI=gs://ml-test-models/llama/v3\nMODEL_DIR=/models\n")
    files = _files(template)
    download = files["/etc/model-server/download.sh"]
    assert "source=gs://ml-test-models/llama/v3\ntarget=/var/lib/model-server/models\n" in download
    assert ("docker run --rm --network host --volume \"$target\":/models gcr.io/google.com/cloudsdktool/google-cloud-cli:slim \\\n"
            "      gcloud storage rsync --recursive --delete-unmatched-destination-objects \"$source\" /models") in download
    assert "${" not in download
    unit = files["/etc/systemd/system/model-download.service"]
    assert "Type=oneshot\n" in unit and "ExecStart=/bin/bash /etc/model-server/download.sh\n" in unit
    server = files["/etc/systemd/system/model-server.service"]
    assert "Requires=model-host-setup.service model-download.service\n" in server
    assert "  --volume /var/lib/model-server/models:/models:ro \\\n" in files["/etc/model-server/run.sh"]
    assert len(template["disk"]) == 1


def test_download_to_a_local_ssd(stack, naming):
    _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), model_source=MODEL_SOURCE,
           vm={"model_download": {"disk": "local-ssd", "cli_image": "gcr.io/google.com/cloudsdktool/google-cloud-cli:520.0.0-slim"}})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["disk"][1] == {
        "type": "SCRATCH", "disk_type": "local-ssd", "interface": "NVME", "disk_size_gb": 375, "auto_delete": True, "labels": LABELS,
    }
    files = _files(template)
    download = files["/etc/model-server/download.sh"]
    assert "target=/mnt/disks/models\ndisk=/dev/disk/by-id/google-local-nvme-ssd-0\n" in download
    assert 'blkid "$disk" >/dev/null || mkfs.ext4 -F -q "$disk"' in download
    assert "google-cloud-cli:520.0.0-slim" in download
    assert "  --volume /mnt/disks/models:/models:ro \\\n" in files["/etc/model-server/run.sh"]


def test_cpu_model_reads_model_uri_itself_unless_asked_to_download(stack, naming):
    network = _network(stack, naming)
    plain = _fleet(stack, naming, network=network, model_source=MODEL_SOURCE)
    downloading = _fleet(stack, naming, network=network, id_="other", name="other", model_source=MODEL_SOURCE,
                         vm={"model_download": {"enabled": True}})
    result = synth(stack)
    assert plain.model_dir is None
    assert "MODEL_DIR" not in _env(resource_by_path(result, "google_compute_instance_template", "llama-europe-west1/template"))
    assert downloading.model_dir == "/models"
    files = _files(resource_by_path(result, "google_compute_instance_template", "other/template"))
    assert "/etc/model-server/download.sh" in files
    assert "Requires=model-download.service\n" in files["/etc/systemd/system/model-server.service"]


def test_gpu_model_without_a_model_store_downloads_nothing(stack, naming):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"))
    assert fleet.model_dir is None
    assert "/etc/model-server/download.sh" not in _files(only_resource(synth(stack), "google_compute_instance_template"))


def test_fails_when_download_is_asked_for_without_a_model_store(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^vm.model_download.enabled = True: needs a model store: the files are copied from MODEL_URI"):
        _fleet(stack, naming, vm={"model_download": {"enabled": True}})


# -- request-rate: the backend balances by RATE at the target ------------------------------------

def test_request_rate_model_is_balanced_by_rate_at_its_target(stack, naming):
    fleet = _fleet(stack, naming, scaling={"signal": "request-rate", "target": 25})
    [block] = fleet.backend_blocks(BackendServiceSpec(), "backend_services[llama]")
    assert (block.balancing_mode, block.max_rate_per_instance, block.max_utilization) == ("RATE", 25, None)


def test_request_rate_keeps_an_explicit_rate(stack, naming):
    fleet = _fleet(stack, naming, scaling={"signal": "request-rate"})
    [block] = fleet.backend_blocks(BackendServiceSpec(balancing_mode="RATE", max_rate_per_instance=40), "backend_services[llama]")
    assert (block.balancing_mode, block.max_rate_per_instance) == ("RATE", 40)


def test_other_signals_keep_utilization_balancing(stack, naming):
    fleet = _fleet(stack, naming)
    [block] = fleet.backend_blocks(BackendServiceSpec(), "backend_services[llama]")
    assert (block.balancing_mode, block.max_rate_per_instance, block.max_utilization) == ("UTILIZATION", None, 0.8)


def test_named_port_health_check_and_timing_options(stack, naming):
    _fleet(stack, naming, port=9000, health_path="/v1/ready", startup_timeout_sec=1200, vm={
        "port_name": "grpc-web", "wait_for_instances": True,
        "health_check": AutohealSpec(check_interval_sec=15, timeout_sec=10, healthy_threshold=1, unhealthy_threshold=5),
    })
    result = synth(stack)
    group = only_resource(result, "google_compute_region_instance_group_manager")
    assert group["named_port"] == [{"name": "grpc-web", "port": 9000}]
    assert group["auto_healing_policies"]["initial_delay_sec"] == 1200
    assert group["wait_for_instances"] is True
    check = only_resource(result, "google_compute_health_check")
    assert check["http_health_check"] == {"port": 9000, "request_path": "/v1/ready"}
    assert (check["check_interval_sec"], check["timeout_sec"], check["healthy_threshold"], check["unhealthy_threshold"]) == (15, 10, 1, 5)


def test_port_the_network_does_not_admit_gets_a_health_check_rule_on_the_fleet_tag(stack, naming):
    fleet = _fleet(stack, naming, port=9000)
    rule = resource_by_path(synth(stack), "google_compute_firewall", "network/allow-health-checks-9000")
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["9000"]}]
    assert rule["target_tags"] == ["model-server"]
    assert rule["source_ranges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert fleet.health_check_rule is not None
    assert fleet.admits_health_checks(9000)


def test_serving_port_from_the_network_needs_no_extra_rule(stack, naming):
    network = _network(stack, naming, serving_port=8500)
    fleet = _fleet(stack, naming, network=network)
    assert fleet.port == 8500 and fleet.health_check_rule is None
    assert len(resources(synth(stack), "google_compute_firewall")) == 1


def test_two_regions_share_one_rule_for_a_custom_port(stack, naming):
    network = _network(stack, naming, regions=("europe-west1", "us-central1"))
    first = _fleet(stack, naming, network=network, port=9000)
    second = _fleet(stack, naming, network=network, port=9000, region="us-central1", id_="llama-us-central1")
    assert first.health_check_rule is not None and second.health_check_rule is None


def test_update_policy_options(stack, naming):
    _fleet(stack, naming, vm={"update_policy": UpdatePolicySpec(
        type="OPPORTUNISTIC", minimal_action="RESTART", replacement_method="RECREATE", max_surge_fixed=0, max_unavailable_fixed=3,
    )})
    policy = only_resource(synth(stack), "google_compute_region_instance_group_manager")["update_policy"]
    assert policy == {
        "type": "OPPORTUNISTIC", "minimal_action": "RESTART", "replacement_method": "RECREATE",
        "max_surge_fixed": 0, "max_unavailable_fixed": 3, "instance_redistribution_type": "PROACTIVE",
    }


def test_canary_version_runs_a_percentage_from_its_own_template(stack, naming):
    fleet = _fleet(stack, naming, vm={"canary": VmCanarySpec(percent=20, image=IMAGE.replace("1.4.0", "1.5.0-rc1"))})
    result = synth(stack)
    canary = resource_by_path(result, "google_compute_instance_template", "llama-europe-west1/canary-template")
    stable = resource_by_path(result, "google_compute_instance_template", "llama-europe-west1/template")
    assert canary["name_prefix"] == "ml-test-llama-europe-west1-canary-"
    assert canary["lifecycle"] == {"create_before_destroy": True}
    assert _run(canary).endswith("  europe-docker.pkg.dev/test-project-123/serving/server:1.5.0-rc1\n")
    assert _run(stable).endswith(f"  {IMAGE}\n")
    versions = only_resource(result, "google_compute_region_instance_group_manager")["version"]
    assert versions[0] == {"name": "stable", "instance_template": "${google_compute_instance_template.llama-europe-west1_template_51AD2CDB.self_link_unique}"}
    assert versions[1]["name"] == "canary"
    assert versions[1]["target_size"] == {"percent": 20}
    assert versions[1]["instance_template"].endswith(".self_link_unique}")
    assert fleet.canary_template is not None


def test_canary_with_boot_image_in_startup_script_mode(stack, naming):
    _fleet(stack, naming, image=None, vm={
        "startup_script": "#!/bin/bash\n", "canary": VmCanarySpec(percent=0, boot_image="debian-cloud/debian-13"),
    })
    canary = resource_by_path(synth(stack), "google_compute_instance_template", "llama-europe-west1/canary-template")
    assert canary["disk"][0]["source_image"] == "debian-cloud/debian-13"
    assert canary["metadata"]["startup-script"] == "#!/bin/bash\n"


# -- identity -------------------------------------------------------------------------------------

def test_existing_service_account_email_creates_no_identity(stack, naming):
    fleet = _fleet(stack, naming, identity=SA_EMAIL)
    result = synth(stack)
    assert resources(result, "google_service_account") == {}
    assert resources(result, "google_project_iam_member") == {}
    assert only_resource(result, "google_compute_instance_template")["service_account"]["email"] == SA_EMAIL
    assert fleet.identity is None
    assert fleet.service_account_email == SA_EMAIL
    assert fleet.iam_member == f"serviceAccount:{SA_EMAIL}"


def test_one_identity_shared_by_the_regions_of_a_model(stack, naming):
    network = _network(stack, naming, regions=("europe-west1", "us-central1"))
    identity = fleet_identity(stack, "llama-identity", naming=naming, model=_model())
    fleets = [
        _fleet(stack, naming, network=network, region=region, id_=f"llama-{region}", identity=identity)
        for region in ("europe-west1", "us-central1")
    ]
    result = synth(stack)
    assert only_resource(result, "google_service_account")["account_id"] == "ml-test-llama"
    assert len(resources(result, "google_project_iam_member")) == 3
    emails = {t["service_account"]["email"] for t in resources(result, "google_compute_instance_template").values()}
    assert emails == {"${google_service_account.llama-identity_default_00C736E9.email}"}
    assert all(f.identity is identity for f in fleets)


def test_identity_roles_and_account_id_come_from_the_model(stack, naming):
    model = _model(vm={"account_id": "llama-servers",
                       "roles": ("roles/logging.logWriter", "projects/test-project-123/roles/modelReader")})
    identity = fleet_identity(stack, "identity", naming=naming, model=model)
    result = synth(stack)
    assert only_resource(result, "google_service_account")["account_id"] == "llama-servers"
    bindings = resources(result, "google_project_iam_member")
    assert sorted(b["role"] for b in bindings.values()) == ["projects/test-project-123/roles/modelReader", "roles/logging.logWriter"]
    assert set(identity.role_bindings) == {"roles/logging.logWriter", "projects/test-project-123/roles/modelReader"}


def test_identity_bindings_go_to_the_accounts_project(stack):
    ServiceIdentity(stack, "identity", account_id="llama-servers", display_name="llama", description="llama servers",
                    roles=("roles/logging.logWriter",), project="other-project-1")
    result = synth(stack)
    assert only_resource(result, "google_service_account")["project"] == "other-project-1"
    assert {b["project"] for b in resources(result, "google_project_iam_member").values()} == {"other-project-1"}


def test_derived_account_id_is_cut_to_30_characters_deterministically(naming):
    long_id = derived_account_id(naming, "sentiment-classifier", region_code("northamerica-northeast1"))
    assert len(long_id) == 30
    assert long_id.startswith("ml-test-sentiment-classi")
    assert long_id == derived_account_id(naming, "sentiment-classifier", region_code("northamerica-northeast1"))
    assert derived_account_id(naming, "sentiment-classifier", region_code("europe-west1")) != long_id


@pytest.mark.parametrize(("region", "code"), [
    ("europe-west1", "euw1"), ("us-central1", "usc1"), ("northamerica-northeast1", "nane1"),
    ("asia-southeast2", "asse2"), ("me-central2", "mec2"), ("southamerica-west1", "saw1"),
])
def test_region_code(region, code):
    assert region_code(region) == code


def test_fails_when_identity_roles_repeat(stack):
    with pytest.raises(ConfigurationError, match=r"each role may be listed once; repeated: roles/logging.logWriter"):
        ServiceIdentity(stack, "identity", account_id="llama-servers", display_name="llama", description="llama servers",
                        roles=("roles/logging.logWriter",) * 2)


@pytest.mark.parametrize("email", [
    "123456789012-compute@developer.gserviceaccount.com",
    "test-project-123@appspot.gserviceaccount.com",
])
def test_fails_when_identity_is_a_default_service_account(stack, naming, email):
    with pytest.raises(ConfigurationError, match=r"identity = .*: default service accounts are shared and over-privileged"):
        _fleet(stack, naming, identity=email)


def test_fails_when_identity_is_not_an_email(stack, naming):
    with pytest.raises(ConfigurationError, match=r"identity = 'llama': must be a service account email"):
        _fleet(stack, naming, identity="llama")


# -- group size: target_size or an autoscaler -----------------------------------------------------

def test_fails_when_group_has_neither_target_size_nor_autoscaler(stack, naming):
    fleet = _fleet(stack, naming, vm={"target_size": None})
    errors = fleet.node.validate()
    assert len(errors) == 1
    assert "vm.target_size = None: fleet test/llama-europe-west1 has neither target_size nor a FleetAutoscaler" in errors[0]
    with pytest.raises(RuntimeError, match=r"vm.target_size = None: fleet test/llama-europe-west1 has neither"):
        Testing.synth(stack, True)  # what `cdktf synth` / app.synth() runs


def test_autoscaler_sizes_the_group(stack, naming):
    fleet = _fleet(stack, naming, vm={"target_size": None})
    autoscaler = FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet)
    assert fleet.node.validate() == []
    assert fleet.autoscaler is autoscaler
    assert "target_size" not in only_resource(synth(stack), "google_compute_region_instance_group_manager")


def test_fails_when_group_has_both_target_size_and_autoscaler(stack, naming):
    fleet = _fleet(stack, naming, vm={"target_size": 3})
    FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet)
    assert "vm.target_size = 3: fleet test/llama-europe-west1 has a FleetAutoscaler; leave target_size unset" in fleet.node.validate()[0]


# -- snapshots ------------------------------------------------------------------------------------

def test_snapshot_cpu_fleet_with_autoscaler(stack, naming, snapshot_json):
    fleet = _fleet(stack, naming, vm={"target_size": None}, model_source=MODEL_SOURCE,
                   cache=CacheConnection(endpoint_secret="projects/test-project-123/secrets/ml-test-cache-endpoint/versions/latest",
                                         auth_secret="projects/test-project-123/secrets/ml-test-cache-auth/versions/1", tls=True))
    FleetAutoscaler(stack, "llama-europe-west1-autoscaler", fleet=fleet,
                    spec=ScalingSpec(min_replicas=1, max_replicas=10, cpu_target=0.6))
    assert fleet.node.validate() == []
    assert _fleet_only(synth(stack)) == snapshot_json


def test_snapshot_gpu_fleet(stack, naming, snapshot_json):
    fleet = _fleet(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"), model_source=MODEL_SOURCE,
                   vm={"target_size": None, "machine_type": "g2-standard-8", "spot": False})
    FleetAutoscaler(stack, "llama-europe-west1-autoscaler", fleet=fleet)
    assert _fleet_only(synth(stack)) == snapshot_json


# -- construction-time rules (spec rules: tests/constructs_lib/specs/test_model_spec.py) ----------

def test_fails_when_gpu_is_not_offered_in_the_region(stack, naming):
    network = _network(stack, naming, regions=("africa-south1",))
    with pytest.raises(ConfigurationError, match=(
        r"^region = 'africa-south1': nvidia-l4 is not offered there .*; set accelerator.skip_region_check = true"
    )):
        _fleet(stack, naming, network=network, region="africa-south1", accelerator=AcceleratorSpec(type="nvidia-l4"),
               vm={"machine_type": "g2-standard-8"})


def test_gpu_region_check_can_be_skipped(stack, naming):
    network = _network(stack, naming, regions=("africa-south1",))
    _fleet(stack, naming, network=network, region="africa-south1",
           accelerator=AcceleratorSpec(type="nvidia-l4", skip_region_check=True), vm={"machine_type": "g2-standard-8"})
    assert only_resource(synth(stack), "google_compute_instance_template")["guest_accelerator"] == [{"type": "nvidia-l4", "count": 1}]


def test_fails_when_zone_is_not_in_the_region(stack, naming):
    with pytest.raises(ConfigurationError, match=r"vm.zones\[1\] = 'us-central1-a': not a zone of europe-west1; allowed: europe-west1-b"):
        _fleet(stack, naming, vm={"zones": ("europe-west1-b", "us-central1-a")})


def test_fails_when_region_has_no_subnet(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^region = 'us-central1': must be among the network's regions \(europe-west1\)$"):
        _fleet(stack, naming, region="us-central1")


def test_fails_when_region_is_unknown(stack, naming):
    with pytest.raises(ConfigurationError, match=r"region = 'europe-west99': unknown Google Cloud region"):
        _fleet(stack, naming, region="europe-west99")


def test_fails_when_model_runs_on_gke(stack, naming):
    with pytest.raises(ConfigurationError, match=(
        r"^models\[llama\].runtime = 'gke': VM fleets serve models with runtime = 'vm'; a GKE model runs as a ModelWorkload$"
    )):
        _fleet(stack, naming, runtime="gke")


def test_fails_when_surge_is_below_the_zone_count(stack, naming):
    with pytest.raises(ConfigurationError, match=r"vm.update_policy.max_surge_fixed = 1: a regional group over 3 zones needs 0 or at least 3"):
        _fleet(stack, naming, vm={"update_policy": UpdatePolicySpec(max_surge_fixed=1)})


def test_fails_when_unavailable_is_below_the_zone_count(stack, naming):
    with pytest.raises(ConfigurationError, match=r"vm.update_policy.max_unavailable_fixed = 2: a regional group over 3 zones needs 0 or at least 3"):
        _fleet(stack, naming, vm={"update_policy": UpdatePolicySpec(max_unavailable_fixed=2)})


def test_fails_when_surge_and_unavailable_are_both_zero(stack, naming):
    with pytest.raises(ConfigurationError, match=r"max_surge_fixed and max_unavailable_fixed cannot both be 0"):
        _fleet(stack, naming, vm={"update_policy": UpdatePolicySpec(max_surge_fixed=0)})


def test_fails_when_recreate_has_surge(stack, naming):
    with pytest.raises(ConfigurationError, match=r"vm.update_policy.max_surge_fixed = 3: must be 0 when replacement_method is RECREATE"):
        _fleet(stack, naming, vm={"update_policy": UpdatePolicySpec(replacement_method="RECREATE")})
