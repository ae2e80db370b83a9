"""Security scan of every synthesized stack with checkov: ``python -m tools.scan [--out DIR]...``.

Scans ``<out>/stacks/*/cdk.tf.json`` for each ``--out`` (default: ``cdktf.out`` and
``cdktf.out.examples``, what ``make synth`` and ``make synth-examples`` write) in ONE checkov
run (checkov's start-up is most of its cost), prints passed/failed/skipped per stack and exits
1 when any check fails.

checkov lives in its own venv (``.venv-scan``, pinned in requirements-scan.txt: its pins clash
with ours) and is run as a subprocess. Its configuration is ``.checkov.yaml``; the checks that
file skips are still run here, so that each stack's "skipped" column counts real findings we
accept, a crash of a check that is not skipped is an error instead of a silent gap, and a skip
that no longer finds anything is reported as stale.

Exit codes: 0 no failed check; 1 failed checks (or checks that crashed, or files checkov could
not parse); 2 the scan could not run (no stacks, no checkov, unreadable checkov output).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTS = ("cdktf.out", "cdktf.out.examples")

ACCEPTED_FINDINGS: dict[str, tuple[re.Pattern[str], str]] = {
    "CKV_K8S_43": (
        re.compile(r"(^|\.)metrics-adapter(-[a-z0-9-]+)?_deployment_[0-9A-F]{8}$"),
        "the Custom Metrics adapter runs GKE's release image by tag, as Google's manifest does (its digest cannot be "
        "looked up offline); [gke.cluster] metrics_adapter_image = '<image>@sha256:...' pins it, and the finding goes away",
    ),
}
"""Findings accepted for one resource, not for the whole check: check id -> (resource address
pattern, why). checkov's config can only skip a check everywhere, which would hide the same
finding on a model's Deployment."""
DEFAULT_CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"
DEFAULT_CONFIG = ROOT / ".checkov.yaml"
CRASH_PATTERN = re.compile(r"Failed to run check (\S+) on (\S+?):(\S+)")


class ScanError(Exception):
    """The scan could not run; ``str(error)`` is one line for the user."""


@dataclass
class Finding:
    """One failed (or crashed) check on one resource."""

    check_id: str
    check_name: str
    resource: str
    file: Path
    lines: tuple[int, int] | None = None

    def describe(self) -> str:
        where = f"{self.file.parent.name}: {self.resource}"
        if self.lines:
            where += f" (cdk.tf.json:{self.lines[0]}-{self.lines[1]})"
        return f"{self.check_id} {self.check_name!r} on {where}"


@dataclass
class StackResult:
    """Totals for one stack file."""

    file: Path
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    skipped: list[Finding] = field(default_factory=list)
    crashed: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.crashed


@dataclass
class ScanReport:
    """What one checkov run found, per stack, with ``.checkov.yaml``'s skips applied."""

    stacks: dict[Path, StackResult]
    skips: tuple[str, ...]
    parsing_errors: tuple[str, ...] = ()
    stale_skips: tuple[str, ...] = ()
    checkov_version: str = ""

    @property
    def ok(self) -> bool:
        return not self.parsing_errors and all(result.ok for result in self.stacks.values())


def stack_files(outs: Iterable[Path]) -> list[Path]:
    """``<out>/stacks/*/cdk.tf.json`` of every output folder; ScanError if one has none."""
    files: list[Path] = []
    for out in outs:
        found = sorted(out.glob("stacks/*/cdk.tf.json"))
        if not found:
            raise ScanError(
                f"--out {out}: no synthesized stacks (stacks/*/cdk.tf.json); run `make synth` / `make synth-examples` first"
            )
        files.extend(found)
    return files


def read_skips(config: Path, checkov: Path) -> tuple[str, ...]:
    """The ``skip-check`` list of ``config``, read with PyYAML from checkov's own venv."""
    python = checkov.parent / "python"
    code = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])) or {}))"
    result = subprocess.run([str(python), "-c", code, str(config)], capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        raise ScanError(f"{config}: cannot read the checkov configuration: {lines[-1]}")
    data = json.loads(result.stdout)
    skips = data.get("skip-check") or []
    if isinstance(skips, str):
        skips = [item.strip() for item in skips.split(",")]
    return tuple(str(item) for item in skips if str(item).strip())


def run_checkov(files: Sequence[Path], *, checkov: Path, config: Path) -> tuple[Any, str]:
    """checkov's JSON report and its stderr for ``files``, every check enabled."""
    if not checkov.exists():
        raise ScanError(f"{checkov}: checkov is not installed; `make .venv-scan/.installed` installs requirements-scan.txt")
    command = [str(checkov), "--config-file", str(config), "--skip-check", "", "--output", "json"]
    for path in files:
        command += ["--file", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        tail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
        raise ScanError(f"checkov exited with {result.returncode} without a JSON report: {tail}") from None
    return report, result.stderr


def evaluate(files: Sequence[Path], report: Any, stderr: str, skips: Sequence[str]) -> ScanReport:
    """Sort checkov's results into per-stack totals, applying ``skips``."""
    stacks = {path.resolve(): StackResult(file=path) for path in files}
    skip_set = set(skips)
    passed_ids: set[str] = set()
    found_ids: set[str] = set()
    parsing_errors: list[str] = []
    version = ""
    for framework in report if isinstance(report, list) else [report]:
        version = framework.get("summary", {}).get("checkov_version", version)
        results = framework.get("results", {})
        parsing_errors += [str(item) for item in results.get("parsing_errors", [])]
        for item in results.get("passed_checks", []):
            stacks[_stack_key(item, stacks)].passed += 1
            passed_ids.add(item["check_id"])
        for item in results.get("failed_checks", []) + results.get("skipped_checks", []):
            key = _stack_key(item, stacks)
            lines = item.get("file_line_range")
            finding = Finding(item["check_id"], item.get("check_name", ""), item.get("resource", "?"),
                              stacks[key].file, tuple(lines) if lines else None)
            accepted = (item["check_id"] in skip_set or item.get("check_result", {}).get("result") == "SKIPPED"
                        or _accepted_for_resource(item["check_id"], finding.resource))
            (stacks[key].skipped if accepted else stacks[key].failed).append(finding)
            found_ids.add(item["check_id"])
    for check_id, file_name, resource in CRASH_PATTERN.findall(stderr):
        key = _match_file(file_name, stacks)
        finding = Finding(check_id, "crashed inside checkov", resource, stacks[key].file)
        (stacks[key].skipped if check_id in skip_set else stacks[key].crashed).append(finding)
        found_ids.add(check_id)
    stale = tuple(sorted(i for i in skip_set if i in passed_ids and i not in found_ids))
    return ScanReport(stacks=stacks, skips=tuple(skips), parsing_errors=tuple(parsing_errors),
                      stale_skips=stale, checkov_version=version)


def _accepted_for_resource(check_id: str, resource: str) -> bool:
    """Whether ``ACCEPTED_FINDINGS`` accepts ``check_id`` on ``resource``."""
    accepted = ACCEPTED_FINDINGS.get(check_id)
    return accepted is not None and accepted[0].search(resource) is not None


def _stack_key(item: dict[str, Any], stacks: dict[Path, StackResult]) -> Path:
    absolute = item.get("file_abs_path")
    if absolute and Path(absolute).resolve() in stacks:
        return Path(absolute).resolve()
    return _match_file(item.get("file_path", ""), stacks)


def _match_file(name: str, stacks: dict[Path, StackResult]) -> Path:
    """The scanned file checkov names as ``name`` (checkov shortens paths relative to a common root)."""
    if name and (ROOT / name.lstrip("/")).resolve() in stacks:
        return (ROOT / name.lstrip("/")).resolve()
    matches = [path for path in stacks if str(path).endswith(name.lstrip("/"))] if name else []
    if len(matches) != 1:
        raise ScanError(f"checkov reported a result for {name!r}, which is not one of the scanned stacks")
    return matches[0]


def scan(outs: Sequence[Path], *, checkov: Path = DEFAULT_CHECKOV, config: Path = DEFAULT_CONFIG) -> ScanReport:
    """Scan every stack under ``outs`` with checkov and ``config``'s skips."""
    files = stack_files(outs)
    skips = read_skips(config, checkov)
    report, stderr = run_checkov(files, checkov=checkov, config=config)
    return evaluate(files, report, stderr, skips)


def render(report: ScanReport) -> str:
    """The per-stack table, then every failure, crash, parsing error and stale skip."""
    width = max([len(_label(p)) for p in report.stacks.values() for p in [p.file]] + [5])
    lines = [f"checkov {report.checkov_version} (terraform_json); skipped by .checkov.yaml: {', '.join(report.skips) or 'none'}",
             f"{'stack':<{width}}  passed  failed  skipped"]
    for result in report.stacks.values():
        failed = len(result.failed) + len(result.crashed)
        lines.append(f"{_label(result.file):<{width}}  {result.passed:>6}  {failed:>6}  {len(result.skipped):>7}")
    totals = (sum(r.passed for r in report.stacks.values()),
              sum(len(r.failed) + len(r.crashed) for r in report.stacks.values()),
              sum(len(r.skipped) for r in report.stacks.values()))
    lines.append(f"{'total':<{width}}  {totals[0]:>6}  {totals[1]:>6}  {totals[2]:>7}")
    for result in report.stacks.values():
        lines += [f"FAILED  {finding.describe()}" for finding in result.failed]
        lines += [f"CRASHED {finding.describe()}: the check did not run; fix or skip it with a reason in .checkov.yaml"
                  for finding in result.crashed]
    lines += [f"PARSE ERROR {item}" for item in report.parsing_errors]
    lines += [f"warning: {check_id} is skipped in .checkov.yaml but passes on every stack: remove the skip"
              for check_id in report.stale_skips]
    return "\n".join(lines)


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()).parent)
    except ValueError:
        return str(path.parent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", action="append", type=Path,
                        help=f"synthesized output folder (repeatable). Defaults to {' and '.join(DEFAULT_OUTS)}")
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV, help="checkov executable (default: .venv-scan/bin/checkov)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="checkov config file (default: .checkov.yaml)")
    args = parser.parse_args(argv)
    outs = args.out or [Path(name) for name in DEFAULT_OUTS]
    try:
        report = scan(outs, checkov=args.checkov, config=args.config)
    except ScanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
