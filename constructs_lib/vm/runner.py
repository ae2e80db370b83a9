"""How a model server starts on a fleet VM: the instance metadata that runs it.

Image mode (``image``) runs the container under systemd, set up by cloud-init (``user-data``),
not by Google's deprecated container agent (``gce-container-declaration``, konlet). cloud-init
writes, then enables ``model-server.service``:

* ``/etc/model-server/env``: the server environment (the model-server contract), ``--env-file``;
* ``/etc/model-server/run.sh``: ``docker run`` with host networking (the server listens on
  ``PORT``), logs to Cloud Logging (``--log-driver gcplogs``), the image's registry
  credentials from the VM's service account, GPUs, the downloaded model read-only at
  ``MODEL_DIR``; systemd restarts it per ``vm.restart_policy``;
* ``model-host-setup.service`` (when the host needs preparing) and ``model-download.service``
  (``vm.model_download``: the model files copied to local disk once per boot, before the server).

Two hosts, picked by the boot image (``ModelSpec.boot_image``):

* Container-Optimized OS (CPU models by default): Docker and ``docker-credential-gcr`` are built
  in; GPUs get COS's signed driver (``cos-extensions install gpu``, Secure Boot stays on) and the
  device nodes and driver libraries mounted into the container. No Ops Agent can run there.
* Debian / Ubuntu (GPU models by default: the Ubuntu accelerator image with Canonical's signed
  NVIDIA driver): ``model-host-setup`` installs what is missing, each step skipped when present
  (bake an image to skip them all): Docker, the NVIDIA container toolkit (``--gpus all``), the
  Ops Agent (host metrics, including the per-GPU utilization the ``gpu`` scaling signal reads)
  and DCGM with the agent's ``dcgm`` receiver (best effort: richer GPU metrics). The price is a
  first boot that fetches packages through Cloud NAT.

Startup-script mode (``vm.startup_script``) is unchanged: the script runs on Debian and reads
the environment from the ``model-server-env`` metadata attribute (KEY=value lines).

Every script here avoids ``${`` and ``%{``: Terraform would read them as interpolation in the
metadata strings (Terraform tokens in the environment, such as the bucket name, pass through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from constructs_lib.errors import ConfigurationError
from constructs_lib.specs.model import ModelSpec
from constructs_lib.specs.vm import ENV_METADATA_KEY, HARDENING_METADATA, MODEL_DIR, is_cos

CONTAINER_NAME = "model-server"
SERVER_UNIT = "model-server.service"
HOST_SETUP_UNIT = "model-host-setup.service"
DOWNLOAD_UNIT = "model-download.service"
CONFIG_DIR = "/etc/model-server"
STATE_DIR = "/var/lib/model-server"
BOOT_DISK_MODEL_DIR = f"{STATE_DIR}/models"
"""Where downloaded model files go on the boot disk (``/var`` is the stateful, writable partition on COS)."""
LOCAL_SSD_MODEL_DIR = "/mnt/disks/models"
LOCAL_SSD_DEVICE = "/dev/disk/by-id/google-local-nvme-ssd-0"


COS_GPU_DRIVER_SCRIPT = """#!/bin/bash
# Install the NVIDIA driver built for this Container-Optimized OS release (signed, so it loads
# with Secure Boot) and make it executable for the model-server container (mounted read-only
# at /usr/local/nvidia).
set -euo pipefail
cos-extensions install gpu
mount --bind /var/lib/nvidia /var/lib/nvidia
mount -o remount,exec /var/lib/nvidia
/var/lib/nvidia/bin/nvidia-smi --list-gpus
"""

LINUX_HOST_SETUP_SCRIPT = """#!/bin/bash
# Prepare this Debian/Ubuntu VM for the model server. Every step is skipped when its result is
# already there, so an image with these packages baked in boots straight to the server.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
updated=no
apt_install() {
  if [ "$updated" = no ]; then apt-get update -q; updated=yes; fi
  apt-get install -y -q --no-install-recommends "$@"
}
command -v docker >/dev/null || apt_install docker.io
systemctl enable --now docker
if [ ! -d /etc/google-cloud-ops-agent ]; then
  # Ops Agent: host metrics (per-GPU utilization for the gpu scaling signal) and system logs.
  curl -fsSL https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh -o /tmp/add-ops-agent-repo.sh
  bash /tmp/add-ops-agent-repo.sh --also-install
fi
"""

LINUX_GPU_SETUP_SCRIPT = """# GPUs: the NVIDIA driver comes with the boot image (by default Canonical's signed build, which
# loads with Secure Boot on); without it the server cannot use its GPUs, so fail here, visibly.
nvidia-smi --list-gpus
if ! command -v nvidia-ctk >/dev/null; then
  curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --dearmor --yes -o /usr/share/keyrings/nvidia-container-toolkit.gpg
  echo 'deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit.gpg] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /' \\
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  updated=no
  apt_install nvidia-container-toolkit
fi
if ! grep -qs nvidia /etc/docker/daemon.json; then
  nvidia-ctk runtime configure --runtime=docker
  systemctl restart docker
fi
if ! command -v nv-hostengine >/dev/null; then
  # DCGM feeds the Ops Agent's dcgm receiver (SM activity, tensor pipes, ...). Best effort: the
  # gpu scaling signal reads the agent's NVML metric, which needs no DCGM.
  . /etc/os-release
  repo="$ID$(echo "$VERSION_ID" | tr -d .)"
  if curl -fsSL "https://developer.download.nvidia.com/compute/cuda/repos/$repo/x86_64/cuda-keyring_1.1-1_all.deb" -o /tmp/cuda-keyring.deb \\
      && dpkg -i /tmp/cuda-keyring.deb && updated=no && apt_install datacenter-gpu-manager; then
    systemctl enable --now nvidia-dcgm
  else
    echo "DCGM not installed: no dcgm metrics (GPU utilization for autoscaling still flows)" >&2
  fi
fi
if command -v nv-hostengine >/dev/null && ! cmp -s /etc/model-server/ops-agent.yaml /etc/google-cloud-ops-agent/config.yaml; then
  cp /etc/model-server/ops-agent.yaml /etc/google-cloud-ops-agent/config.yaml
  systemctl restart google-cloud-ops-agent
fi
"""

OPS_AGENT_DCGM_CONFIG = """metrics:
  receivers:
    dcgm:
      type: dcgm
  service:
    pipelines:
      dcgm:
        receivers:
          - dcgm
"""
"""Ops Agent configuration that adds the DCGM receiver (workload.googleapis.com/dcgm.gpu.*) to
the built-in host metrics (agent.googleapis.com/gpu/* from NVML)."""

COS_GPU_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("/var/lib/nvidia/lib64", "/usr/local/nvidia/lib64"),
    ("/var/lib/nvidia/bin", "/usr/local/nvidia/bin"),
)
"""(host, container) paths of COS's driver libraries and tools, mounted read-only."""

_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_SHELL_SAFE = re.compile(r"^[A-Za-z0-9_./:=@+,-]+$")
_GOOGLE_REGISTRY = re.compile(r"^([a-z0-9]+(-[a-z0-9]+)*-)?docker\.pkg\.dev$|^([a-z]+\.)?gcr\.io$")


@dataclass(frozen=True)
class CloudFile:
    """One ``write_files`` entry of the cloud-config."""

    path: str
    content: str
    permissions: str = "0644"


def sh(value: str) -> str:
    """``value`` as one shell word (single-quoted unless it is plainly safe)."""
    if _SHELL_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def render_cloud_config(files: Sequence[CloudFile], commands: Sequence[str]) -> str:
    """A ``#cloud-config`` document, rendered line by line so the output is stable: files as
    literal blocks (readable in the console and in plan diffs), then ``runcmd``."""
    lines = ["#cloud-config", "write_files:"]
    for file in files:
        lines.extend([f"- path: {file.path}", f'  permissions: "{file.permissions}"', "  owner: root:root", "  content: |"])
        lines.extend(f"    {line}" if line else "" for line in file.content.rstrip("\n").split("\n"))
    lines.append("runcmd:")
    lines.extend(f"- {command}" for command in commands)
    return "\n".join(lines) + "\n"


def env_file(env: Sequence[tuple[str, str]]) -> str:
    """The ``--env-file`` text: one KEY=value line per variable, values verbatim (Docker does
    not unquote them); a value with a line break cannot be written that way."""
    for name, value in env:
        if "\n" in value or "\r" in value:
            raise ConfigurationError(f"env.{name}", "<multi-line value>", "a server variable on VM fleets must be one line")
    return "".join(f"{name}={value}\n" for name, value in env)


def registry_host(image: str) -> str | None:
    """The Artifact Registry / Container Registry host of ``image`` (whose pulls need the VM's
    credentials), or None for other registries."""
    host = image.split("/", 1)[0]
    return host if "/" in image and _GOOGLE_REGISTRY.fullmatch(host) else None


def run_script(model: ModelSpec, image: str, *, cos: bool, model_dir: str | None) -> str:
    """``run.sh``: registry credentials, then ``exec docker run`` of the server."""
    vm = model.vm
    lines = [
        "#!/bin/bash",
        f"# Runs the {model.name} model server; {SERVER_UNIT} restarts it (Restart={_RESTART[vm.restart_policy]}).",
        "set -euo pipefail",
        f"mkdir -p {STATE_DIR}",
    ]
    host = registry_host(image)
    if host is not None and cos:
        lines.append(f"docker-credential-gcr configure-docker --registries={host}")
    elif host is not None:
        lines.extend([
            "# The VM's service account pulls the image: a short-lived access token from the metadata server.",
            "oauth=$(curl -fsS -H 'Metadata-Flavor: Google' \\",
            "  http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token \\",
            "  | sed -E 's/.*\"access_token\" *: *\"([^\"]+)\".*/\\1/')",
            f"printf '%s' \"$oauth\" | docker login --username oauth2accesstoken --password-stdin https://{host}",
        ])
    flags = [
        "--rm", f"--name {CONTAINER_NAME}", "--network host", "--log-driver gcplogs", f"--env-file {CONFIG_DIR}/env",
    ]
    if vm.privileged:
        flags.append("--privileged")
    gpus = model.gpus_per_vm
    if gpus and cos:
        flags.extend(f"--volume {host_path}:{path}:ro" for host_path, path in COS_GPU_LIBRARIES)
        devices = [f"/dev/nvidia{index}" for index in range(gpus)] + ["/dev/nvidia-uvm", "/dev/nvidiactl"]
        flags.extend(f"--device {device}:{device}" for device in devices)
    elif gpus:
        flags.append("--gpus all")
    if gpus:
        # Model servers share tensors between worker processes through /dev/shm (vLLM, PyTorch).
        flags.append("--ipc host")
    if model_dir is not None:
        flags.append(f"--volume {model_dir}:{MODEL_DIR}:ro")
    command = list(model.command)
    if command:
        flags.append(f"--entrypoint {sh(command[0])}")
    words = [sh(image), *(sh(word) for word in [*command[1:], *model.args])]
    lines.append("exec docker run \\")
    lines.extend(f"  {flag} \\" for flag in flags)
    lines.append("  " + " ".join(words))
    return "\n".join(lines) + "\n"


def download_script(model: ModelSpec, model_uri: str, model_dir: str, *, local_ssd: bool) -> str:
    """``download.sh``: copy ``model_uri`` (a prefix) into ``model_dir`` with ``gcloud storage
    rsync`` (parallel, sliced downloads of large objects) from a one-shot container, retrying."""
    lines = [
        "#!/bin/bash",
        f"# Copies the {model.name} model files to local disk before the server starts; the server",
        f"# gets them read-only at {MODEL_DIR} (MODEL_DIR).",
        "set -euo pipefail",
        f"source={sh(model_uri)}",
        f"target={model_dir}",
    ]
    if local_ssd:
        lines.extend([
            f"disk={LOCAL_SSD_DEVICE}",
            'if ! mountpoint -q "$target"; then',
            '  mkdir -p "$target"',
            '  blkid "$disk" >/dev/null || mkfs.ext4 -F -q "$disk"',
            '  mount -o discard,defaults,nodev,nosuid "$disk" "$target"',
            "fi",
        ])
    else:
        lines.append('mkdir -p "$target"')
    lines.extend([
        "for attempt in 1 2 3 4 5; do",
        f'  if docker run --rm --network host --volume "$target":/models {sh(model.vm.model_download.cli_image)} \\',
        '      gcloud storage rsync --recursive --delete-unmatched-destination-objects "$source" /models; then',
        "    exit 0",
        "  fi",
        "  sleep $((attempt * 10))",
        "done",
        'echo "could not copy $source after 5 attempts" >&2',
        "exit 1",
    ])
    return "\n".join(lines) + "\n"


def _oneshot_unit(description: str, script: str, after: Sequence[str] = (), requires: Sequence[str] = ()) -> str:
    lines = ["[Unit]", f"Description={description}", "Wants=network-online.target",
             "After=" + " ".join(["network-online.target", *after])]
    if requires:
        lines.append("Requires=" + " ".join(requires))
    lines.extend(["", "[Service]", "Type=oneshot", "RemainAfterExit=yes", f"ExecStart=/bin/bash {script}"])
    return "\n".join(lines) + "\n"


def server_unit(model: ModelSpec, *, cos: bool, requires: Sequence[str]) -> str:
    """``model-server.service``: runs ``run.sh`` after the host setup and the download."""
    after = ["network-online.target", "docker.service", *requires]
    lines = ["[Unit]", f"Description=Model server {model.name} (container {CONTAINER_NAME})", "Wants=network-online.target"]
    if cos:
        lines.append("Wants=gcr-online.target")
        after.append("gcr-online.target")
    lines.append("After=" + " ".join(after))
    if requires:
        lines.append("Requires=" + " ".join(requires))
    lines.extend([
        "",
        "[Service]",
        f"Environment=HOME={STATE_DIR}",
        f"ExecStartPre=-/usr/bin/docker rm --force {CONTAINER_NAME}",
        f"ExecStart=/bin/bash {CONFIG_DIR}/run.sh",
        f"ExecStop=/usr/bin/docker stop --time 30 {CONTAINER_NAME}",
        f"Restart={_RESTART[model.vm.restart_policy]}",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ])
    return "\n".join(lines) + "\n"


def container_cloud_config(
    model: ModelSpec, env: Sequence[tuple[str, str]], image: str, boot_image: str, model_uri: str | None,
) -> str:
    """The ``user-data`` that runs ``image`` on ``boot_image`` (see the module docstring)."""
    cos = is_cos(boot_image)
    gpus = model.gpus_per_vm
    download = model.downloads_model and model_uri is not None
    local_ssd = download and model.vm.model_download.disk == "local-ssd"
    model_dir = (LOCAL_SSD_MODEL_DIR if local_ssd else BOOT_DISK_MODEL_DIR) if download else None
    files = [CloudFile(f"{CONFIG_DIR}/env", env_file(env), "0600")]
    requires: list[str] = []
    setup = None if cos and not gpus else (COS_GPU_DRIVER_SCRIPT if cos else LINUX_HOST_SETUP_SCRIPT + (LINUX_GPU_SETUP_SCRIPT if gpus else ""))
    if setup is not None:
        files.append(CloudFile(f"{CONFIG_DIR}/host-setup.sh", setup, "0700"))
        if gpus and not cos:
            files.append(CloudFile(f"{CONFIG_DIR}/ops-agent.yaml", OPS_AGENT_DCGM_CONFIG))
        files.append(CloudFile(
            f"/etc/systemd/system/{HOST_SETUP_UNIT}",
            _oneshot_unit("Prepare the host for the model server", f"{CONFIG_DIR}/host-setup.sh", after=["docker.service"]),
        ))
        requires.append(HOST_SETUP_UNIT)
    if download:
        assert model_uri is not None and model_dir is not None
        files.append(CloudFile(f"{CONFIG_DIR}/download.sh", download_script(model, model_uri, model_dir, local_ssd=local_ssd), "0700"))
        files.append(CloudFile(
            f"/etc/systemd/system/{DOWNLOAD_UNIT}",
            _oneshot_unit("Copy the model files to local disk", f"{CONFIG_DIR}/download.sh", after=["docker.service", *requires], requires=requires),
        ))
        requires.append(DOWNLOAD_UNIT)
    files.append(CloudFile(f"{CONFIG_DIR}/run.sh", run_script(model, image, cos=cos, model_dir=model_dir), "0700"))
    files.append(CloudFile(f"/etc/systemd/system/{SERVER_UNIT}", server_unit(model, cos=cos, requires=requires)))
    return render_cloud_config(files, ["systemctl daemon-reload", f"systemctl enable --now --no-block {SERVER_UNIT}"])


def server_metadata(
    model: ModelSpec, env: Sequence[tuple[str, str]], image: str | None, boot_image: str, model_uri: str | None = None,
) -> dict[str, str]:
    """The template metadata for ``model``: hardening keys, then the runner and its environment."""
    vm = model.vm
    metadata = {**vm.metadata, **HARDENING_METADATA}
    if image is not None:
        metadata["user-data"] = container_cloud_config(model, env, image, boot_image, model_uri)
        if is_cos(boot_image):
            # COS's own agents ship the journal (cloud-init, unit failures) and node metrics.
            metadata["google-logging-enabled"] = "true"
            metadata["google-monitoring-enabled"] = "true"
    else:
        metadata[ENV_METADATA_KEY] = "".join(f"{name}={value}\n" for name, value in env)
        metadata["startup-script"] = vm.startup_script or ""
    return metadata
