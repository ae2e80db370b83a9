import pytest
from cdktf import TerraformOutput, Testing
from pydantic import ValidationError

from constructs_lib.autoscaling import AutoscalingSpec, FleetAutoscaler
from constructs_lib.compute import (
    COS_GPU_DRIVER_SCRIPT,
    DEFAULT_FLEET_ROLES,
    CanarySpec,
    ContainerSpec,
    FleetIdentity,
    FleetSpec,
    GpuSpec,
    HealthCheckSpec,
    ModelServerFleet,
    UpdatePolicySpec,
    default_account_id,
    region_code,
    render_container_declaration,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import CacheConnection, InstanceGroupTarget, ModelSource
from constructs_lib.network import NetworkSpec, ServingNetwork
from tests.conftest import only_resource, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/serving/server:1.4.0"
CONTAINER = ContainerSpec(image=IMAGE)
SA_EMAIL = "llama-runner@test-project-123.iam.gserviceaccount.com"
SUBNET = "${google_compute_subnetwork.network_subnet-europe-west1_02BD014D.self_link}"
LABELS = {"app": "ml", "env": "test", "managed-by": "cdktf", "model": "llama"}


def _network(stack, naming, regions=("europe-west1",), **spec):
    return ServingNetwork(stack, "network", naming=naming, regions=list(regions), spec=NetworkSpec(**spec))


def _fleet(stack, naming, *, region="europe-west1", network=None, id_="llama-europe-west1", model="llama", **kwargs):
    wiring = {k: kwargs.pop(k) for k in ("model_source", "cache", "service_account") if k in kwargs}
    kwargs.setdefault("container", CONTAINER)
    kwargs.setdefault("target_size", 2)
    return ModelServerFleet(
        stack, id_, network=network or _network(stack, naming), naming=naming, region=region,
        model=model, spec=FleetSpec(**kwargs), **wiring,
    )


def _declaration(template):
    return template["metadata"]["gce-container-declaration"]


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
        "block-project-ssh-keys", "enable-oslogin", "gce-container-declaration",
        "google-logging-enabled", "google-monitoring-enabled", "serial-port-enable",
    ]


def test_default_container_declaration(stack, naming):
    _fleet(stack, naming)
    declaration = _declaration(only_resource(synth(stack), "google_compute_instance_template"))
    assert declaration == (
        "spec:\n"
        "  containers:\n"
        "  - name: model-server\n"
        f'    image: "{IMAGE}"\n'
        "    env:\n"
        "    - name: PORT\n"
        '      value: "8080"\n'
        "    securityContext:\n"
        "      privileged: false\n"
        "    stdin: false\n"
        "    tty: false\n"
        "  restartPolicy: Always\n"
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
    assert fleet.service_account_member == fleet.identity.member


def test_fleet_is_an_instance_group_target(stack, naming):
    fleet = _fleet(stack, naming)
    assert isinstance(fleet, InstanceGroupTarget)
    assert (fleet.port_name, fleet.port, fleet.region, fleet.network_tag) == ("http", 8080, "europe-west1", "model-server")
    assert fleet.zones == ("europe-west1-b", "europe-west1-c", "europe-west1-d")
    assert fleet.initial_delay_sec == 600
    assert fleet.name == "ml-test-llama-europe-west1"
    assert fleet.canary_template is None
    assert fleet.health_check_rule is None
    for name, value in (("ig", fleet.instance_group), ("mig", fleet.group_manager.id),
                        ("template", fleet.template.self_link_unique), ("hc", fleet.health_check.id)):
        TerraformOutput(stack, name, value=value)
    outputs = {name: body["value"] for name, body in synth(stack)["output"].items()}
    group = "google_compute_region_instance_group_manager.llama-europe-west1_group_28DBAA26"
    assert outputs == {
        "ig": f"${{{group}.instance_group}}",
        "mig": f"${{{group}.id}}",
        "template": "${google_compute_instance_template.llama-europe-west1_template_51AD2CDB.self_link_unique}",
        "hc": "${google_compute_health_check.llama-europe-west1_health-check_64EE3957.id}",
    }


# -- wiring: environment ------------------------------------------------------------------------

def test_model_source_and_cache_become_server_environment_with_secret_references_only(stack, naming):
    cache = CacheConnection(
        host="10.20.0.3", port="6378", auth_secret="projects/p/secrets/cache-auth/versions/1", tls=True,
        ca_secret="projects/p/secrets/cache-ca/versions/2", read_host="10.20.0.4",
    )
    _fleet(stack, naming, model_source=ModelSource(uri="gs://ml-test-models/llama/v3", bucket="ml-test-models"),
           cache=cache, env={"LOG_LEVEL": "info", "BATCH": "8"})
    declaration = _declaration(only_resource(synth(stack), "google_compute_instance_template"))
    env_block = declaration.split("    env:\n")[1].split("    securityContext:")[0]
    assert env_block == (
        '    - name: PORT\n      value: "8080"\n'
        '    - name: MODEL_URI\n      value: "gs://ml-test-models/llama/v3"\n'
        '    - name: CACHE_HOST\n      value: "10.20.0.3"\n'
        '    - name: CACHE_PORT\n      value: "6378"\n'
        '    - name: CACHE_READ_HOST\n      value: "10.20.0.4"\n'
        '    - name: CACHE_TLS\n      value: "true"\n'
        '    - name: CACHE_AUTH_SECRET\n      value: "projects/p/secrets/cache-auth/versions/1"\n'
        '    - name: CACHE_CA_SECRET\n      value: "projects/p/secrets/cache-ca/versions/2"\n'
        '    - name: BATCH\n      value: "8"\n'
        '    - name: LOG_LEVEL\n      value: "info"\n'
    )


def test_cache_without_tls_or_auth(stack, naming):
    _fleet(stack, naming, cache=CacheConnection(host="10.20.0.3", port="6379"))
    declaration = _declaration(only_resource(synth(stack), "google_compute_instance_template"))
    assert '- name: CACHE_TLS\n      value: "false"' in declaration
    assert "CACHE_AUTH_SECRET" not in declaration and "CACHE_READ_HOST" not in declaration


def test_terraform_tokens_pass_into_the_environment(stack, naming):
    network = _network(stack, naming)
    uri = f"gs://{network.network.name}/llama"
    _fleet(stack, naming, network=network, model_source=ModelSource(uri=uri, bucket="b"))
    declaration = _declaration(only_resource(synth(stack), "google_compute_instance_template"))
    assert '      value: "gs://${google_compute_network.network_default_09D2BCBB.name}/llama"' in declaration


def test_container_command_args_restart_policy_and_privileged(stack, naming):
    container = ContainerSpec(image=IMAGE, command=("python", "-m", "server"), args=("--model", "llama 3"),
                              restart_policy="OnFailure", privileged=True)
    _fleet(stack, naming, container=container)
    declaration = _declaration(only_resource(synth(stack), "google_compute_instance_template"))
    assert '    command:\n    - "python"\n    - "-m"\n    - "server"\n' in declaration
    assert '    args:\n    - "--model"\n    - "llama 3"\n' in declaration
    assert "      privileged: true\n" in declaration
    assert declaration.endswith("  restartPolicy: OnFailure\n")


def test_container_declaration_is_deterministic():
    kwargs = dict(image=IMAGE, env=[("PORT", "8080"), ("A", 'quote " and \\ backslash')], volumes=(("v", "/h", "/m"),))
    assert render_container_declaration(**kwargs) == render_container_declaration(**kwargs)
    assert '      value: "quote \\" and \\\\ backslash"\n' in render_container_declaration(**kwargs)


def test_startup_script_mode_uses_debian_and_publishes_the_environment(stack, naming):
    script = "#!/bin/bash\nset -e\n/opt/server/run.sh\n"
    _fleet(stack, naming, container=None, startup_script=script,
           model_source=ModelSource(uri="gs://models/llama", bucket="models"), env={"WORKERS": "2"})
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["disk"][0]["source_image"] == "debian-cloud/debian-12"
    metadata = template["metadata"]
    assert metadata["startup-script"] == script
    assert metadata["model-server-env"] == "PORT=8080\nMODEL_URI=gs://models/llama\nWORKERS=2\n"
    assert "gce-container-declaration" not in metadata
    assert metadata["enable-oslogin"] == "TRUE"


# -- options -------------------------------------------------------------------------------------

def test_gpu_fleet_attaches_l4_terminates_on_maintenance_and_installs_cos_driver(stack, naming):
    _fleet(stack, naming, machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4"))
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["guest_accelerator"] == [{"type": "nvidia-l4", "count": 1}]
    assert template["scheduling"] == {
        "provisioning_model": "STANDARD", "preemptible": False, "automatic_restart": True, "on_host_maintenance": "TERMINATE",
    }
    assert template["metadata"]["startup-script"] == COS_GPU_DRIVER_SCRIPT
    assert "cos-extensions install gpu" in COS_GPU_DRIVER_SCRIPT
    declaration = _declaration(template)
    assert "      privileged: true\n" in declaration
    assert "    - name: nvidia-lib64\n      mountPath: /usr/local/nvidia/lib64\n      readOnly: true\n" in declaration
    assert "  - name: nvidia-bin\n    hostPath:\n      path: /var/lib/nvidia/bin\n" in declaration


def test_n1_gpu_count(stack, naming):
    _fleet(stack, naming, machine_type="n1-standard-16", gpu=GpuSpec(type="nvidia-tesla-t4", count=2))
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["guest_accelerator"] == [{"type": "nvidia-tesla-t4", "count": 2}]


def test_spot_vms(stack, naming):
    _fleet(stack, naming, spot=True)
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["scheduling"] == {
        "provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False,
        "on_host_maintenance": "TERMINATE", "instance_termination_action": "DELETE",
    }


def test_spot_gpu_vms_with_stop_action(stack, naming):
    _fleet(stack, naming, machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4"), spot=True,
           spot_termination_action="STOP")
    scheduling = only_resource(synth(stack), "google_compute_instance_template")["scheduling"]
    assert scheduling["provisioning_model"] == "SPOT"
    assert scheduling["instance_termination_action"] == "STOP"
    assert scheduling["on_host_maintenance"] == "TERMINATE"


def test_boot_disk_image_tags_labels_metadata_and_secure_boot(stack, naming):
    _fleet(stack, naming, boot_image="projects/my-images/global/images/family/server", boot_disk_size_gb=200,
           boot_disk_type="pd-ssd", network_tags=("model-server", "llama"), labels={"team": "nlp"},
           metadata={"model-version": "3"}, secure_boot=False)
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["disk"][0]["source_image"] == "projects/my-images/global/images/family/server"
    assert (template["disk"][0]["disk_size_gb"], template["disk"][0]["disk_type"]) == (200, "pd-ssd")
    assert template["tags"] == ["model-server", "llama"]
    assert template["labels"] == {**LABELS, "team": "nlp"}
    assert template["metadata"]["model-version"] == "3"
    assert template["shielded_instance_config"]["enable_secure_boot"] is False
    assert template["shielded_instance_config"]["enable_vtpm"] is True


def test_zone_subset_and_other_target_shape(stack, naming):
    fleet = _fleet(stack, naming, zones=("europe-west1-b", "europe-west1-c"), distribution_target_shape="BALANCED")
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    assert group["distribution_policy_zones"] == ["europe-west1-b", "europe-west1-c"]
    assert group["distribution_policy_target_shape"] == "BALANCED"
    assert group["update_policy"]["instance_redistribution_type"] == "NONE"
    assert group["update_policy"]["max_surge_fixed"] == 2
    assert fleet.zones == ("europe-west1-b", "europe-west1-c")


def test_named_port_health_check_and_timing_options(stack, naming):
    _fleet(stack, naming, port_name="grpc-web", port=9000, initial_delay_sec=1200, wait_for_instances=True,
           health_check=HealthCheckSpec(path="/v1/ready", check_interval_sec=15, timeout_sec=10,
                                        healthy_threshold=1, unhealthy_threshold=5))
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
    _fleet(stack, naming, update_policy=UpdatePolicySpec(type="OPPORTUNISTIC", minimal_action="RESTART",
                                                         replacement_method="RECREATE", max_surge_fixed=0,
                                                         max_unavailable_fixed=3))
    policy = only_resource(synth(stack), "google_compute_region_instance_group_manager")["update_policy"]
    assert policy == {
        "type": "OPPORTUNISTIC", "minimal_action": "RESTART", "replacement_method": "RECREATE",
        "max_surge_fixed": 0, "max_unavailable_fixed": 3, "instance_redistribution_type": "PROACTIVE",
    }


def test_canary_version_runs_a_percentage_from_its_own_template(stack, naming):
    fleet = _fleet(stack, naming, canary=CanarySpec(percent=20, container_image=IMAGE.replace("1.4.0", "1.5.0-rc1")))
    result = synth(stack)
    canary = resource_by_path(result, "google_compute_instance_template", "llama-europe-west1/canary-template")
    stable = resource_by_path(result, "google_compute_instance_template", "llama-europe-west1/template")
    assert canary["name_prefix"] == "ml-test-llama-europe-west1-canary-"
    assert canary["lifecycle"] == {"create_before_destroy": True}
    assert '    image: "europe-docker.pkg.dev/test-project-123/serving/server:1.5.0-rc1"\n' in _declaration(canary)
    assert f'    image: "{IMAGE}"\n' in _declaration(stable)
    versions = only_resource(result, "google_compute_region_instance_group_manager")["version"]
    assert versions[0] == {"name": "stable", "instance_template": "${google_compute_instance_template.llama-europe-west1_template_51AD2CDB.self_link_unique}"}
    assert versions[1]["name"] == "canary"
    assert versions[1]["target_size"] == {"percent": 20}
    assert versions[1]["instance_template"].endswith(".self_link_unique}")
    assert fleet.canary_template is not None


def test_canary_with_boot_image_in_startup_script_mode(stack, naming):
    _fleet(stack, naming, container=None, startup_script="#!/bin/bash\n",
           canary=CanarySpec(percent=0, boot_image="debian-cloud/debian-13"))
    canary = resource_by_path(synth(stack), "google_compute_instance_template", "llama-europe-west1/canary-template")
    assert canary["disk"][0]["source_image"] == "debian-cloud/debian-13"


def test_existing_service_account_email_creates_no_identity(stack, naming):
    fleet = _fleet(stack, naming, service_account=SA_EMAIL)
    result = synth(stack)
    assert resources(result, "google_service_account") == {}
    assert resources(result, "google_project_iam_member") == {}
    assert only_resource(result, "google_compute_instance_template")["service_account"]["email"] == SA_EMAIL
    assert fleet.identity is None
    assert fleet.service_account_member == f"serviceAccount:{SA_EMAIL}"


def test_one_identity_shared_by_the_regions_of_a_model(stack, naming):
    network = _network(stack, naming, regions=("europe-west1", "us-central1"))
    identity = FleetIdentity(stack, "llama-identity", naming=naming, model="llama")
    fleets = [
        _fleet(stack, naming, network=network, region=region, id_=f"llama-{region}", service_account=identity)
        for region in ("europe-west1", "us-central1")
    ]
    result = synth(stack)
    assert only_resource(result, "google_service_account")["account_id"] == "ml-test-llama"
    assert len(resources(result, "google_project_iam_member")) == 3
    emails = {t["service_account"]["email"] for t in resources(result, "google_compute_instance_template").values()}
    assert emails == {"${google_service_account.llama-identity_default_00C736E9.email}"}
    assert all(f.identity is identity for f in fleets)


def test_identity_roles_and_account_id(stack, naming):
    identity = FleetIdentity(stack, "identity", naming=naming, model="llama", account_id="llama-servers",
                             roles=("roles/logging.logWriter", "projects/test-project-123/roles/modelReader"),
                             project="other-project-1")
    result = synth(stack)
    assert only_resource(result, "google_service_account")["account_id"] == "llama-servers"
    bindings = resources(result, "google_project_iam_member")
    assert sorted(b["role"] for b in bindings.values()) == ["projects/test-project-123/roles/modelReader", "roles/logging.logWriter"]
    assert {b["project"] for b in bindings.values()} == {"other-project-1"}
    assert set(identity.role_bindings) == {"roles/logging.logWriter", "projects/test-project-123/roles/modelReader"}


def test_default_account_id_is_cut_to_30_characters_deterministically(naming):
    long_id = default_account_id(naming, "sentiment-classifier", "northamerica-northeast1")
    assert len(long_id) == 30
    assert long_id.startswith("ml-test-sentiment-classi")
    assert long_id == default_account_id(naming, "sentiment-classifier", "northamerica-northeast1")
    assert default_account_id(naming, "sentiment-classifier", "europe-west1") != long_id


@pytest.mark.parametrize(("region", "code"), [
    ("europe-west1", "euw1"), ("us-central1", "usc1"), ("northamerica-northeast1", "nane1"),
    ("asia-southeast2", "asse2"), ("me-central2", "mec2"), ("southamerica-west1", "saw1"),
])
def test_region_code(region, code):
    assert region_code(region) == code


# -- group size: target_size or an autoscaler -----------------------------------------------------

def test_fails_when_group_has_neither_target_size_nor_autoscaler(stack, naming):
    fleet = _fleet(stack, naming, target_size=None)
    errors = fleet.node.validate()
    assert len(errors) == 1
    assert "target_size = None: fleet test/llama-europe-west1 has neither target_size nor a FleetAutoscaler" in errors[0]
    with pytest.raises(RuntimeError, match=r"target_size = None: fleet test/llama-europe-west1 has neither"):
        Testing.synth(stack, True)  # what `cdktf synth` / app.synth() runs


def test_autoscaler_sizes_the_group(stack, naming):
    fleet = _fleet(stack, naming, target_size=None)
    autoscaler = FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet, naming=naming)
    assert fleet.node.validate() == []
    assert fleet.autoscaler is autoscaler
    assert "target_size" not in only_resource(synth(stack), "google_compute_region_instance_group_manager")


def test_fails_when_group_has_both_target_size_and_autoscaler(stack, naming):
    fleet = _fleet(stack, naming, target_size=3)
    FleetAutoscaler(stack, "llama-autoscaler", fleet=fleet, naming=naming)
    assert "target_size = 3: fleet test/llama-europe-west1 has a FleetAutoscaler; leave target_size unset" in fleet.node.validate()[0]


# -- snapshots ------------------------------------------------------------------------------------

def test_snapshot_cpu_fleet_with_autoscaler(stack, naming, snapshot_json):
    fleet = _fleet(stack, naming, target_size=None,
                   model_source=ModelSource(uri="gs://ml-test-models/llama/v3", bucket="ml-test-models"),
                   cache=CacheConnection(host="10.20.0.3", port="6378",
                                         auth_secret="projects/test-project-123/secrets/ml-test-cache-auth/versions/1", tls=True))
    FleetAutoscaler(stack, "llama-europe-west1-autoscaler", fleet=fleet, naming=naming,
                    spec=AutoscalingSpec(min_replicas=1, max_replicas=10, cpu_target=0.6))
    assert fleet.node.validate() == []
    assert _fleet_only(synth(stack)) == snapshot_json


def test_snapshot_gpu_fleet(stack, naming, snapshot_json):
    fleet = _fleet(stack, naming, target_size=None, machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4"), spot=False,
                   model_source=ModelSource(uri="gs://ml-test-models/llama/v3", bucket="ml-test-models"))
    FleetAutoscaler(stack, "llama-europe-west1-autoscaler", fleet=fleet, naming=naming)
    assert _fleet_only(synth(stack)) == snapshot_json


# -- validation -----------------------------------------------------------------------------------

def test_fails_when_gpu_type_is_unknown():
    with pytest.raises(ValidationError, match=r"gpu.type = 'nvidia-gtx-1080': unknown GPU type"):
        FleetSpec(container=CONTAINER, machine_type="n1-standard-8", gpu=GpuSpec(type="nvidia-gtx-1080"))


def test_fails_when_gpu_is_on_a_machine_family_that_cannot_take_it():
    with pytest.raises(ValidationError, match=r"machine_type = 'n2-standard-8': cannot take nvidia-tesla-t4; use a n1-\* machine type"):
        FleetSpec(container=CONTAINER, machine_type="n2-standard-8", gpu=GpuSpec(type="nvidia-tesla-t4"))


def test_fails_when_l4_is_on_n1():
    with pytest.raises(ValidationError, match=r"machine_type = 'n1-standard-8': cannot take nvidia-l4"):
        FleetSpec(container=CONTAINER, machine_type="n1-standard-8", gpu=GpuSpec(type="nvidia-l4"))


def test_fails_when_gpu_count_is_bad():
    with pytest.raises(ValidationError, match=r"gpu.count = 3: nvidia-tesla-t4 may be attached 1, 2, 4 at a time"):
        GpuSpec(type="nvidia-tesla-t4", count=3)


def test_fails_when_gpu_count_does_not_match_the_machine_type():
    with pytest.raises(ValidationError, match=r"gpu.count = 4: g2-standard-8 comes with exactly 1 x nvidia-l4"):
        FleetSpec(container=CONTAINER, machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4", count=4))


def test_fails_when_accelerator_optimized_machine_has_no_gpu():
    with pytest.raises(ValidationError, match=r"machine_type = 'a2-highgpu-1g': is accelerator-optimized"):
        FleetSpec(container=CONTAINER, machine_type="a2-highgpu-1g")


def test_fails_when_gpu_is_not_offered_in_the_region(stack, naming):
    network = _network(stack, naming, regions=("africa-south1",))
    with pytest.raises(ConfigurationError, match=r"region = 'africa-south1': nvidia-l4 is not offered there"):
        _fleet(stack, naming, network=network, region="africa-south1", machine_type="g2-standard-8", gpu=GpuSpec(type="nvidia-l4"))


def test_gpu_region_check_can_be_skipped(stack, naming):
    network = _network(stack, naming, regions=("africa-south1",))
    _fleet(stack, naming, network=network, region="africa-south1", machine_type="g2-standard-8",
           gpu=GpuSpec(type="nvidia-l4", skip_region_check=True))
    assert only_resource(synth(stack), "google_compute_instance_template")["guest_accelerator"] == [{"type": "nvidia-l4", "count": 1}]


def test_fails_when_machine_type_is_bad():
    with pytest.raises(ValidationError, match=r"machine_type = 'n2 standard 4': must be a Compute Engine machine type"):
        FleetSpec(container=CONTAINER, machine_type="n2 standard 4")


def test_fails_when_zone_is_not_in_the_region(stack, naming):
    with pytest.raises(ConfigurationError, match=r"spec.zones\[1\] = 'us-central1-a': not a zone of europe-west1; allowed: europe-west1-b"):
        _fleet(stack, naming, zones=("europe-west1-b", "us-central1-a"))


def test_fails_when_zones_repeat():
    with pytest.raises(ValidationError, match=r"each zone may be listed once; repeated: europe-west1-b"):
        FleetSpec(container=CONTAINER, zones=("europe-west1-b", "europe-west1-b"))


def test_fails_when_region_has_no_subnet(stack, naming):
    with pytest.raises(ConfigurationError, match=r"region = 'us-central1': the network has no subnet there; its regions: europe-west1"):
        _fleet(stack, naming, region="us-central1")


def test_fails_when_region_is_unknown(stack, naming):
    with pytest.raises(ConfigurationError, match=r"region = 'europe-west99': unknown Google Cloud region"):
        _fleet(stack, naming, region="europe-west99")


def test_fails_when_model_is_not_a_name_part(stack, naming):
    with pytest.raises(ConfigurationError, match=r"model = 'Llama_3'"):
        _fleet(stack, naming, model="Llama_3")


@pytest.mark.parametrize("percent", [-1, 101])
def test_fails_when_canary_percent_is_outside_0_100(percent):
    with pytest.raises(ValidationError, match=rf"canary.percent = {percent}: must be between 0 and 100"):
        CanarySpec(percent=percent, container_image=IMAGE)


def test_fails_when_canary_changes_nothing():
    with pytest.raises(ValidationError, match=r"canary: set container_image and/or boot_image"):
        CanarySpec(percent=10)


def test_fails_when_canary_image_is_given_in_startup_script_mode():
    with pytest.raises(ValidationError, match=r"canary.container_image = .*: needs container mode"):
        FleetSpec(startup_script="#!/bin/bash\n", canary=CanarySpec(container_image=IMAGE))


@pytest.mark.parametrize("name", ["HTTP", "http_alt", "-http", "8080", "a" * 64])
def test_fails_when_named_port_is_not_a_valid_name(name):
    with pytest.raises(ValidationError, match=r"port_name = .*: must match \^\[a-z\]"):
        FleetSpec(container=CONTAINER, port_name=name)


def test_fails_when_neither_or_both_runtimes_are_given():
    with pytest.raises(ValidationError, match=r"set exactly one of container \(image on Container-Optimized OS\) or startup_script"):
        FleetSpec()
    with pytest.raises(ValidationError, match=r"set exactly one of container"):
        FleetSpec(container=CONTAINER, startup_script="#!/bin/bash\n")


def test_fails_when_container_image_is_malformed():
    with pytest.raises(ValidationError, match=r"container.image = 'Server Image': must be a container image reference"):
        ContainerSpec(image="Server Image")


def test_fails_when_env_overrides_the_wiring():
    with pytest.raises(ValidationError, match=r"env.CACHE_AUTH_SECRET = 'CACHE_AUTH_SECRET': is set by the fleet from its wiring"):
        FleetSpec(container=CONTAINER, env={"CACHE_AUTH_SECRET": "hunter2"})


def test_fails_when_env_name_is_invalid():
    with pytest.raises(ValidationError, match=r"env.1BAD = '1BAD': must be an environment variable name"):
        FleetSpec(container=CONTAINER, env={"1BAD": "x"})


@pytest.mark.parametrize("key", ["enable-oslogin", "block-project-ssh-keys", "serial-port-enable", "startup-script", "ssh-keys"])
def test_fails_when_metadata_overrides_hardening_or_runtime_keys(key):
    with pytest.raises(ValidationError, match=rf"metadata.{key} = '{key}': is set by the fleet"):
        FleetSpec(container=CONTAINER, metadata={key: "x"})


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer"])
def test_fails_when_roles_include_a_primitive_role(role):
    with pytest.raises(ValidationError, match=rf"roles\[1\] = '{role}': primitive roles .* are not allowed"):
        FleetSpec(container=CONTAINER, roles=("roles/logging.logWriter", role))


def test_fails_when_account_id_is_invalid():
    with pytest.raises(ValidationError, match=r"account_id = 'short': must be 6-30 characters"):
        FleetSpec(container=CONTAINER, account_id="short")


def test_fails_when_identity_roles_repeat(stack, naming):
    with pytest.raises(ConfigurationError, match=r"each role may be listed once; repeated: logging.logWriter"):
        FleetIdentity(stack, "identity", naming=naming, model="llama", roles=("roles/logging.logWriter",) * 2)


@pytest.mark.parametrize("email", [
    "123456789012-compute@developer.gserviceaccount.com",
    "test-project-123@appspot.gserviceaccount.com",
])
def test_fails_when_service_account_is_a_default_one(stack, naming, email):
    with pytest.raises(ConfigurationError, match=r"service_account = .*: default service accounts are shared and over-privileged"):
        _fleet(stack, naming, service_account=email)


def test_fails_when_service_account_is_not_an_email(stack, naming):
    with pytest.raises(ConfigurationError, match=r"service_account = 'llama': must be a service account email"):
        _fleet(stack, naming, service_account="llama")


def test_fails_when_health_check_timeout_exceeds_interval():
    with pytest.raises(ValidationError, match=r"health_check.timeout_sec \(20\) must be <= check_interval_sec \(10\)"):
        HealthCheckSpec(timeout_sec=20)


def test_fails_when_health_check_path_is_relative():
    with pytest.raises(ValidationError, match=r"health_check.path = 'healthz': must be an absolute request path"):
        HealthCheckSpec(path="healthz")


def test_fails_when_boot_image_is_malformed():
    with pytest.raises(ValidationError, match=r"boot_image = 'cos-stable': must be <project>/<image or family>"):
        FleetSpec(container=CONTAINER, boot_image="cos-stable")


def test_fails_when_surge_is_below_the_zone_count(stack, naming):
    with pytest.raises(ConfigurationError, match=r"spec.update_policy.max_surge_fixed = 1: a regional group over 3 zones needs 0 or at least 3"):
        _fleet(stack, naming, update_policy=UpdatePolicySpec(max_surge_fixed=1))


def test_fails_when_surge_and_unavailable_are_both_zero(stack, naming):
    with pytest.raises(ConfigurationError, match=r"max_surge_fixed and max_unavailable_fixed cannot both be 0"):
        _fleet(stack, naming, update_policy=UpdatePolicySpec(max_surge_fixed=0))


def test_fails_when_recreate_has_surge(stack, naming):
    with pytest.raises(ConfigurationError, match=r"max_surge_fixed = 3: must be 0 when replacement_method is RECREATE"):
        _fleet(stack, naming, update_policy=UpdatePolicySpec(replacement_method="RECREATE"))


def test_fails_when_spec_has_an_unknown_key():
    with pytest.raises(ValidationError, match=r"preemptible"):
        FleetSpec(container=CONTAINER, preemptible=True)


@pytest.mark.parametrize("name", ["DB_PASSWORD", "HF_TOKEN", "OPENAI_API_KEY", "client_secret"])
def test_fails_when_a_secret_named_variable_holds_a_literal(name):
    with pytest.raises(ValidationError, match=rf"env.{name} = '<hidden>': looks like a secret"):
        FleetSpec(container=ContainerSpec(image="us-docker.pkg.dev/p/r/s:1"), env={name: "hunter2"})


def test_secret_named_variable_may_hold_a_secret_manager_version():
    spec = FleetSpec(container=ContainerSpec(image="us-docker.pkg.dev/p/r/s:1"),
                     env={"HF_TOKEN": "projects/p/secrets/hf-token/versions/3"})
    assert spec.env["HF_TOKEN"].endswith("/versions/3")
