"""Build the app for a set of environments and synthesize it without half-written output.

cdktf writes into its output folder as it goes; a failure mid-way would leave a mix of old
and new stacks for ``terraform plan`` to pick up. Here the app synthesizes into a staging
folder next to the target, and the staging folder replaces the target only on success.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from constructs import Construct

from constructs_lib.errors import ConfigurationError
from stacks.config import EnvironmentConfig, EnvironmentFileError

if TYPE_CHECKING:
    from cdktf import TerraformStack

DEFAULT_OUTDIR = "cdktf.out"


def output_dir() -> Path:
    """``$CDKTF_OUTDIR`` (set by the cdktf CLI) or ``cdktf.out``."""
    return Path(os.environ.get("CDKTF_OUTDIR") or DEFAULT_OUTDIR)


def synthesize(configs: Mapping[str, EnvironmentConfig], outdir: Path | None = None) -> Path:
    """The stacks of every config (keyed by the file it came from, see ``build_stacks``),
    synthesized into ``outdir`` atomically.

    Raises ``EnvironmentFileError`` naming the file when a construct rejects its input, or
    jsii's ``JSIIError`` when a construct validation fails at synth; in both cases ``outdir``
    is left untouched.
    """
    from cdktf import App

    target = (outdir or output_dir()).absolute()
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        app = App(outdir=str(staging))
        for source, config in configs.items():
            try:
                build_stacks(app, config)
            except ConfigurationError as error:
                raise EnvironmentFileError(f"{source}: {error}") from None
        app.synth()
        _swap(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap(staging: Path, target: Path) -> None:
    """Replace ``target`` with ``staging``: two renames, so readers never see a partial tree."""
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def build_stacks(app: Construct, config: EnvironmentConfig) -> list[TerraformStack]:
    """The stacks of one environment: ``MlServingStack``, or with a ``[gke]`` section the GKE
    cluster stack and ``GkeServingStack`` (in deploy order)."""
    from constructs_lib.naming import Naming
    from stacks.gke_stack import GkeServingStack
    from stacks.serving_stack import MlServingStack

    if config.gke is None:
        return [MlServingStack(app, config)]
    gke = config.gke
    stack = GkeServingStack(
        app, config.stack_name,
        project_id=config.project_id, region=config.regions[0],
        naming=Naming(app=config.app, env=config.name, labels=config.labels),
        workloads=gke.workloads, cluster=gke.cluster, network=config.network, model_store=config.model_store,
        load_balancer=config.load_balancer, backend_services=gke.backend_services,
        static_content=config.static_content,
        cloud_armor=config.cloud_armor.spec() if config.cloud_armor.enabled else None,
        backend=config.backend,
    )
    return [stack.cluster_stack, stack]
