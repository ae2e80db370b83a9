"""``ModelServerFleet``: one model's servers in one region, as a regional managed instance group.

Shape: one construct per model per region (a stack loops over its regions). The load balancer
needs one ``InstanceGroupTarget`` per region, every regional resource (MIG, health check,
autoscaler, subnet) is per region anyway, and a per-region construct keeps each region's
Terraform addresses independent (adding a region never touches another region's resources).
What is shared across regions - the model's service account - is its own construct,
``FleetIdentity``: create it once per model and pass it to each region's fleet; without one,
each fleet creates its own (``<fleet id>/identity``).

Resources per fleet:

* ``google_compute_instance_template`` (``template``; ``canary-template`` with a canary):
  global, named by ``name_prefix`` with ``create_before_destroy`` so a changed template is
  created before the old one is removed and the group always has a valid template. The
  global resource (not ``google_compute_region_instance_template``) is what the anchors use
  and what scanners (checkov CKV_GCP_30/32/34/35/39/40) recognise; a regional MIG accepts it.
  Hardened: Shielded VM (secure boot, vTPM, integrity monitoring), OS Login, project SSH keys
  blocked, serial port off, no external IP, dedicated service account, GPUs with
  ``on_host_maintenance = TERMINATE``.
* ``google_compute_health_check`` (``health-check``): HTTP on the serving port, for auto-healing.
* ``google_compute_region_instance_group_manager`` (``group``): zones spread EVEN, named port,
  auto-healing with a long initial delay (model loading), proactive rolling updates with surge.
* a health-check firewall rule on ``network`` when the network does not admit the serving
  port yet (``network.allow_health_checks``): the group would otherwise never turn healthy.

Runtime modes: a container on Container-Optimized OS (``gce-container-declaration``; the
container runs with host networking, so it listens on ``PORT`` directly) or a startup script
on Debian (the environment is in the ``model-server-env`` metadata attribute as KEY=value lines).
With GPUs, container mode installs COS's signed NVIDIA driver (``cos-extensions``) and mounts it
into a privileged container; in startup-script mode the script or the boot image (e.g. a Deep
Learning VM image) must provide the driver (unsigned drivers need ``secure_boot=False``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal, Sequence

import jsii
from cdktf import TerraformResourceLifecycle
from constructs import Construct, IValidation
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    compute_health_check,
    compute_instance_template,
    compute_region_instance_group_manager,
    project_iam_member,
    service_account as google_service_account,
)
from constructs_lib.errors import ConfigurationError, invalid
from constructs_lib.gpus import (
    check_gpu_count,
    check_gpu_region,
    check_machine_without_gpu,
    gpu_type,
    parse_machine_type,
    resolve_gpu_count,
)
from constructs_lib.iam import check_account_id, check_role, check_service_account_email, service_account_member
from constructs_lib.interfaces import CacheConnection, ModelSource
from constructs_lib.naming import NAME_PATTERN, NAME_RULE, Labels, Naming, check_name, check_name_part
from constructs_lib.network import ServingNetwork
from constructs_lib.regions import check_region, check_zone, zones_of

COS_IMAGE = "cos-cloud/cos-stable"
"""Container-Optimized OS, stable channel: the default boot image for container mode."""

DEBIAN_IMAGE = "debian-cloud/debian-12"
"""The default boot image for startup-script mode."""

DEFAULT_FLEET_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/artifactregistry.reader",
)
"""Project roles a model server needs: write logs and metrics, pull its image."""

CONTAINER_NAME = "model-server"
ENV_METADATA_KEY = "model-server-env"

SERVER_ENV_NAMES = frozenset({
    "PORT", "MODEL_URI", "CACHE_HOST", "CACHE_PORT", "CACHE_READ_HOST", "CACHE_TLS",
    "CACHE_AUTH_SECRET", "CACHE_CA_SECRET",
})
"""Variables the fleet sets from its wiring; ``FleetSpec.env`` may not override them."""

HARDENING_METADATA = {
    "enable-oslogin": "TRUE",
    "block-project-ssh-keys": "true",
    "serial-port-enable": "FALSE",
}
RESERVED_METADATA = frozenset({
    *HARDENING_METADATA, "gce-container-declaration", "startup-script", "user-data", ENV_METADATA_KEY,
    "ssh-keys", "sshKeys", "enable-oslogin-2fa",
})
"""Metadata keys the fleet owns (hardening and runtime); ``FleetSpec.metadata`` may not set them."""

COS_GPU_DRIVER_SCRIPT = """#!/bin/bash
# Install the NVIDIA driver built for this Container-Optimized OS release (signed, so it loads
# with Secure Boot) and make it executable for the model-server container (mounted read-only
# at /usr/local/nvidia). The container restarts until the driver is present.
set -euo pipefail
cos-extensions install gpu
mount --bind /var/lib/nvidia /var/lib/nvidia
mount -o remount,exec /var/lib/nvidia
"""

NVIDIA_VOLUMES: tuple[tuple[str, str, str], ...] = (
    ("nvidia-lib64", "/var/lib/nvidia/lib64", "/usr/local/nvidia/lib64"),
    ("nvidia-bin", "/var/lib/nvidia/bin", "/usr/local/nvidia/bin"),
)

_IMAGE_PATTERN = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METADATA_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_BOOT_IMAGE_PATTERN = re.compile(r"^(projects/)?[a-z][-a-z0-9]*[a-z0-9]/(global/images/)?(family/)?[a-z][-a-z0-9]*[a-z0-9]$")
_REGION_PARTS = re.compile(r"^([a-z]+)-([a-z]+?)([0-9]+)$")
_AREA_CODES = {
    "africa": "af", "asia": "as", "australia": "au", "europe": "eu", "me": "me",
    "northamerica": "na", "southamerica": "sa", "us": "us",
}
_DIRECTION_CODES = {
    "central": "c", "east": "e", "west": "w", "north": "n", "south": "s",
    "northeast": "ne", "southeast": "se", "southwest": "sw", "northwest": "nw",
}



def region_code(region: str) -> str:
    """Short region code for tight names: europe-west1 -> euw1, northamerica-northeast1 -> nane1."""
    match = _REGION_PARTS.fullmatch(region)
    if not match:
        return region.replace("-", "")
    area, direction, number = match.groups()
    return f"{_AREA_CODES.get(area, area[:2])}{_DIRECTION_CODES.get(direction, direction[:2])}{number}"


def default_account_id(naming: Naming, model: str, region: str | None = None) -> str:
    """``<app>-<env>-<model>[-<region code>]``, cut to 30 characters with a deterministic 4-character
    digest when longer (service account ids are 6-30 characters)."""
    parts = [naming.prefix, model] + ([region_code(region)] if region else [])
    candidate = "-".join(parts)
    if len(candidate) > 30:
        digest = hashlib.sha256(candidate.encode()).hexdigest()[:4]
        candidate = f"{candidate[:25].rstrip('-')}-{digest}"
    if len(candidate) < 6:
        candidate = f"{candidate}-fleet"
    return check_account_id(candidate, "account_id")


_SECRET_NAME_PATTERN = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
_SECRET_VERSION_PATTERN = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$|^\$\{.+\}$")
"""A secret-named variable must hold a Secret Manager version id (or a Terraform token of one)."""


class ContainerSpec(BaseModel):
    """The model server as a container on Container-Optimized OS (``gce-container-declaration``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = Field(description="Container image, e.g. us-docker.pkg.dev/p/repo/server:1.2 (pin a tag or digest).")
    command: tuple[str, ...] = Field(default=(), description="Overrides the image's entrypoint. Defaults to the image's.")
    args: tuple[str, ...] = Field(default=(), description="Arguments to the entrypoint. Defaults to none.")
    restart_policy: Literal["Always", "OnFailure", "Never"] = Field(
        default="Always", description="Defaults to Always: a crashed server comes back without waiting for auto-healing."
    )
    privileged: bool = Field(
        default=False,
        description="Run privileged. Defaults to False; the fleet turns it on when GPUs are attached (the container needs /dev/nvidia*).",
    )

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE_PATTERN.fullmatch(value):
            raise invalid("container.image", value, "must be a container image reference such as us-docker.pkg.dev/project/repo/server:1.2")
        return value


class GpuSpec(BaseModel):
    """GPUs attached to every VM of the fleet (see ``constructs_lib.gpus`` for the catalogue)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Accelerator type, e.g. nvidia-l4, nvidia-tesla-t4, nvidia-h100-80gb.")
    count: int | None = Field(
        default=None,
        description="GPUs per VM. Defaults to the machine type's fixed count (G2/A2/A3) or 1 (N1).",
    )
    skip_region_check: bool = Field(
        default=False,
        description="Skip the (approximate) region availability table. Defaults to False.",
    )

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        gpu_type(value)
        return value

    @model_validator(mode="after")
    def _count(self) -> "GpuSpec":
        if self.count is not None:
            check_gpu_count(self.type, self.count)
        return self


class HealthCheckSpec(BaseModel):
    """The auto-healing HTTP health check on the serving port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(default="/healthz", description="Request path. Defaults to /healthz.")
    check_interval_sec: int = Field(default=10, ge=1, le=300, description="Defaults to 10 s.")
    timeout_sec: int = Field(default=5, ge=1, le=300, description="Defaults to 5 s; must be <= check_interval_sec.")
    healthy_threshold: int = Field(default=2, ge=1, le=10, description="Defaults to 2 successes.")
    unhealthy_threshold: int = Field(
        default=3, ge=1, le=10, description="Defaults to 3 failures (30 s at the default interval) before a VM is recreated."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value) or len(value) > 1024:
            raise invalid("health_check.path", value, "must be an absolute request path without spaces, e.g. /healthz")
        return value

    @model_validator(mode="after")
    def _timeout(self) -> "HealthCheckSpec":
        if self.timeout_sec > self.check_interval_sec:
            raise ValueError(
                f"health_check.timeout_sec ({self.timeout_sec}) must be <= check_interval_sec ({self.check_interval_sec})"
            )
        return self


class UpdatePolicySpec(BaseModel):
    """How the group rolls out a new template."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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


class CanarySpec(BaseModel):
    """A second MIG version that runs ``percent`` of the VMs from its own template."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    percent: int = Field(default=10, description="Share of VMs on the canary version, 0..100. Defaults to 10.")
    container_image: str | None = Field(default=None, description="Canary container image (container mode).")
    boot_image: str | None = Field(default=None, description="Canary boot image.")

    @field_validator("percent")
    @classmethod
    def _percent(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise invalid("canary.percent", value, "must be between 0 and 100")
        return value

    @field_validator("container_image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not _IMAGE_PATTERN.fullmatch(value):
            raise invalid("canary.container_image", value, "must be a container image reference")
        return value

    @model_validator(mode="after")
    def _something(self) -> "CanarySpec":
        if self.container_image is None and self.boot_image is None:
            raise ValueError("canary: set container_image and/or boot_image (what the canary version runs)")
        return self


class FleetSpec(BaseModel):
    """Tunables of ``ModelServerFleet``. Exactly one of ``container`` / ``startup_script`` is required."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    machine_type: str = Field(
        default="n2-standard-4",
        description="Defaults to n2-standard-4: 4 dedicated vCPUs / 16 GB, enough for a CPU model server; GPUs need g2/a2/a3/n1.",
    )
    container: ContainerSpec | None = Field(default=None, description="Run the server as a container on COS.")
    startup_script: str | None = Field(default=None, description="Run the server from a startup script instead.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra server environment; PORT, MODEL_URI and CACHE_* are set from the wiring and cannot be overridden.",
    )
    boot_image: str | None = Field(
        default=None, description=f"Defaults to {COS_IMAGE} (container mode) or {DEBIAN_IMAGE} (startup-script mode)."
    )
    boot_disk_size_gb: int = Field(
        default=100, ge=10, le=65536,
        description="Defaults to 100 GB: CUDA server images are 5-15 GB and model files are downloaded to disk.",
    )
    boot_disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced"] = Field(
        default="pd-balanced", description="Defaults to pd-balanced: SSD-backed at a moderate price."
    )
    gpu: GpuSpec | None = Field(default=None, description="Attached GPUs. Defaults to none.")
    spot: bool = Field(default=False, description="Spot VMs (cheaper, may be preempted). Defaults to False.")
    spot_termination_action: Literal["STOP", "DELETE"] = Field(
        default="DELETE", description="What preemption does to a Spot VM. Defaults to DELETE: the group recreates it."
    )
    secure_boot: bool = Field(
        default=True,
        description="Shielded VM secure boot. Defaults to True; turn off only for unsigned kernel modules (vTPM and integrity monitoring stay on).",
    )
    zones: tuple[str, ...] = Field(default=(), description="Zones to spread over. Defaults to all zones of the region.")
    distribution_target_shape: Literal["EVEN", "BALANCED", "ANY", "ANY_SINGLE_ZONE"] = Field(
        default="EVEN", description="Defaults to EVEN: the same number of VMs per zone, so losing a zone loses a known share."
    )
    port_name: str = Field(default="http", description="Named port the backend service uses. Defaults to 'http'.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Serving port. Defaults to the network's serving_port."
    )
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)
    initial_delay_sec: int = Field(
        default=600, ge=0, le=3600,
        description="Auto-healing grace period for a new VM. Defaults to 600 s: pulling the image and loading a model takes minutes.",
    )
    update_policy: UpdatePolicySpec = Field(default_factory=UpdatePolicySpec)
    canary: CanarySpec | None = Field(default=None, description="Canary version. Defaults to none.")
    target_size: int | None = Field(
        default=None, ge=0,
        description="Fixed group size. Defaults to None: a FleetAutoscaler sizes the group (set one or the other).",
    )
    wait_for_instances: bool = Field(
        default=False, description="Make apply wait until VMs are running. Defaults to False: model loading would stall apply."
    )
    network_tags: tuple[str, ...] = Field(default=(), description="Extra network tags; the network's fleet tag is always set.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on the template and its disks.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Extra instance metadata (hardening keys are reserved).")
    roles: tuple[str, ...] = Field(
        default=DEFAULT_FLEET_ROLES,
        description="Project roles of a fleet-created service account. Defaults to log writer, metric writer, Artifact Registry reader.",
    )
    account_id: str | None = Field(
        default=None, description="Id of a fleet-created service account. Defaults to <app>-<env>-<model>-<region code>."
    )

    @field_validator("machine_type")
    @classmethod
    def _machine_type(cls, value: str) -> str:
        parse_machine_type(value)
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME_PATTERN.fullmatch(name):
                raise invalid(f"env.{name}", name, "must be an environment variable name matching ^[A-Za-z_][A-Za-z0-9_]*$")
            if name in SERVER_ENV_NAMES:
                raise invalid(f"env.{name}", name, f"is set by the fleet from its wiring; reserved: {', '.join(sorted(SERVER_ENV_NAMES))}")
            if _SECRET_NAME_PATTERN.search(name) and not _SECRET_VERSION_PATTERN.fullmatch(value[name]):
                raise invalid(
                    f"env.{name}", "<hidden>",
                    "looks like a secret: instance metadata is readable by anything on the VM and lands in Terraform state; "
                    "pass a Secret Manager version (projects/<p>/secrets/<s>/versions/<v>) and read it at start",
                )
        return value

    @field_validator("boot_image")
    @classmethod
    def _boot_image(cls, value: str | None) -> str | None:
        if value is not None and not _BOOT_IMAGE_PATTERN.fullmatch(value):
            raise invalid("boot_image", value, "must be <project>/<image or family>, e.g. cos-cloud/cos-stable or projects/p/global/images/family/f")
        return value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({z for z in value if value.count(z) > 1})
        if repeated:
            raise invalid("zones", list(value), f"each zone may be listed once; repeated: {', '.join(repeated)}")
        return value

    @field_validator("port_name")
    @classmethod
    def _port_name(cls, value: str) -> str:
        return check_name(value, "port_name")

    @field_validator("network_tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, tag in enumerate(value):
            if not NAME_PATTERN.fullmatch(tag):
                raise invalid(f"network_tags[{index}]", tag, NAME_RULE)
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key in RESERVED_METADATA:
                raise invalid(f"metadata.{key}", key, f"is set by the fleet; reserved keys: {', '.join(sorted(RESERVED_METADATA))}")
            if not _METADATA_KEY_PATTERN.fullmatch(key):
                raise invalid(f"metadata.{key}", key, "metadata keys are 1-128 letters, digits, '-' and '_'")
        return value

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, role in enumerate(value):
            check_role(role, f"roles[{index}]")
        return value

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_account_id(value)
        return value

    @model_validator(mode="after")
    def _rules(self) -> "FleetSpec":
        if (self.container is None) == (self.startup_script is None):
            raise ValueError("set exactly one of container (image on Container-Optimized OS) or startup_script")
        if self.gpu is not None:
            resolve_gpu_count(self.gpu.type, self.gpu.count, self.machine_type)
        else:
            check_machine_without_gpu(self.machine_type)
        if self.canary is not None and self.canary.container_image is not None and self.container is None:
            raise invalid("canary.container_image", self.canary.container_image, "needs container mode (set container, not startup_script)")
        return self

    @property
    def gpu_count(self) -> int:
        """GPUs per VM (0 without GPUs)."""
        if self.gpu is None:
            return 0
        return resolve_gpu_count(self.gpu.type, self.gpu.count, self.machine_type)

    @property
    def resolved_boot_image(self) -> str:
        """``boot_image`` or the default for the runtime mode."""
        return self.boot_image or (COS_IMAGE if self.container is not None else DEBIAN_IMAGE)


class FleetIdentity(Construct):
    """A dedicated service account for a model's servers, with least-privilege project roles.

    Create one per model and pass it to each region's ``ModelServerFleet`` so every region
    runs as the same identity (one grant on the model bucket and cache). Exposes
    ``service_account``, ``email``, ``member`` (``serviceAccount:<email>``) and ``role_bindings``.
    The bindings go to the service account's own project (the provider's project by default).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        model: str,
        region: str | None = None,
        roles: Sequence[str] = DEFAULT_FLEET_ROLES,
        account_id: str | None = None,
        project: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        check_name_part(model, "model")
        roles = tuple(roles)
        for index, role in enumerate(roles):
            check_role(role, f"roles[{index}]")
        keys = [role.rsplit("/", 1)[-1] for role in roles]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ConfigurationError("roles", list(roles), f"each role may be listed once; repeated: {', '.join(repeated)}")
        account_id = check_account_id(account_id) if account_id else default_account_id(naming, model, region)
        where = f" in {region}" if region else ""
        self.service_account = google_service_account.ServiceAccount(
            self, "default",
            account_id=account_id,
            display_name=f"Model server {model}{where} ({naming.prefix})",
            description=f"Runs the {model} model servers{where}; managed by cdktf",
            project=project,
        )
        self.account_id = account_id
        self.email: str = self.service_account.email
        self.member: str = self.service_account.member
        self.role_bindings: dict[str, project_iam_member.ProjectIamMember] = {}
        for role, key in zip(roles, keys):
            self.role_bindings[role] = project_iam_member.ProjectIamMember(
                self, f"role-{key}",
                project=project or self.service_account.project,
                role=role,
                member=self.member,
            )


def _quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML); Terraform tokens pass through."""
    return json.dumps(value)


def render_container_declaration(
    *,
    image: str,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    env: Sequence[tuple[str, str]] = (),
    privileged: bool = False,
    restart_policy: str = "Always",
    volumes: Sequence[tuple[str, str, str]] = (),
) -> str:
    """The ``gce-container-declaration`` YAML, rendered line by line so the output is stable.

    ``volumes`` are (name, host path, mount path) triples, mounted read-only.
    """
    lines = ["spec:", "  containers:", f"  - name: {CONTAINER_NAME}", f"    image: {_quote(image)}"]
    if command:
        lines.append("    command:")
        lines.extend(f"    - {_quote(item)}" for item in command)
    if args:
        lines.append("    args:")
        lines.extend(f"    - {_quote(item)}" for item in args)
    if env:
        lines.append("    env:")
        for name, value in env:
            lines.extend([f"    - name: {name}", f"      value: {_quote(value)}"])
    lines.extend(["    securityContext:", f"      privileged: {'true' if privileged else 'false'}"])
    if volumes:
        lines.append("    volumeMounts:")
        for name, _host, mount in volumes:
            lines.extend([f"    - name: {name}", f"      mountPath: {mount}", "      readOnly: true"])
    lines.extend(["    stdin: false", "    tty: false", f"  restartPolicy: {restart_policy}"])
    if volumes:
        lines.append("  volumes:")
        for name, host, _mount in volumes:
            lines.extend([f"  - name: {name}", "    hostPath:", f"      path: {host}"])
    return "\n".join(lines) + "\n"


@jsii.implements(IValidation)
class _GroupSizeIsManaged:
    """Synth-time check that the group is sized by exactly one of target_size / an autoscaler."""

    def __init__(self, fleet: "ModelServerFleet") -> None:
        self._fleet = fleet

    def validate(self) -> list[str]:
        fleet = self._fleet
        if fleet.autoscaler is None and fleet.spec.target_size is None:
            return [str(ConfigurationError(
                "target_size", None,
                f"fleet {fleet.node.path} has neither target_size nor a FleetAutoscaler; it would run 0 VMs",
            ))]
        if fleet.autoscaler is not None and fleet.spec.target_size is not None:
            return [str(ConfigurationError(
                "target_size", fleet.spec.target_size,
                f"fleet {fleet.node.path} has a FleetAutoscaler; leave target_size unset (they would fight)",
            ))]
        return []


class ModelServerFleet(Construct):
    """One model's servers in one region: template, health check, regional MIG (+ service account).

    Satisfies ``interfaces.InstanceGroupTarget`` (``instance_group``, ``port_name``, ``port``,
    ``region``, ``network_tag``). Also exposes ``group_manager``, ``template``,
    ``canary_template``, ``health_check``, ``identity`` (None when an email was passed),
    ``service_account_email``, ``service_account_member``, ``zones``, ``initial_delay_sec``,
    ``name`` and ``health_check_rule`` (the firewall rule the fleet added, if any).
    Grant data access with ``model_store.grant_read(fleet.service_account_member)`` and
    ``cache.grant_connect(fleet.service_account_member)``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: ServingNetwork,
        naming: Naming,
        region: str,
        model: str,
        spec: FleetSpec,
        model_source: ModelSource | None = None,
        cache: CacheConnection | None = None,
        service_account: str | FleetIdentity | None = None,
    ) -> None:
        super().__init__(scope, id_)
        check_name_part(model, "model")
        check_region(region)
        if region not in network.subnets:
            raise ConfigurationError(
                "region", region, f"the network has no subnet there; its regions: {', '.join(network.subnets)}"
            )
        zones = tuple(spec.zones) or zones_of(region)
        for index, zone in enumerate(zones):
            check_zone(zone, region, f"spec.zones[{index}]")
        if spec.gpu is not None and not spec.gpu.skip_region_check:
            check_gpu_region(spec.gpu.type, region)
        surge, unavailable = self._check_update_policy(spec.update_policy, len(zones))

        self.spec = spec
        self.model = model
        self.naming = naming
        self.region = region
        self.zones = zones
        self.port = spec.port or network.spec.serving_port
        self.port_name = spec.port_name
        self.network_tag = network.fleet_tag
        self.initial_delay_sec = spec.initial_delay_sec
        self.name = naming.name(model, region)
        self.autoscaler: Construct | None = None

        self.identity: FleetIdentity | None
        if service_account is None:
            self.identity = FleetIdentity(
                self, "identity", naming=naming, model=model, region=region,
                roles=spec.roles, account_id=spec.account_id,
            )
        elif isinstance(service_account, FleetIdentity):
            self.identity = service_account
        else:
            check_service_account_email(service_account, "service_account")
            self.identity = None
        if self.identity is not None:
            self.service_account_email: str = self.identity.email
            self.service_account_member: str = self.identity.member
        else:
            self.service_account_email = service_account  # type: ignore[assignment]
            self.service_account_member = service_account_member(service_account)  # type: ignore[arg-type]

        labels = naming.common_labels(model=model, **spec.labels)
        env = self._environment(model_source, cache)
        self.template = self._template(
            "template", network, region, labels, env,
            name_prefix=naming.name(model, region, max_length=53) + "-",
            container_image=spec.container.image if spec.container else None,
            boot_image=spec.resolved_boot_image,
        )
        self.canary_template: compute_instance_template.ComputeInstanceTemplate | None = None
        if spec.canary is not None:
            self.canary_template = self._template(
                "canary-template", network, region, labels, env,
                name_prefix=naming.name(model, region, "canary", max_length=53) + "-",
                container_image=spec.canary.container_image or (spec.container.image if spec.container else None),
                boot_image=spec.canary.boot_image or spec.resolved_boot_image,
            )

        hc = spec.health_check
        self.health_check = compute_health_check.ComputeHealthCheck(
            self, "health-check",
            name=naming.name(model, region, "hc"),
            description=f"Auto-healing check of the {model} servers in {region}",
            check_interval_sec=hc.check_interval_sec,
            timeout_sec=hc.timeout_sec,
            healthy_threshold=hc.healthy_threshold,
            unhealthy_threshold=hc.unhealthy_threshold,
            http_health_check=compute_health_check.ComputeHealthCheckHttpHealthCheck(
                port=self.port, request_path=hc.path,
            ),
        )

        # The group never turns healthy if the health-check ranges cannot reach the port:
        # open it (on the fleet tag only) rather than fail, since the network offers exactly that.
        self.health_check_rule = None
        if not network.admits_health_checks(self.port, tag=self.network_tag):
            self.health_check_rule = network.allow_health_checks(port=self.port, target_tags=(self.network_tag,))

        versions = [compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerVersion(
            name="stable", instance_template=self.template.self_link_unique,
        )]
        if self.canary_template is not None and spec.canary is not None:
            versions.append(compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerVersion(
                name="canary",
                instance_template=self.canary_template.self_link_unique,
                target_size=compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerVersionTargetSize(
                    percent=spec.canary.percent,
                ),
            ))
        policy = spec.update_policy
        self.group_manager = compute_region_instance_group_manager.ComputeRegionInstanceGroupManager(
            self, "group",
            name=self.name,
            base_instance_name=naming.name(model, max_length=58),
            description=f"{model} model servers in {region}",
            region=region,
            version=versions,
            distribution_policy_zones=list(zones),
            distribution_policy_target_shape=spec.distribution_target_shape,
            named_port=[compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerNamedPort(
                name=self.port_name, port=self.port,
            )],
            auto_healing_policies=compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=self.health_check.id, initial_delay_sec=spec.initial_delay_sec,
            ),
            update_policy=compute_region_instance_group_manager.ComputeRegionInstanceGroupManagerUpdatePolicy(
                type=policy.type,
                minimal_action=policy.minimal_action,
                replacement_method=policy.replacement_method,
                max_surge_fixed=surge,
                max_unavailable_fixed=unavailable,
                # EVEN keeps zones balanced by moving VMs; the other shapes require NONE.
                instance_redistribution_type="PROACTIVE" if spec.distribution_target_shape == "EVEN" else "NONE",
            ),
            target_size=spec.target_size,
            wait_for_instances=spec.wait_for_instances,
        )
        self.instance_group: str = self.group_manager.instance_group
        self.node.add_validation(_GroupSizeIsManaged(self))

    @staticmethod
    def _check_update_policy(policy: UpdatePolicySpec, zone_count: int) -> tuple[int, int]:
        surge = zone_count if policy.max_surge_fixed is None else policy.max_surge_fixed
        unavailable = policy.max_unavailable_fixed
        if policy.replacement_method == "RECREATE" and surge != 0:
            raise ConfigurationError(
                "spec.update_policy.max_surge_fixed", surge, "must be 0 when replacement_method is RECREATE (names are reused)"
            )
        for name, value in (("max_surge_fixed", surge), ("max_unavailable_fixed", unavailable)):
            if 0 < value < zone_count:
                raise ConfigurationError(
                    f"spec.update_policy.{name}", value,
                    f"a regional group over {zone_count} zones needs 0 or at least {zone_count}",
                )
        if surge == 0 and unavailable == 0:
            raise ConfigurationError(
                "spec.update_policy.max_unavailable_fixed", 0, "max_surge_fixed and max_unavailable_fixed cannot both be 0"
            )
        return surge, unavailable

    def _environment(self, model_source: ModelSource | None, cache: CacheConnection | None) -> list[tuple[str, str]]:
        """Server environment: wiring first (fixed order), then the spec's extra variables sorted."""
        env: list[tuple[str, str]] = [("PORT", str(self.port))]
        if model_source is not None:
            env.append(("MODEL_URI", model_source.uri))
        if cache is not None:
            env.extend([("CACHE_HOST", cache.host), ("CACHE_PORT", str(cache.port))])
            if cache.read_host is not None:
                env.append(("CACHE_READ_HOST", cache.read_host))
            env.append(("CACHE_TLS", "true" if cache.tls else "false"))
            if cache.auth_secret is not None:
                env.append(("CACHE_AUTH_SECRET", cache.auth_secret))
            if cache.ca_secret is not None:
                env.append(("CACHE_CA_SECRET", cache.ca_secret))
        env.extend(sorted(self.spec.env.items()))
        return env

    def _metadata(self, env: list[tuple[str, str]], container_image: str | None) -> dict[str, str]:
        spec = self.spec
        metadata = {**spec.metadata, **HARDENING_METADATA}
        if spec.container is not None and container_image is not None:
            gpu = spec.gpu is not None
            metadata["gce-container-declaration"] = render_container_declaration(
                image=container_image,
                command=spec.container.command,
                args=spec.container.args,
                env=env,
                privileged=spec.container.privileged or gpu,
                restart_policy=spec.container.restart_policy,
                volumes=NVIDIA_VOLUMES if gpu else (),
            )
            metadata["google-logging-enabled"] = "true"
            metadata["google-monitoring-enabled"] = "true"
            if gpu:
                metadata["startup-script"] = COS_GPU_DRIVER_SCRIPT
        else:
            metadata[ENV_METADATA_KEY] = "".join(f"{name}={value}\n" for name, value in env)
            metadata["startup-script"] = spec.startup_script or ""
        return metadata

    def _template(
        self,
        id_: str,
        network: ServingNetwork,
        region: str,
        labels: dict[str, str],
        env: list[tuple[str, str]],
        *,
        name_prefix: str,
        container_image: str | None,
        boot_image: str,
    ) -> compute_instance_template.ComputeInstanceTemplate:
        spec = self.spec
        gpu_count = spec.gpu_count
        if spec.spot:
            scheduling = compute_instance_template.ComputeInstanceTemplateScheduling(
                provisioning_model="SPOT",
                preemptible=True,
                automatic_restart=False,
                on_host_maintenance="TERMINATE",
                instance_termination_action=spec.spot_termination_action,
            )
        else:
            scheduling = compute_instance_template.ComputeInstanceTemplateScheduling(
                provisioning_model="STANDARD",
                preemptible=False,
                automatic_restart=True,
                # VMs with GPUs cannot live-migrate.
                on_host_maintenance="TERMINATE" if gpu_count else "MIGRATE",
            )
        return compute_instance_template.ComputeInstanceTemplate(
            self, id_,
            name_prefix=name_prefix,
            description=f"{self.model} model server in {region}",
            machine_type=spec.machine_type,
            region=region,
            labels=labels,
            tags=[self.network_tag, *[t for t in spec.network_tags if t != self.network_tag]],
            metadata=self._metadata(env, container_image),
            can_ip_forward=False,
            disk=[compute_instance_template.ComputeInstanceTemplateDisk(
                boot=True,
                auto_delete=True,
                source_image=boot_image,
                disk_size_gb=spec.boot_disk_size_gb,
                disk_type=spec.boot_disk_type,
                labels=labels,
            )],
            # No access_config: no external IP; egress goes through the network's Cloud NAT.
            network_interface=[compute_instance_template.ComputeInstanceTemplateNetworkInterface(
                subnetwork=network.subnets[region].self_link,
            )],
            guest_accelerator=[compute_instance_template.ComputeInstanceTemplateGuestAccelerator(
                type=spec.gpu.type, count=gpu_count,
            )] if spec.gpu is not None else None,
            scheduling=scheduling,
            shielded_instance_config=compute_instance_template.ComputeInstanceTemplateShieldedInstanceConfig(
                enable_secure_boot=spec.secure_boot,
                enable_vtpm=True,
                enable_integrity_monitoring=True,
            ),
            service_account=compute_instance_template.ComputeInstanceTemplateServiceAccount(
                email=self.service_account_email,
                # Access is governed by IAM roles; the cloud-platform scope just stops scopes from
                # silently narrowing them.
                scopes=["cloud-platform"],
            ),
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _attach_autoscaler(self, autoscaler: Construct) -> None:
        """Called by ``FleetAutoscaler``: one autoscaler per group."""
        if self.autoscaler is not None:
            raise ConfigurationError(
                "fleet", self.node.path, f"already has an autoscaler ({self.autoscaler.node.path}); a group takes one"
            )
        self.autoscaler = autoscaler
