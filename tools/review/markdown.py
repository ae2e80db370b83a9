"""Markdown rendering of synth diffs and plan reports for a pull-request comment.

Layout (both reports): a title, one summary table, the flagged changes (high first) as a table,
then per stack the full detail inside ``<details>`` so the comment fits on one screen.
Output is deterministic (sorted, no timestamps, no absolute paths): it is snapshot-tested.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from .changes import MASK, MAX_VALUE_CHARS, UNKNOWN, AttributeChange, ResourceChange
from .plan_report import PlanReport, StackPlan
from .risk import HIGH, MEDIUM, SEVERITIES, Finding
from .synth_diff import StackDiff, SynthDiff

BADGE = {HIGH: "🔴 high", MEDIUM: "🟠 medium"}
ACTION_LABEL = {"create": "create", "update": "update", "replace": "replace", "delete": "delete",
                "move": "move", "import": "import", "forget": "forget"}
MAX_ATTRIBUTES = 25
MAX_DIFF_LINES = 40
MAX_DIFF_LINE_CHARS = 240


# ---------------------------------------------------------------------------------------------
# small pieces


def code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """Table-cell safe: pipes escaped (also inside code spans, as GitHub requires), one line."""
    return text.replace("|", "\\|").replace("\n", " ")


def value_text(value: Any) -> str:
    """A value as a reviewer reads it: JSON, masked, unknowns spelled out, long ones cut."""
    if value is UNKNOWN:
        return "(known after apply)"
    if value == MASK:
        return MASK
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
    if len(text) > MAX_VALUE_CHARS:
        text = f"{text[:MAX_VALUE_CHARS - 20]}… ({len(text)} chars)"
    return text


def attribute_line(attribute: AttributeChange) -> str:
    old = "(absent)" if attribute.old is None else value_text(attribute.old)
    new = "(absent)" if attribute.new is None else value_text(attribute.new)
    return f"{code(attribute.path)}: {code(old)} → {code(new)}"


def where(change: ResourceChange) -> str:
    """The address, with the construct path when known."""
    return code(change.address) + (f" ({code(change.construct_path)})" if change.construct_path else "")


def _long_text(attribute: AttributeChange) -> bool:
    old, new = attribute.old, attribute.new
    return (not attribute.sensitive and isinstance(old, str) and isinstance(new, str) and old != MASK
            and ("\n" in old + new or max(len(old), len(new)) > MAX_VALUE_CHARS))


def _readable_lines(text: str) -> list[str]:
    """Lines to diff: JSON documents (IAM policies...) pretty-printed, other text as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text.splitlines()
    return json.dumps(value, indent=2, sort_keys=True).splitlines() if isinstance(value, (dict, list)) else [text]


def line_diff(old: str, new: str, indent: str) -> list[str]:
    """A fenced ``diff`` block of what changed in a long string (container declaration, script),
    a line of context around each change, at most MAX_DIFF_LINES lines."""
    lines = [line if len(line) <= MAX_DIFF_LINE_CHARS else line[:MAX_DIFF_LINE_CHARS] + "…"
             for line in difflib.unified_diff(_readable_lines(old), _readable_lines(new), lineterm="", n=1)][2:]
    shown = lines[:MAX_DIFF_LINES]
    if len(lines) > len(shown):
        shown.append(f"… {len(lines) - len(shown)} more diff lines")
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", "\n".join(shown))), default=0))
    return [f"{indent}{fence}diff", *(f"{indent}{line}" for line in shown), f"{indent}{fence}"]


def attribute_lines(attributes: list[AttributeChange], indent: str = "  ", *, only_new: bool = False) -> list[str]:
    """Bullets of changed attributes; values that only become unknown (computed, known after
    apply) are summed up in one line, as they are in every replace; long strings are diffed
    line by line."""
    pending = [a.path for a in attributes if a.new is UNKNOWN and not a.sensitive and not only_new]
    attributes = [a for a in attributes if a.path not in pending]
    lines = []
    for attribute in attributes[:MAX_ATTRIBUTES]:
        if only_new:
            lines.append(f"{indent}- {code(attribute.path)} = {code(value_text(attribute.new))}")
        elif _long_text(attribute):
            lines.append(f"{indent}- {code(attribute.path)}: changed lines")
            lines += line_diff(attribute.old, attribute.new, indent + "  ")
        else:
            lines.append(f"{indent}- {attribute_line(attribute)}")
    if len(attributes) > MAX_ATTRIBUTES:
        lines.append(f"{indent}- … and {len(attributes) - MAX_ATTRIBUTES} more")
    if pending:
        names = ", ".join(pending[:8]) + (", …" if len(pending) > 8 else "")
        lines.append(f"{indent}- known after apply ({len(pending)}): {names}")
    return lines


def group_by_change(findings: list[Finding]) -> list[tuple[ResourceChange, str, list[str]]]:
    """One row per change: (change, worst severity, messages high first), worst changes first."""
    rows: dict[int, tuple[ResourceChange, str, list[str]]] = {}
    for f in findings:  # findings come high first, so the first one seen is the worst
        change, severity, messages = rows.setdefault(id(f.change), (f.change, f.severity, []))
        messages.append(f.message)
    return sorted(rows.values(), key=lambda r: ((HIGH, MEDIUM).index(r[1]), r[0].stack, r[0].address))


def severity_summary(findings: list[Finding]) -> str:
    """``🔴 1 high, 🟠 2 medium`` counting changes by their worst finding, or ``—``."""
    worst = [severity for _, severity, _ in group_by_change(findings)]
    parts = [f"{BADGE[s].split()[0]} {n} {s}" for s in (HIGH, MEDIUM) if (n := worst.count(s))]
    return ", ".join(parts) or "—"


def flagged_rows(findings: list[Finding]) -> list[dict]:
    """One row per flagged change (what the table shows; ``--findings`` writes them as JSON)."""
    return [{"severity": severity, "stack": c.stack, "action": ACTION_LABEL.get(c.action, c.action),
             "address": c.address, "construct_path": c.construct_path, "why": "; ".join(messages)}
            for c, severity, messages in group_by_change(findings)]


def findings_table(findings: list[Finding]) -> list[str]:
    """The flagged-changes table, between ``<!-- flagged -->`` markers (the PR comment shows one
    table over all reports instead, see comment.py)."""
    if not findings:
        return ["<!-- flagged -->", "**No flagged changes.**", "<!-- /flagged -->", ""]
    lines = ["<!-- flagged -->", f"**Flagged changes** ({severity_summary(findings)})", "",
             "| risk | stack | action | address | why |", "|---|---|---|---|---|"]
    for r in flagged_rows(findings):
        construct = f" ({code(r['construct_path'])})" if r["construct_path"] else ""
        lines.append("| " + " | ".join(cell(x) for x in (
            BADGE[r["severity"]], code(r["stack"]), r["action"], code(r["address"]) + construct, r["why"])) + " |")
    return lines + ["", "<!-- /flagged -->", ""]


def _details(summary: str, body: list[str]) -> list[str]:
    while body and not body[-1]:
        body = body[:-1]
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# synth diff


def _count_text(counts: list[tuple[int, str]]) -> str:
    return ", ".join(f"{n} {label}" for n, label in counts if n) or "no changes"


def _synth_counts(stack: StackDiff) -> list[tuple[int, str]]:
    return [(len(stack.of("create")), "added"), (len(stack.of("delete")), "removed"),
            (len(stack.of("update")), "changed"), (len(stack.of("replace")), "replaced"),
            (len(stack.of("move")), "moved")]


def render_synth_diff(diff: SynthDiff, title: str = "Synthesized Terraform: base → pull request") -> str:
    """The synth-diff comment: summary table, flagged changes, per-stack details."""
    lines = [f"### {title}", ""]
    if not diff.stacks:
        return "\n".join(lines + ["No stacks on either side.", ""])
    lines += ["| stack | status | added | removed | changed | replaced | outputs / settings |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for s in diff.stacks:
        extra = len([c for c in s.changes if c.type == "output"]) + len(s.of("create", "update", "delete", kind="settings"))
        if s.status == "removed":
            row = [code(s.name), f"removed ({s.resource_count} resources)", "", "", "", "", ""]
        else:
            row = [code(s.name), s.status if s.status != "added" else f"added ({s.resource_count} resources)",
                   str(len(s.of("create"))), str(len(s.of("delete"))), str(len(s.of("update", "move"))),
                   str(len(s.of("replace"))), str(extra)]
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    lines += ["", *findings_table(diff.findings)]
    for s in diff.stacks:
        if s.status != "unchanged":
            status = f"{s.status} ({s.resource_count} resources)" if s.status in ("added", "removed") else ""
            lines += _details(f"<code>{_html(s.name)}</code>: {_html(status or _count_text(_synth_counts(s)))}",
                              _synth_stack_body(s))
    return "\n".join(lines).rstrip() + "\n"


def _synth_stack_body(s: StackDiff) -> list[str]:
    body: list[str] = []
    if s.status == "removed":
        (change,) = s.changes
        body += [f"Stack removed from the app ({s.resource_count} resources no longer managed by this code):", ""]
        body += [f"- {code(a)}" for a in change.before["addresses"]]
        return body
    sections = [
        ("Added", s.of("create"), lambda c: [f"- {where(c)}"]),
        ("Removed", s.of("delete"), lambda c: [f"- {where(c)}"]),
        ("Replaced: an argument the provider cannot change in place changed", [c for c in s.of("replace") if not c.renamed],
         lambda c: [f"- {where(c)} ({c.order}): {c.reason}", *attribute_lines(c.attributes)]),
        ("Replaced: the logical id changed, Terraform destroys and re-creates", [c for c in s.of("replace") if c.renamed],
         lambda c: [f"- {where(c)} ← {code(c.previous_address or '')}"]),
        ("Moved (a `moved` block keeps the resource)", s.of("move"),
         lambda c: [f"- {where(c)} ← {code(c.previous_address or '')}", *attribute_lines(c.attributes)]),
        ("Changed", s.of("update"), lambda c: [f"- {where(c)}", *attribute_lines(c.attributes)]),
    ]
    outputs = [c for c in s.changes if c.type == "output"]
    settings = s.of("create", "update", "delete", kind="settings")
    for heading, changes, render in sections:
        if changes:
            body += [f"**{heading}** ({len(changes)})", ""]
            for c in changes:
                body += render(c)
            body.append("")
    if outputs:
        body += [f"**Outputs** ({len(outputs)})", ""]
        for c in outputs:
            verb = {"create": "added", "delete": "removed", "update": "changed"}[c.action]
            body += [f"- {verb} {code(c.address.removeprefix('output.'))}"
                     + (" (sensitive: values masked)" if c.reason == "sensitive" else "")]
            if c.action == "update":
                body += attribute_lines(c.attributes)
        body.append("")
    if settings:
        body += [f"**Stack settings** ({len(settings)})", ""]
        for c in settings:
            body += [f"- {code(c.address)}", *attribute_lines(c.attributes)]
        body.append("")
    return body


# ---------------------------------------------------------------------------------------------
# plan report


def _plan_counts(s: StackPlan) -> str:
    names = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
             "move": "moved", "import": "imported", "forget": "forgotten"}
    return _count_text([(s.counts.get(a, 0), label) for a, label in names.items()])


def render_plan_report(report: PlanReport, title: str = "Terraform plan") -> str:
    """The plan-report comment: counts per stack, flagged changes, per-stack details."""
    lines = [f"### {title}", ""]
    lines += ["| stack | create | update | replace | delete | risk |", "|---|---:|---:|---:|---:|---|"]
    totals = {a: 0 for a in ("create", "update", "replace", "delete")}
    for s in report.stacks:
        for a in totals:
            totals[a] += s.counts.get(a, 0)
        flagged = [f for f in report.findings if f.change.stack == s.name]
        name = code(s.name) + (" (plan errored: partial)" if s.errored else "")
        lines.append("| " + " | ".join(cell(x) for x in (
            name, *(str(s.counts.get(a, 0)) for a in totals), severity_summary(flagged))) + " |")
    if len(report.stacks) > 1:
        lines.append("| **total** | " + " | ".join(f"**{n}**" for n in totals.values())
                     + f" | {cell(severity_summary(report.findings))} |")
    lines += ["", *findings_table(report.findings)]
    for s in report.stacks:
        if s.changes or s.outputs:
            lines += _details(f"<code>{_html(s.name)}</code>: {_html(_plan_counts(s))}", _plan_stack_body(s, report))
    if not any(s.changes for s in report.stacks):
        lines += ["No changes: the infrastructure matches the configuration.", ""]
    return "\n".join(lines).rstrip() + "\n"


def badges(findings: list[Finding]) -> dict[int, str]:
    """id(change) -> the severity its row shows, for changes folded into another finding too."""
    found: dict[int, str] = {}
    for f in (g for finding in findings for g in finding.with_folded()):
        current = found.get(id(f.change))
        if current is None or SEVERITIES.index(f.severity) < SEVERITIES.index(current):
            found[id(f.change)] = f.severity
    return found


def _plan_stack_body(s: StackPlan, report: PlanReport) -> list[str]:
    body: list[str] = []
    flagged = badges(report.findings)
    for c in s.changes:
        badge = f" {BADGE[flagged[id(c)]].split()[0]}" if id(c) in flagged else ""
        head = f"- **{ACTION_LABEL[c.action]}**{f' ({c.order})' if c.order else ''}{badge} {where(c)}"
        if c.reason:
            head += f": {c.reason}"
        body.append(head)
        if c.action == "create":
            body += attribute_lines(c.attributes, only_new=True)
        elif c.action != "delete":
            body += attribute_lines(c.attributes)
    if s.outputs:
        body += ["", f"**Outputs** ({len(s.outputs)})", ""]
        for c in s.outputs:
            body += [f"- **{ACTION_LABEL[c.action]}** {code(c.address.removeprefix('output.'))}",
                     *attribute_lines(c.attributes)]
    return body
