"""Change review for pull requests: readable synth diffs and risk-flagged plan reports.

``python -m tools.review synth-diff BASE HEAD`` compares two ``cdktf.out`` trees;
``python -m tools.review plan-report PLAN_JSON...`` reports ``terraform show -json`` plans.
Both print Markdown for a pull-request comment; see ``tools/review/README.md``.
"""

from .changes import AttributeChange, ResourceChange, ReviewInputError
from .plan_report import PlanReport, StackPlan, build_report, load_plan
from .risk import RULES, Finding, Rule, assess, assess_all
from .synth_diff import StackDiff, SynthDiff, diff_dirs, diff_trees

__all__ = [
    "AttributeChange", "Finding", "PlanReport", "RULES", "ResourceChange", "ReviewInputError", "Rule",
    "StackDiff", "StackPlan", "SynthDiff", "assess", "assess_all", "build_report", "diff_dirs", "diff_trees",
    "load_plan",
]
