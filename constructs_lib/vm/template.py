"""The instance template of a VM fleet: the hardened VM a model server runs on.

``instance_template(...)`` creates one ``google_compute_instance_template``: global, named by
``name_prefix`` with ``create_before_destroy`` so a changed template is created before the old
one is removed and the group always has a valid template (the global resource is what the
anchors use and what checkov's CKV_GCP_30/32/34/35/39/40 recognise; a regional MIG accepts it).
Hardened: Shielded VM (secure boot, vTPM, integrity monitoring), OS Login, project SSH keys
blocked, serial port off, no external IP, a dedicated service account, GPUs with
``on_host_maintenance = TERMINATE``. Capacity: ``vm.spot`` (Spot provisioning, preempted VMs
deleted and recreated by the group), ``vm.reservation`` (``reservation_affinity``) and, for
``vm.model_download.disk = "local-ssd"``, one NVMe local SSD for the model files.

How the server starts is ``constructs_lib.vm.runner``'s concern: this module writes the
metadata the runner returns.
"""

from __future__ import annotations

from typing import Any, Sequence

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from constructs_lib._google import compute_instance_template
from constructs_lib.specs.model import ModelSpec
from constructs_lib.specs.reservation import RESERVATION_KEY


def instance_template(
    scope: Construct,
    id_: str,
    *,
    model: ModelSpec,
    region: str,
    name_prefix: str,
    subnet: str,
    network_tags: Sequence[str],
    service_account_email: str,
    metadata: dict[str, str],
    boot_image: str,
    labels: dict[str, str],
    local_ssd: bool = False,
) -> compute_instance_template.ComputeInstanceTemplate:
    """One hardened template for ``model`` in ``region`` (see the module docstring)."""
    t = compute_instance_template
    vm = model.vm
    gpus = model.gpus_per_vm
    if vm.spot:
        scheduling = t.ComputeInstanceTemplateScheduling(
            provisioning_model="SPOT",
            preemptible=True,
            automatic_restart=False,
            on_host_maintenance="TERMINATE",
            instance_termination_action=vm.spot_termination_action,
        )
    else:
        scheduling = t.ComputeInstanceTemplateScheduling(
            provisioning_model="STANDARD",
            preemptible=False,
            automatic_restart=True,
            # VMs with GPUs cannot live-migrate.
            on_host_maintenance="TERMINATE" if gpus else "MIGRATE",
        )
    accelerator: Any = model.accelerator
    reservation = vm.reservation
    disks = [t.ComputeInstanceTemplateDisk(
        boot=True,
        auto_delete=True,
        source_image=boot_image,
        disk_size_gb=vm.boot_disk_size_gb,
        disk_type=vm.boot_disk_type,
        labels=labels,
    )]
    if local_ssd:
        # Scratch NVMe for the downloaded model files: fastest local write/read, gone with the VM.
        disks.append(t.ComputeInstanceTemplateDisk(
            type="SCRATCH", disk_type="local-ssd", interface="NVME", disk_size_gb=375, auto_delete=True, labels=labels,
        ))
    return t.ComputeInstanceTemplate(
        scope, id_,
        name_prefix=name_prefix,
        description=f"{model.name} model server in {region}",
        machine_type=model.machine_type,
        region=region,
        labels=labels,
        tags=list(network_tags),
        metadata=metadata,
        can_ip_forward=False,
        disk=disks,
        # No access_config: no external IP; egress goes through the network's Cloud NAT.
        network_interface=[t.ComputeInstanceTemplateNetworkInterface(subnetwork=subnet)],
        guest_accelerator=[t.ComputeInstanceTemplateGuestAccelerator(type=accelerator.type, count=gpus)] if gpus else None,
        scheduling=scheduling,
        reservation_affinity=t.ComputeInstanceTemplateReservationAffinity(
            type=reservation.consume,
            specific_reservation=t.ComputeInstanceTemplateReservationAffinitySpecificReservation(
                key=RESERVATION_KEY, values=list(reservation.names),
            ) if reservation.names else None,
        ) if reservation is not None else None,
        shielded_instance_config=t.ComputeInstanceTemplateShieldedInstanceConfig(
            enable_secure_boot=vm.secure_boot,
            enable_vtpm=True,
            enable_integrity_monitoring=True,
        ),
        service_account=t.ComputeInstanceTemplateServiceAccount(
            email=service_account_email,
            # Access is governed by IAM roles; the cloud-platform scope just stops scopes from
            # silently narrowing them.
            scopes=["cloud-platform"],
        ),
        lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
    )
