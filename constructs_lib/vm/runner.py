"""How a model server starts on a fleet VM: the instance metadata that runs it.

Two modes: the model's image as a container on Container-Optimized OS
(``gce-container-declaration``; the container runs with host networking, so it listens on
``PORT`` directly), or ``vm.startup_script`` on Debian (the environment is in the
``model-server-env`` metadata attribute as KEY=value lines). With GPUs, image mode installs
COS's signed NVIDIA driver (``cos-extensions``) and mounts it into a privileged container; in
startup-script mode the script or the boot image (e.g. a Deep Learning VM image) must provide
the driver (unsigned drivers need ``secure_boot=False``).
"""

from __future__ import annotations

import json
from typing import Sequence

from constructs_lib.specs.model import ModelSpec
from constructs_lib.specs.vm import ENV_METADATA_KEY, HARDENING_METADATA


CONTAINER_NAME = "model-server"


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



def server_metadata(model: ModelSpec, env: Sequence[tuple[str, str]], image: str | None) -> dict[str, str]:
    """The template metadata for ``model``: hardening keys, the runner, the server environment."""
    vm = model.vm
    metadata = {**vm.metadata, **HARDENING_METADATA}
    if image is not None:
        gpu = model.gpus_per_vm > 0
        metadata["gce-container-declaration"] = render_container_declaration(
            image=image,
            command=model.command,
            args=model.args,
            env=env,
            privileged=vm.privileged or gpu,
            restart_policy=vm.restart_policy,
            volumes=NVIDIA_VOLUMES if gpu else (),
        )
        metadata["google-logging-enabled"] = "true"
        metadata["google-monitoring-enabled"] = "true"
        if gpu:
            metadata["startup-script"] = COS_GPU_DRIVER_SCRIPT
    else:
        metadata[ENV_METADATA_KEY] = "".join(f"{name}={value}\n" for name, value in env)
        metadata["startup-script"] = vm.startup_script or ""
    return metadata
