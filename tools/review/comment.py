"""The pull-request comment: the reports of one run, the flagged changes once, split to fit GitHub.

``python -m tools.review comment REPORT_DIR --out DIR --head SHA [--digest FILE]`` reads
``REPORT_DIR/*.md`` in name order (``0-notes.md``, ``1-synth-diff.md``, ``2-offline-plan.md``,
``3-cloud-plan.md``...) and their ``*.findings.json`` (written by ``--findings``), and writes
``DIR/comment-1.md``, ``comment-2.md``...:

* the first part starts with ONE table of flagged changes over all reports (a change flagged by
  several reports is one row: the worst risk, the reason of the most authoritative report, i.e.
  the last in name order, and where it was seen); each report's own table is left out;
* every part is at most ``--limit`` characters (GitHub refuses comments over 65,536): parts break
  between blocks, between table rows (the header repeated) and between the items of a
  ``<details>`` section (closed, and reopened as "continued"); a single item is never cut unless
  it alone exceeds a part (then at a line break);
* every part starts with :data:`MARKER` and says which part it is; the first carries the plan
  digests (:mod:`tools.review.digest`) and the reviewed commit in a hidden marker.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .changes import ReviewInputError
from .markdown import BADGE, cell, code
from .risk import HIGH, MEDIUM

MARKER = "<!-- terraform-plan-review -->"
LIMIT = 65_000  # GitHub's limit is 65,536 characters; the rest is headroom for the part header
FLAGGED = re.compile(r"<!-- flagged -->\n.*?<!-- /flagged -->\n?", re.DOTALL)


# ---------------------------------------------------------------------------------------------
# one flagged table


def _source(path: Path) -> str:
    """``2-offline-plan.findings.json`` -> ``offline plan``."""
    return re.sub(r"^\d+-", "", path.name.removesuffix(".findings.json")).replace("-", " ")


def combined_rows(report_dir: Path) -> list[dict]:
    """Flagged rows of every ``*.findings.json``, one per (stack, address)."""
    rows: dict[tuple[str, str], dict] = {}
    for path in sorted(report_dir.glob("*.findings.json")):
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ReviewInputError(f"{path}: not JSON ({error})") from None
        for row in found:
            key = (row["stack"], row["address"])
            seen = rows[key]["seen"] + [_source(path)] if key in rows else [_source(path)]
            worst = min([row["severity"]] + ([rows[key]["severity"]] if key in rows else []), key=(HIGH, MEDIUM).index)
            rows[key] = {**row, "severity": worst, "seen": seen}  # later reports are more authoritative
    return sorted(rows.values(), key=lambda r: ((HIGH, MEDIUM).index(r["severity"]), r["stack"], r["address"]))


def flagged_table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["**No flagged changes.**", ""]
    counts = [f"{BADGE[s].split()[0]} {n} {s}" for s in (HIGH, MEDIUM) if (n := [r["severity"] for r in rows].count(s))]
    lines = [f"**Flagged changes** ({', '.join(counts)})", "",
             "| risk | stack | action | address | why | seen in |", "|---|---|---|---|---|---|"]
    for r in rows:
        where = code(r["address"]) + (f" ({code(r['construct_path'])})" if r.get("construct_path") else "")
        lines.append("| " + " | ".join(cell(x) for x in (
            BADGE[r["severity"]], code(r["stack"]), r["action"], where, r["why"], ", ".join(r["seen"]))) + " |")
    return lines + [""]


def assemble(report_dir: Path | str, head: str, digest_marker: str | None = None) -> str:
    """The whole comment body (before splitting)."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise ReviewInputError(f"{report_dir}: no such directory (expected the run's report files)")
    reports = [FLAGGED.sub("", p.read_text()).strip() for p in sorted(report_dir.glob("*.md"))]
    lines = [f"## Infrastructure review for {head[:12]}", ""]
    if digest_marker:
        lines += [digest_marker, ""]
    lines += flagged_table(combined_rows(report_dir))
    return "\n".join(lines) + "\n" + "\n\n---\n\n".join(r for r in reports if r) + "\n"


# ---------------------------------------------------------------------------------------------
# splitting


def _units(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Top-level blocks: ("details", lines), ("table", lines), ("block", lines) - blank-line separated."""
    units: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.startswith("<details>"):
            end = next((j for j in range(i, len(lines)) if lines[j].startswith("</details>")), len(lines) - 1)
            units.append(("details", lines[i:end + 1]))
            i = end + 1
        elif line.startswith("|"):
            end = i
            while end + 1 < len(lines) and lines[end + 1].startswith("|"):
                end += 1
            units.append(("table", lines[i:end + 1]))
            i = end + 1
        else:
            end = i
            while end + 1 < len(lines) and lines[end + 1].strip() and not lines[end + 1].startswith(("<details>", "|")):
                end += 1
            units.append(("block", lines[i:end + 1]))
            i = end + 1
    return units


def _items(body: list[str]) -> list[list[str]]:
    """The items of a details body: a list item with its indented lines, or one other line."""
    items: list[list[str]] = []
    for line in body:
        if items and line.startswith((" ", "\t")) and items[-1] and items[-1][0].startswith("- "):
            items[-1].append(line)
        else:
            items.append([line])
    return items


class _Parts:
    """Greedy packing of lines into parts of at most `room` characters."""

    def __init__(self, room: int):
        self.room = room
        self.parts: list[list[str]] = [[]]

    def size(self, extra: list[str] = ()) -> int:
        return sum(len(line) + 1 for line in [*self.parts[-1], *extra])

    def fits(self, lines: list[str]) -> bool:
        return self.size(lines) <= self.room

    def new(self) -> None:
        if self.parts[-1]:
            self.parts.append([])

    def add(self, lines: list[str]) -> None:
        """Add `lines` whole (a new part if needed); cut at line breaks only if they exceed a part."""
        if not self.fits(lines):
            self.new()
        for line in lines:
            if not self.fits([line]):
                self.new()
            self.parts[-1].append(line[: self.room - 1])


def split(text: str, limit: int = LIMIT) -> list[str]:
    """`text` in parts of at most `limit` characters, each later completed by :func:`frame`."""
    parts = _Parts(limit - 300)  # the part header (marker, title, "part i of n") and the reopened details
    for kind, lines in _units(text.splitlines()):
        if parts.fits(lines + [""]):
            parts.add(lines + [""])
        elif kind == "table":
            header, rows = lines[:2], lines[2:]
            parts.add(header + rows[:1])
            for row in rows[1:]:
                if not parts.fits([row]):
                    parts.new()
                    parts.add(header)
                parts.add([row])
            parts.add([""])
        elif kind == "details":
            opening, closing = lines[:2], ["", "</details>", ""]
            summary = lines[1].replace("</summary>", " (continued)</summary>")
            parts.add(opening)
            for item in _items(lines[2:-1]):
                if not parts.fits(item + closing):
                    parts.add(closing)
                    parts.new()
                    parts.add(["<details>", summary, ""])
                parts.add(item)
            parts.add(closing)
        else:
            parts.add(lines + [""])
    return ["\n".join(p).strip() + "\n" for p in parts.parts if any(line.strip() for line in p)]


def frame(parts: list[str], head: str) -> list[str]:
    """Each part with the sticky marker and, from the second on, a title saying which part it is."""
    n = len(parts)
    framed = []
    for i, body in enumerate(parts, 1):
        title = "" if i == 1 else f"## Infrastructure review for {head[:12]} (part {i} of {n})\n\n"
        note = f"\n_Part 1 of {n}: the review continues in the next comment._\n" if i == 1 and n > 1 else ""
        framed.append(f"{MARKER}\n<!-- part {i} of {n} -->\n{title}{body}{note}")
    return framed


def write(report_dir: Path | str, out: Path | str, head: str, *, digest_marker: str | None = None,
          limit: int = LIMIT) -> list[Path]:
    """Assemble, split and write ``out/comment-<i>.md``; returns the files in order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("comment-*.md"):
        stale.unlink()
    files = []
    for i, text in enumerate(frame(split(assemble(report_dir, head, digest_marker), limit), head), 1):
        path = out / f"comment-{i}.md"
        path.write_text(text)
        files.append(path)
    return files
