"""Build the app for a set of environments and synthesize it without half-written output.

cdktf writes into its output folder as it goes; a failure mid-way would leave a mix of old
and new stacks for ``terraform plan`` to pick up. Here the app synthesizes into a staging
folder next to the target, and the staging folder replaces the target only on success.

Synthesis replaces only what it writes: the ``cdk.tf.json`` (and manifest entry) of each stack
it builds. Everything else in the old output is carried into the new one (hard links, not
copies): a stack's ``.terraform/`` folder, lock file and plans, and with a narrowed synth
(``ML_SERVING_ENV=dev``) the whole stacks of the environments it did not name, manifest
entries included (the cdktf CLI deletes stack folders its manifest does not list). State
never lives in the output folder (``stacks.state``); state left there by an earlier release is
moved out before the old output is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Mapping

from constructs import Construct

from constructs_lib.errors import ConfigurationError
from stacks.config import EnvironmentConfig, EnvironmentFileError
from stacks.state import LEGACY_STATE_FILES, LegacyState, StateLocationError, adopt_legacy_state, find_legacy_state

if TYPE_CHECKING:
    from cdktf import TerraformStack

DEFAULT_OUTDIR = "cdktf.out"
MANIFEST = "manifest.json"
WRITTEN_FILES = frozenset({"cdk.tf.json", "metadata.json", "assets"})
"""What cdktf writes into a stack folder; anything else there is the user's and is kept."""


def output_dir() -> Path:
    """``$CDKTF_OUTDIR`` (set by the cdktf CLI) or ``cdktf.out``."""
    return Path(os.environ.get("CDKTF_OUTDIR") or DEFAULT_OUTDIR)


@dataclass
class SynthReport:
    """What a synthesis did: stacks written (name -> resource count), stacks kept from the
    previous output, state files moved out of it."""

    outdir: Path
    written: dict[str, int] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    moved_state: list[LegacyState] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per fact, for the user (``make synth`` prints them)."""
        stacks = ", ".join(f"{name} ({count} resources)" for name, count in self.written.items())
        lines = [f"synthesized {_display(self.outdir)}: {stacks}"]
        if self.kept:
            lines.append(f"kept from the previous synth: {', '.join(self.kept)}")
        lines += [f"moved Terraform state {_display(m.source)} -> {_display(m.target)}" for m in self.moved_state]
        return lines


def synthesize(
    configs: Mapping[str, EnvironmentConfig], outdir: Path | None = None, *, only: Collection[str] | None = None,
) -> SynthReport:
    """The stacks of every config (keyed by the file it came from, see ``build_stacks``),
    synthesized into ``outdir`` atomically.

    ``only``: the synthesis was narrowed to these environment names; stacks of other
    environments in the previous output are kept. ``None``: every environment was built, so
    stacks of environments that no longer exist are dropped.

    Raises ``EnvironmentFileError`` naming the file when a construct rejects its input (or state
    sits at two places), or jsii's ``JSIIError`` when a construct validation fails at synth; in
    every case ``outdir`` is left untouched.
    """
    from cdktf import App

    target = (outdir or output_dir()).absolute()
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        app = App(outdir=str(staging))
        built: set[str] = set()
        for source, config in configs.items():
            try:
                built.update(stack.node.id for stack in build_stacks(app, config))
            except ConfigurationError as error:
                raise EnvironmentFileError(f"{source}: {error}") from None
        app.synth()
        try:
            legacy = find_legacy_state(target)
        except StateLocationError as error:
            raise EnvironmentFileError(str(error)) from None
        replaced = _stack_names(configs.values()) if only is not None else None
        report = SynthReport(target, written={name: _resource_count(staging, name) for name in sorted(built)})
        report.kept = _carry_over(target, staging, replaced)
        report.moved_state = _swap(staging, target, legacy)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _stack_names(configs: Collection[EnvironmentConfig]) -> set[str]:
    """Every stack an environment may have had: its serving stack and its GKE cluster stack."""
    return {name for config in configs for name in (config.stack_name, f"{config.stack_name}-cluster")}


def _resource_count(outdir: Path, stack: str) -> int:
    body = json.loads((outdir / "stacks" / stack / "cdk.tf.json").read_text())
    return sum(len(items) for items in body.get("resource", {}).values())


def _carry_over(previous: Path, staging: Path, replaced: set[str] | None) -> list[str]:
    """Copy into ``staging`` what the new synth did not write: whole stacks of environments it did
    not build (``replaced`` is None: none are kept), and the user's files in rebuilt stacks.
    Old-place state files are left behind: ``_swap`` moves them to their new place."""
    old_manifest = _read_manifest(previous)
    new_manifest = _read_manifest(staging)
    new_stacks = new_manifest.setdefault("stacks", {})
    kept = sorted(
        name for name in old_manifest.get("stacks", {})
        if replaced is not None and name not in replaced and name not in new_stacks
        and (previous / "stacks" / name).is_dir()
    )
    for name in [*kept, *new_stacks]:
        old_dir, new_dir = previous / "stacks" / name, staging / "stacks" / name
        if not old_dir.is_dir():
            continue
        skip = LEGACY_STATE_FILES if name in kept else (*LEGACY_STATE_FILES, *WRITTEN_FILES)
        new_dir.mkdir(parents=True, exist_ok=True)
        for entry in old_dir.iterdir():
            if entry.name not in skip and not (new_dir / entry.name).exists():
                _link_tree(entry, new_dir / entry.name)
    if kept:
        new_stacks.update({name: old_manifest["stacks"][name] for name in kept})
        new_manifest["stacks"] = dict(sorted(new_stacks.items()))
        (staging / MANIFEST).write_text(json.dumps(new_manifest, indent=2))
    return kept


def _read_manifest(outdir: Path) -> dict:
    try:
        return json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _link_tree(source: Path, target: Path) -> None:
    """``source`` at ``target`` by hard links (a provider plugin folder is hundreds of MB)."""
    if source.is_symlink() or source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _link(source, target)
    else:
        shutil.copytree(source, target, symlinks=True, copy_function=_link)


def _link(source: str | Path, target: str | Path) -> None:
    if Path(source).is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _swap(staging: Path, target: Path, legacy: list[LegacyState]) -> list[LegacyState]:
    """Replace ``target`` with ``staging`` (two renames, so readers never see a partial tree),
    moving old-place state out of the retired tree before it is deleted."""
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    moves = [LegacyState(retired / m.source.relative_to(target), m.target) for m in legacy]
    adopt_legacy_state(moves)
    shutil.rmtree(retired, ignore_errors=True)
    return [LegacyState(target / m.source.relative_to(retired), m.target) for m in moves]


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def build_stacks(app: Construct, config: EnvironmentConfig) -> list[TerraformStack]:
    """The stacks of one environment: ``MlServingStack``, or with a ``[gke]`` section the GKE
    cluster stack and ``GkeServingStack`` (in deploy order). The GKE stack module is imported
    only for a GKE environment: it loads the kubernetes bindings."""
    if config.gke is None:
        from stacks.serving_stack import MlServingStack

        return [MlServingStack(app, config)]
    from constructs_lib.naming import Naming
    from stacks.gke_stack import GkeServingStack

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
