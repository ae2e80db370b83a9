"""Where each stack's Terraform state lives, and moving state out of the old place.

Local state is ``state/<stack>.tfstate`` next to the output folder (``<project>/state/`` for the
default ``cdktf.out``), never inside it: synthesis replaces the output folder, and a state file
there would be deleted by the next ``make synth`` or ``cdktf synth``. The synthesized backend
path is relative to the stack's folder (``cdktf.out/stacks/<stack>``, where cdktf runs
Terraform), so it is the same on every machine and for every output folder.

Earlier releases kept local state at ``cdktf.out/stacks/<stack>/terraform.tfstate``. Synthesis
moves such a file to the new place (``adopt_legacy_state``); when both exist it stops with one
line that says which two files to compare, and changes nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdktf import TerraformStack

    from stacks.config import GcsBackend, LocalBackend

STATE_DIR = "state"
"""Folder of local state files, a sibling of the output folder (git-ignored)."""

LEGACY_STATE_FILES = ("terraform.tfstate", "terraform.tfstate.backup")
"""The old default local state (and Terraform's backup of it) inside ``cdktf.out/stacks/<stack>/``."""

STACK_DIR_DEPTH = 3
"""``<outdir>/stacks/<stack>``: the stack folder is three levels below the output folder's parent."""


class StateLocationError(Exception):
    """Legacy and current state both exist for a stack; ``str(error)`` is the one-line message."""


def local_state_path(stack_name: str) -> str:
    """The local backend ``path`` of ``stack_name``, relative to its stack folder:
    ``../../../state/<stack>.tfstate``."""
    return "/".join([".."] * STACK_DIR_DEPTH + [STATE_DIR, f"{stack_name}.tfstate"])


def state_file(outdir: Path, stack_name: str) -> Path:
    """Where ``local_state_path`` points for output folder ``outdir``."""
    return outdir.absolute().parent / STATE_DIR / f"{stack_name}.tfstate"


def configure_state_backend(
    stack: "TerraformStack", backend: "LocalBackend | GcsBackend", *, gcs_prefix: str,
) -> None:
    """Local state in ``state/<stack>.tfstate`` or Cloud Storage under ``gcs_prefix``."""
    from cdktf import GcsBackend, LocalBackend

    if backend.type == "gcs":
        GcsBackend(stack, bucket=backend.bucket, prefix=gcs_prefix)
    else:
        LocalBackend(stack, path=local_state_path(stack.node.id))


@dataclass(frozen=True)
class LegacyState:
    """A state file at the old place and where it goes."""

    source: Path
    target: Path


def find_legacy_state(outdir: Path) -> list[LegacyState]:
    """Every old-place state file under ``outdir``'s stack folders, with its new place.

    Raises ``StateLocationError`` when a stack has state at both places (nothing is moved).
    """
    stacks = outdir / "stacks"
    if not stacks.is_dir():
        return []
    found: list[LegacyState] = []
    for stack_dir in sorted(p for p in stacks.iterdir() if p.is_dir()):
        current = state_file(outdir, stack_dir.name)
        legacy = stack_dir / LEGACY_STATE_FILES[0]
        if legacy.is_file() and current.exists():
            raise StateLocationError(
                f"{_show(legacy)}: state of {stack_dir.name} exists at the old place and at {_show(current)}; "
                "compare them (terraform state pull / the serial field), keep the right one at the new place "
                "and delete the other, then synthesize again"
            )
        for name in LEGACY_STATE_FILES:
            source = stack_dir / name
            if source.is_file():
                suffix = ".backup" if name.endswith(".backup") else ""
                found.append(LegacyState(source, current.with_name(current.name + suffix)))
    return found


def adopt_legacy_state(moves: list[LegacyState]) -> list[LegacyState]:
    """Move each legacy state file to its new place (a rename on one file system)."""
    for move in moves:
        move.target.parent.mkdir(parents=True, exist_ok=True)
        if move.target.exists():  # only a backup can get here: the state itself was checked
            move.target.unlink()
        shutil.move(move.source, move.target)
    return moves


def _show(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
