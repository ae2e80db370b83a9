"""Command line: ``python -m tools.review synth-diff BASE HEAD`` / ``plan-report PLAN_JSON...``
/ ``offline-plan BASE HEAD --out DIR`` / ``plan-digest PLAN_JSON... [--reviewed FILE]`` /
``comment REPORT_DIR --out DIR --head SHA``.

synth-diff and plan-report print a Markdown report on stdout (``--findings FILE``: its flagged
rows as JSON too). Exit status:

* 0 — report printed, nothing at or above ``--fail-on`` (default ``none``: never fails on risk);
* 3 — report printed, and a change at or above ``--fail-on`` was found (one line on stderr says so);
* 2 — bad input or usage (missing dir/file, not JSON, not a plan / cdktf output): one line on stderr.

offline-plan prints one line per stack (and per replaced resource) and exits 0, 1 if Terraform
failed on a stack (its message on stderr), 2 on bad input or when no terraform is installed.
plan-digest prints ``<stack> sha256:<hex>`` per plan; with ``--reviewed`` it compares them with
the reviewed record: 0 all match, 4 one differs or was not reviewed (a line per stack), 2 bad input.
comment writes the comment parts and prints their paths: 0, or 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import markdown, risk
from .changes import ReviewInputError
from .plan_report import build_report
from .synth_diff import diff_dirs

EXIT_OK, EXIT_INPUT, EXIT_RISK, EXIT_NOT_REVIEWED = 0, 2, 3, 4


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
    synth.add_argument("--findings", metavar="FILE", help="also write the flagged rows as JSON (for `comment`)")

    plan = commands.add_parser("plan-report", help="report `terraform show -json` plans, risky changes first")
    plan.add_argument("plans", nargs="+", metavar="PLAN_JSON",
                      help="plan JSON files; each one's parent folder names the stack")
    plan.add_argument("--title", default="Terraform plan")
    plan.add_argument("--fail-on", **fail_on)
    plan.add_argument("--findings", metavar="FILE", help="also write the flagged rows as JSON (for `comment`)")

    offline = commands.add_parser("offline-plan", help="offline plans of HEAD against BASE (apply base, plan head)")
    offline.add_argument("base", metavar="BASE", help="cdktf output dir of the base branch")
    offline.add_argument("head", metavar="HEAD", help="cdktf output dir of the pull request")
    offline.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<stack>/plan.json (DIR is replaced)")
    offline.add_argument("--workdir", default=None, metavar="DIR",
                         help="scratch root for Terraform working dirs (default: .tfharness/review)")

    digest = commands.add_parser("plan-digest", help="one hash per stack of what a plan changes (see digest.py)")
    digest.add_argument("plans", nargs="+", metavar="PLAN_JSON", help="plan JSON files; each one's parent folder names the stack")
    digest.add_argument("--reviewed", metavar="FILE",
                        help="compare with the reviewed record (a review comment, or plan-digest output): exit 4 if not equal")
    digest.add_argument("--head", metavar="SHA", help="with --reviewed: the record must be for this commit")

    comment = commands.add_parser("comment", help="the pull-request comment parts from a run's reports")
    comment.add_argument("reports", metavar="REPORT_DIR", help="the run's *.md reports and *.findings.json")
    comment.add_argument("--out", required=True, metavar="DIR", help="writes DIR/comment-<i>.md")
    comment.add_argument("--head", required=True, metavar="SHA", help="the reviewed commit")
    comment.add_argument("--digest", metavar="FILE", help="plan-digest output of the real plans, recorded in the comment")
    comment.add_argument("--limit", type=int, default=None, help="characters per comment (default 65000)")
    return parser


def _plan_digest(args: argparse.Namespace) -> int:
    from . import digest

    current = digest.of_files(args.plans)
    if not args.reviewed:
        print("\n".join(f"{stack} {value}" for stack, value in sorted(current.items())))
        return EXIT_OK
    try:
        head, reviewed = digest.parse(Path(args.reviewed).read_text())
    except OSError as error:
        raise ReviewInputError(f"{args.reviewed}: cannot read ({type(error).__name__})") from None
    if args.head and head != args.head:
        print(f"review plan-digest: the reviewed plans are for commit {head or '(none recorded)'}, not {args.head}",
              file=sys.stderr)
        return EXIT_NOT_REVIEWED
    results = digest.compare(current, reviewed)
    print("\n".join(line for _, _, line in results))
    return EXIT_OK if all(ok for _, ok, _ in results) else EXIT_NOT_REVIEWED


def _comment(args: argparse.Namespace) -> int:
    from . import comment, digest

    marker = None
    if args.digest:
        try:
            _, digests = digest.parse(Path(args.digest).read_text())
        except OSError as error:
            raise ReviewInputError(f"{args.digest}: cannot read ({type(error).__name__})") from None
        marker = digest.marker(digests, args.head)
    files = comment.write(args.reports, args.out, args.head, digest_marker=marker, limit=args.limit or comment.LIMIT)
    print("\n".join(str(f) for f in files))
    return EXIT_OK


def _offline_plan(args: argparse.Namespace) -> int:
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
    if args.command in ("plan-digest", "comment"):
        try:
            return (_plan_digest if args.command == "plan-digest" else _comment)(args)
        except ReviewInputError as error:
            print(f"review {args.command}: {error}", file=sys.stderr)
            return EXIT_INPUT
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
    if args.findings:
        Path(args.findings).write_text(json.dumps(markdown.flagged_rows(result.findings), indent=1) + "\n")
    if risk.fails(result.findings, args.fail_on):
        limit = risk.SEVERITIES.index(args.fail_on)
        count = len({id(f.change) for f in result.findings if risk.SEVERITIES.index(f.severity) <= limit})
        print(f"review {args.command}: {count} change(s) at or above {args.fail_on} risk (--fail-on {args.fail_on})",
              file=sys.stderr)
        return EXIT_RISK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
