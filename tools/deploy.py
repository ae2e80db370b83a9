"""Which stacks the deploy workflow applies, in dependency order.

    python -m tools.deploy stacks cdktf.out [--only STACK]

prints a JSON list (the deploy job's matrix) of the synthesized stacks in the order cdktf's
``manifest.json`` says they depend on each other (``ml-serving-gke-cluster`` before
``ml-serving-gke``), leaving out stacks with a ``local`` state backend: CI runners are thrown
away, and their state with them (one line on stderr names each). ``--only`` keeps one stack
(manual dispatch). Exit status: 0; 2 for a missing/unreadable output dir, an unknown stack, or
``--only`` naming a stack with local state (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class DeployError(Exception):
    """Input the deploy cannot use; one line."""


def load_manifest(out: Path) -> dict[str, dict]:
    """{stack: manifest entry} of a cdktf output dir."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        return dict(manifest["stacks"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DeployError(f"{out}: not a cdktf output dir with a manifest.json ({type(error).__name__})") from None


def ordered(stacks: dict[str, dict]) -> list[str]:
    """Stack names, dependencies first, otherwise by name (deterministic)."""
    done: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise DeployError(f"stack dependency cycle through {name}")
        visiting.add(name)
        for dependency in sorted(stacks.get(name, {}).get("dependencies", [])):
            if dependency in stacks:
                visit(dependency)
        visiting.discard(name)
        done.append(name)

    for name in sorted(stacks):
        visit(name)
    return done


def backend(out: Path, entry: dict) -> str:
    """The backend type a stack's Terraform uses (``local`` when none is configured)."""
    try:
        config = json.loads((out / entry["synthesizedStackPath"]).read_text())
    except (OSError, ValueError, KeyError) as error:
        raise DeployError(f"{out}: stack {entry.get('name')!r} is unreadable ({type(error).__name__})") from None
    found = (config.get("terraform") or {}).get("backend") or {"local": {}}
    return next(iter(found))


def deployable(out: Path | str, only: str | None = None) -> tuple[list[str], list[str]]:
    """(stacks to apply in order, one line per stack left out)."""
    out = Path(out)
    stacks = load_manifest(out)
    if only is not None and only not in stacks:
        raise DeployError(f"no synthesized stack named {only}; stacks: {', '.join(sorted(stacks))}")
    chosen, skipped = [], []
    for name in ordered(stacks):
        if only is not None and name != only:
            continue
        if backend(out, stacks[name]) == "local":
            reason = f"{name}: local state backend, not applied from CI (the runner's disk, and the state, are thrown away)"
            if only is not None:
                raise DeployError(reason)
            skipped.append(reason)
        else:
            chosen.append(name)
    return chosen, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    stacks = commands.add_parser("stacks", help="the stacks to apply, in dependency order, as a JSON list")
    stacks.add_argument("out", metavar="OUT", help="cdktf output dir (cdktf.out)")
    stacks.add_argument("--only", metavar="STACK", help="just this stack")
    args = parser.parse_args(argv)
    try:
        chosen, skipped = deployable(args.out, args.only)
    except DeployError as error:
        print(f"deploy {args.command}: {error}", file=sys.stderr)
        return 2
    for line in skipped:
        print(f"deploy stacks: {line}", file=sys.stderr)
    print(json.dumps(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
