"""Spec of the VM-fleet runtime (``[models.vm]``): what a model's regional managed instance
groups run on and how they roll out. The model-server contract (image, port, env, health path,
accelerator) is the model's own (``specs.model``). Constructs: ``constructs_lib.vm``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import Spec, invalid
from constructs_lib.iam import AccountId, Role
from constructs_lib.machines import DEFAULT_CPU_MACHINE, MachineTypeName
from constructs_lib.naming import Labels, ResourceName
from constructs_lib.specs.reservation import ReservationSpec
from constructs_lib.values import Image, pattern_type, unique

COS_IMAGE = "cos-cloud/cos-stable"
"""Container-Optimized OS, stable channel: the default boot image of a CPU model that runs an
image (cloud-init starts it under systemd; small, locked-down, auto-updating)."""

GPU_IMAGE = "ubuntu-os-accelerator-images/ubuntu-accelerator-2404-amd64-with-nvidia-580"
"""The default boot image of a GPU model that runs an image: Ubuntu 24.04 with Canonical's
precompiled NVIDIA 580 driver, signed, so it loads with Secure Boot on. Chosen over COS because
the Ops Agent (GPU utilization for the ``gpu`` scaling signal, DCGM) runs on Ubuntu and not on
Container-Optimized OS; the price is a first-boot install of Docker, the NVIDIA container
toolkit, the Ops Agent and DCGM (skipped when the image already has them: bake one)."""

DEBIAN_IMAGE = "debian-cloud/debian-12"
"""The default boot image for startup-script mode."""

COS_PROJECTS = ("cos-cloud/", "projects/cos-cloud/")
"""Boot images from these projects are Container-Optimized OS."""


def is_cos(boot_image: str) -> bool:
    """Whether ``boot_image`` is a Container-Optimized OS image (no package manager, no Ops Agent)."""
    return boot_image.startswith(COS_PROJECTS)

DEFAULT_MACHINE_TYPE = DEFAULT_CPU_MACHINE

DEFAULT_FLEET_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/artifactregistry.reader",
)
"""Project roles a model server needs: write logs and metrics, pull its image."""

HARDENING_METADATA = {
    "enable-oslogin": "TRUE",
    "block-project-ssh-keys": "true",
    "serial-port-enable": "FALSE",
}
ENV_METADATA_KEY = "model-server-env"
RESERVED_METADATA = frozenset({
    *HARDENING_METADATA, "gce-container-declaration", "startup-script", "user-data", ENV_METADATA_KEY,
    "ssh-keys", "sshKeys", "enable-oslogin-2fa", "google-logging-enabled", "google-monitoring-enabled",
})
"""Metadata keys the fleet owns (hardening and runtime); ``metadata`` may not set them."""

MODEL_DIR = "/models"
"""Where a downloaded model is mounted (read-only) in the server container: the ``MODEL_DIR``
the server receives next to ``MODEL_URI``."""

CLI_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:slim"
"""The Google Cloud CLI image the one-shot download container runs (``gcloud storage``)."""

_METADATA_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
BootImage = pattern_type(
    re.compile(r"^(projects/)?[a-z][-a-z0-9]*[a-z0-9]/(global/images/)?(family/)?[a-z][-a-z0-9]*[a-z0-9]$"),
    "must be <project>/<image or family>, e.g. cos-cloud/cos-stable or projects/p/global/images/family/f",
)


class AutohealSpec(Spec):
    """The auto-healing HTTP health check of the group, on the model's port and health path.
    Defaults: every 10 s, 5 s timeout, healthy after 2, recreated after 3 failures (30 s)."""

    check_interval_sec: int = Field(default=10, ge=1, le=300, description="Defaults to 10 s.")
    timeout_sec: int = Field(default=5, ge=1, le=300, description="Defaults to 5 s; must be <= check_interval_sec.")
    healthy_threshold: int = Field(default=2, ge=1, le=10, description="Defaults to 2 successes.")
    unhealthy_threshold: int = Field(
        default=3, ge=1, le=10, description="Defaults to 3 failures (30 s at the default interval) before a VM is recreated."
    )

    @model_validator(mode="after")
    def _timeout(self) -> "AutohealSpec":
        if self.timeout_sec > self.check_interval_sec:
            raise ValueError(
                f"health_check.timeout_sec ({self.timeout_sec}) must be <= check_interval_sec ({self.check_interval_sec})"
            )
        return self


class UpdatePolicySpec(Spec):
    """How the group rolls out a new template."""

    type: Literal["PROACTIVE", "OPPORTUNISTIC"] = Field(
        default="PROACTIVE", description="Defaults to PROACTIVE: a template change rolls out without manual action."
    )
    minimal_action: Literal["REPLACE", "RESTART", "REFRESH", "NONE"] = Field(
        default="REPLACE", description="Defaults to REPLACE: new VMs from the new template (image and disk change too)."
    )
    replacement_method: Literal["SUBSTITUTE", "RECREATE"] = Field(
        default="SUBSTITUTE", description="Defaults to SUBSTITUTE: new VMs get new names, so surge works."
    )
    max_surge_fixed: int | None = Field(
        default=None, ge=0,
        description="Extra VMs during a rollout. Defaults to the number of zones (the minimum a regional group accepts above 0).",
    )
    max_unavailable_fixed: int = Field(
        default=0, ge=0, description="VMs that may be down during a rollout. Defaults to 0: capacity never drops."
    )


class VmCanarySpec(Spec):
    """A second version of the group that runs ``percent`` of its VMs from its own template (a
    rollout inside one region; for a traffic split between two models use ``canary_of``)."""

    percent: int = Field(default=10, ge=0, le=100, description="Share of VMs on the canary version, 0..100. Defaults to 10.")
    image: Image | None = Field(default=None, description="Container image of the canary version.")
    boot_image: BootImage | None = Field(default=None, description="Boot image of the canary version (same rule as vm.boot_image).")

    @model_validator(mode="after")
    def _something(self) -> "VmCanarySpec":
        if self.image is None and self.boot_image is None:
            raise ValueError("canary: set image and/or boot_image (what the canary version runs)")
        return self


class ModelDownloadSpec(Spec):
    """Copy the model files (``MODEL_URI``) to local disk before the server starts and mount them
    read-only into the server at ``MODEL_DIR`` (/models). Image mode only.

    Why: the weights of a GPU model are gigabytes; a one-shot ``gcloud storage rsync`` (parallel,
    sliced object downloads, the CLI's fastest path) to local disk is far faster than the server
    streaming them from Cloud Storage on every start, and the server then loads from disk."""

    enabled: bool | None = Field(
        default=None,
        description="Defaults to None: on for GPU models that have a model store (their weights are large), off for CPU "
        "models (the server reads MODEL_URI itself, as before).",
    )
    disk: Literal["boot", "local-ssd"] = Field(
        default="boot",
        description="Where the files go. Defaults to boot (the boot disk, works on every machine type; size it with "
        "boot_disk_size_gb). local-ssd: one 375 GB NVMe local SSD added to each VM, several times the boot disk's write "
        "throughput (N1, G2 and A2 high-gpu machines; A2 ultra and A3 come with their own local SSDs).",
    )
    cli_image: Image = Field(
        default=CLI_IMAGE, description=f"Image of the one-shot download container. Defaults to {CLI_IMAGE} (pin a version tag to freeze it).",
    )


class VmRuntimeSpec(Spec):
    """Where and how a VM-fleet model runs: one regional managed instance group per region."""

    machine_type: MachineTypeName | None = Field(
        default=None,
        description=f"Defaults to {DEFAULT_MACHINE_TYPE} for CPU models and to the accelerator's usual machine for GPU "
        "models (nvidia-l4: g2-standard-8, nvidia-tesla-t4: n1-standard-8, A100: a2-highgpu-1g / a2-ultragpu-1g, H100: a3-highgpu-1g).",
    )
    startup_script: str | None = Field(
        default=None, description="Run the server from this script on Debian instead of running the model's image.",
    )
    restart_policy: Literal["Always", "OnFailure", "Never"] = Field(
        default="Always",
        description="Restart policy of the server's systemd unit (Restart=always / on-failure / no). Defaults to Always: a "
        "crashed server comes back without waiting for auto-healing.",
    )
    privileged: bool = Field(
        default=False,
        description="Run the container privileged. Defaults to False; GPU models get the device access they need without it.",
    )
    boot_image: BootImage | None = Field(
        default=None,
        description=f"Defaults to {COS_IMAGE} for CPU models and {GPU_IMAGE} (signed NVIDIA driver, Ops Agent support) for "
        f"GPU models in image mode, {DEBIAN_IMAGE} in startup-script mode. A Container-Optimized OS image for a GPU model "
        "installs COS's signed driver instead, but cannot run the Ops Agent (no gpu scaling signal there).",
    )
    boot_disk_size_gb: int = Field(
        default=100, ge=10, le=65536,
        description="Defaults to 100 GB: CUDA server images are 5-15 GB and model files are downloaded to disk.",
    )
    boot_disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"] = Field(
        default="pd-balanced", description="Defaults to pd-balanced: SSD-backed at a moderate price.",
    )
    spot: bool = Field(
        default=False,
        description="Spot VMs: up to 91 % cheaper, but Compute Engine may preempt them at any time (30 s notice) and they cannot "
        "consume reservations. Defaults to False: a serving fleet's capacity should not vanish under load; use Spot for a "
        "canary or a model whose clients retry.",
    )
    spot_termination_action: Literal["STOP", "DELETE"] = Field(
        default="DELETE", description="What preemption does to a Spot VM. Defaults to DELETE: the group recreates it.",
    )
    secure_boot: bool = Field(
        default=True,
        description="Shielded VM secure boot. Defaults to True (the default GPU images load signed NVIDIA drivers); turn off "
        "only for unsigned kernel modules (vTPM and integrity monitoring stay on).",
    )
    reservation: ReservationSpec | None = Field(
        default=None,
        description="Reservations the VMs consume (reservation_affinity). Defaults to none: GCP's default, any matching reservation.",
    )
    zones: Annotated[tuple[str, ...], unique("zone")] = Field(
        default=(),
        description="Zones to spread over. Defaults to every zone of the region, for GPU models every zone that offers the "
        "accelerator (machines catalogue); a zone without it is rejected.",
    )
    distribution_target_shape: Literal["EVEN", "BALANCED", "ANY", "ANY_SINGLE_ZONE"] | None = Field(
        default=None,
        description="Defaults to BALANCED for GPU models (VMs go where the accelerator is in stock, as evenly as possible: "
        "with EVEN a zone out of stock never starts its share and rollouts stall) and EVEN otherwise (the same number of "
        "VMs per zone). An autoscaled group must be EVEN or BALANCED; a vm.canary needs EVEN.",
    )
    model_download: ModelDownloadSpec = Field(
        default_factory=ModelDownloadSpec, description="Copy the model files to local disk before the server starts (MODEL_DIR).",
    )
    port_name: ResourceName = Field(default="http", description="Named port the backend service uses. Defaults to 'http'.")
    health_check: AutohealSpec = Field(default_factory=AutohealSpec, description="Auto-healing health check timing.")
    update_policy: UpdatePolicySpec = Field(
        default_factory=UpdatePolicySpec, description="How a new template rolls out across the group (surge, unavailability, replacement method).",
    )
    canary: VmCanarySpec | None = Field(default=None, description="A canary version inside each group. Defaults to none.")
    target_size: int | None = Field(
        default=None, ge=0,
        description="Fixed group size instead of autoscaling. Defaults to None: the model's scaling sizes the group.",
    )
    wait_for_instances: bool = Field(
        default=False, description="Make apply wait until VMs are running. Defaults to False: model loading would stall apply.",
    )
    network_tags: tuple[ResourceName, ...] = Field(default=(), description="Extra network tags; the network's fleet tag is always set.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on the template and its disks.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Extra instance metadata (hardening and runtime keys are reserved).")
    roles: Annotated[tuple[Role, ...], unique("role", key=lambda role: role.rsplit("/", 1)[-1])] = Field(
        default=DEFAULT_FLEET_ROLES,
        description="Project roles of the model's service account. Defaults to log writer, metric writer, Artifact Registry reader.",
    )
    account_id: AccountId | None = Field(
        default=None, description="Id of the model's service account. Defaults to <app>-<env>-<model>.",
    )

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key in RESERVED_METADATA:
                raise invalid(f"metadata.{key}", key, f"is set by the fleet; reserved keys: {', '.join(sorted(RESERVED_METADATA))}")
            if not _METADATA_KEY_PATTERN.fullmatch(key):
                raise invalid(f"metadata.{key}", key, "metadata keys are 1-128 letters, digits, '-' and '_'")
        return value
