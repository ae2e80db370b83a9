"""Command line: ``python -m tools.review synth-diff BASE HEAD`` / ``plan-report PLAN_JSON...``.

Prints the Markdown report on stdout. Exit status:

* 0 — report printed, nothing at or above ``--fail-on`` (default ``none``: never fails on risk);
* 3 — report printed, and a change at or above ``--fail-on`` was found (one line on stderr says so);
* 2 — bad input or usage (missing dir/file, not JSON, not a plan / cdktf output): one line on stderr.
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
