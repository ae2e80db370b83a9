"""Command line: ``python -m tools.review synth-diff BASE HEAD`` / ``plan-report PLAN_JSON...``
/ ``offline-plan BASE HEAD --out DIR``.

synth-diff and plan-report print a Markdown report on stdout. Exit status:

* 0 — report printed, nothing at or above ``--fail-on`` (default ``none``: never fails on risk);
* 3 — report printed, and a change at or above ``--fail-on`` was found (one line on stderr says so);
* 2 — bad input or usage (missing dir/file, not JSON, not a plan / cdktf output): one line on stderr.

offline-plan prints one line per stack and exits 0, 1 if Terraform failed on a stack (its
message on stderr), 2 on bad input or when no terraform is installed.
"""

from __future__ import annotations

import argparse
import sys

from . import markdown, risk
from .changes import ReviewInputError
from .plan_report import build_report
from .synth_diff import diff_dirs

EXIT_OK, EXIT_INPUT, EXIT_RISK = 0, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.review", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fail_on = dict(choices=("high", "medium", "none"), default="none",
                   help="exit 3 when a change at or above this risk is found (default: none)")

    synth = commands.add_parser("synth-diff", help="compare two cdktf.out trees (base, pull request)")
    synth.add_argument("base", metavar="BASE", help="cdktf output dir of the base branch")
    synth.add_argument("head", metavar="HEAD", help="cdktf output dir of the pull request")
    synth.add_argument("--title", default="Synthesized Terraform: base → pull request")
    synth.add_argument("--fail-on", **fail_on)

    plan = commands.add_parser("plan-report", help="report `terraform show -json` plans, risky changes first")
    plan.add_argument("plans", nargs="+", metavar="PLAN_JSON",
                      help="plan JSON files; each one's parent folder names the stack")
    plan.add_argument("--title", default="Terraform plan")
    plan.add_argument("--fail-on", **fail_on)

    offline = commands.add_parser("offline-plan", help="offline plans of HEAD against BASE (apply base, plan head)")
    offline.add_argument("base", metavar="BASE", help="cdktf output dir of the base branch")
    offline.add_argument("head", metavar="HEAD", help="cdktf output dir of the pull request")
    offline.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<stack>/plan.json (DIR is replaced)")
    offline.add_argument("--workdir", default=None, metavar="DIR",
                         help="scratch root for Terraform working dirs (default: .tfharness/review)")
    return parser


def _offline_plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tools.tfdouble import harness

    from .offline_plan import plan_trees

    if not harness.terraform_available():
        print(f"review offline-plan: {harness.UNAVAILABLE_REASON}", file=sys.stderr)
        return EXIT_INPUT
    try:
        lines, failures = plan_trees(args.base, args.head, args.out,
                                     work_root=Path(args.workdir) if args.workdir else None)
    except ReviewInputError as error:
        print(f"review offline-plan: {error}", file=sys.stderr)
        return EXIT_INPUT
    print("\n".join(lines))
    for name, error in failures:
        print(f"--- {name} ---\n{error}", file=sys.stderr)
    return 1 if failures else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "offline-plan":
        return _offline_plan(args)
    try:
        if args.command == "synth-diff":
            result = diff_dirs(args.base, args.head)
            text = markdown.render_synth_diff(result, args.title)
        else:
            result = build_report(args.plans)
            text = markdown.render_plan_report(result, args.title)
    except ReviewInputError as error:
        print(f"review {args.command}: {error}", file=sys.stderr)
        return EXIT_INPUT
    sys.stdout.write(text)
    sys.stdout.flush()
    if risk.fails(result.findings, args.fail_on):
        limit = risk.SEVERITIES.index(args.fail_on)
        count = len({id(f.change) for f in result.findings if risk.SEVERITIES.index(f.severity) <= limit})
        print(f"review {args.command}: {count} change(s) at or above {args.fail_on} risk (--fail-on {args.fail_on})",
              file=sys.stderr)
        return EXIT_RISK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
