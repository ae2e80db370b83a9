"""`python -m tools.review comment`: one flagged table over every report, the digest record,
and parts that fit GitHub's comment limit without cutting an item."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tools.review import __main__ as cli
from tools.review import comment

ROW = {"severity": "high", "stack": "ml-serving-dev", "action": "replace", "address": "google_redis_instance.cache",
       "construct_path": "cache/redis", "why": "replaced (destroyed, then created; forced by tier): loses the cache's data"}


def report(title: str, rows: int, items: int, flagged: bool = True) -> str:
    """A report shaped like ours: title, summary table, flagged section, per-stack details."""
    lines = [f"### {title}", "", "| stack | create |", "|---|---:|"] + [f"| `s{i}` | {i} |" for i in range(rows)] + [""]
    if flagged:
        lines += ["<!-- flagged -->", "**Flagged changes** (🔴 1 high)", "", "| risk | why |", "|---|---|",
                  "| 🔴 high | x |", "", "<!-- /flagged -->", ""]
    lines += ["<details>", "<summary><code>ml-serving-dev</code>: many</summary>", ""]
    for i in range(items):
        lines += [f"- **update** `google_compute_thing.{title.split()[0].lower()}_{i}`", f"  - `a`: `{i}` → `{i + 1}`",
                  "  - `metadata.script`: changed lines", "    ```diff", "    -old line", "    +new line", "    ```"]
    return "\n".join(lines + ["", "</details>", ""])


def reports(tmp_path: Path, items: int = 3) -> Path:
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "1-synth-diff.md").write_text(report("Synthesized Terraform", 2, items))
    (folder / "1-synth-diff.findings.json").write_text(json.dumps([{**ROW, "severity": "high", "why": "synth reason"}]))
    (folder / "2-offline-plan.md").write_text(report("Offline plan", 2, items))
    (folder / "2-offline-plan.findings.json").write_text(json.dumps([
        ROW, {**ROW, "severity": "medium", "address": "google_compute_url_map.lb", "construct_path": None,
              "action": "update", "why": "traffic routing changes"}]))
    return folder


def test_the_flagged_changes_are_one_table_over_every_report(tmp_path):
    body = comment.assemble(reports(tmp_path), "0123456789abcdef")

    assert body.count("**Flagged changes**") == 1 and "<!-- flagged -->" not in body
    assert body.index("**Flagged changes** (🔴 1 high, 🟠 1 medium)") < body.index("### Synthesized Terraform")
    assert ("| 🔴 high | `ml-serving-dev` | replace | `google_redis_instance.cache` (`cache/redis`) | replaced (destroyed, "
            "then created; forced by tier): loses the cache's data | synth diff, offline plan |") in body
    assert "| 🟠 medium | `ml-serving-dev` | update | `google_compute_url_map.lb` | traffic routing changes | offline plan |" in body


def test_a_long_review_is_split_between_items_and_table_rows(tmp_path):
    folder = reports(tmp_path, items=120)
    (folder / "0-notes.md").write_text(report("Notes", 200, 0, flagged=False))
    limit = 4000

    parts = comment.frame(comment.split(comment.assemble(folder, "0123456789abcdef"), limit), "0123456789abcdef")

    assert len(parts) > 5 and all(len(p) <= limit for p in parts)
    assert all(p.startswith(f"{comment.MARKER}\n<!-- part {i} of {len(parts)} -->\n") for i, p in enumerate(parts, 1))
    assert "(part 2 of" in parts[1] and "_Part 1 of" in parts[0]
    text = "\n".join(parts)
    for i, tag in [(i, tag) for i in range(120) for tag in ("synthesized", "offline")]:  # every item whole, once
        whole = (f"- **update** `google_compute_thing.{tag}_{i}`\n  - `a`: `{i}` → `{i + 1}`\n  - `metadata.script`: "
                 "changed lines\n    ```diff\n    -old line\n    +new line\n    ```")
        assert sum(whole in p for p in parts) == 1, (tag, i)
    for p in parts:  # every <details> opened in a part is closed in it; tables keep their header
        assert p.count("<details>") == p.count("</details>")
        rows = [line for line in p.splitlines() if re.match(r"\| `s\d+` \|", line)]
        if rows:
            assert "| stack | create |\n|---|---:|" in p
    assert "<summary><code>ml-serving-dev</code>: many (continued)</summary>" in text
    assert text.count("| `s199` | 199 |") == 1


def test_cli_writes_the_parts_with_the_digest_record(tmp_path, capsys):
    digests = tmp_path / "digests.txt"
    digests.write_text("ml-serving-dev sha256:" + "a" * 64 + "\n")

    code = cli.main(["comment", str(reports(tmp_path)), "--out", str(tmp_path / "out"), "--head", "0123456789abcdef",
                     "--digest", str(digests)])

    assert code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "comment-1.md")
    first = (tmp_path / "out" / "comment-1.md").read_text()
    assert first.startswith(f"{comment.MARKER}\n<!-- part 1 of 1 -->\n## Infrastructure review for 0123456789ab\n")
    assert f"<!-- terraform-plan-digest head=0123456789abcdef ml-serving-dev=sha256:{'a' * 64} -->" in first


def test_cli_missing_report_dir_is_a_one_line_error(tmp_path, capsys):
    code = cli.main(["comment", str(tmp_path / "nope"), "--out", str(tmp_path / "out"), "--head", "abc"])

    assert code == 2
    assert capsys.readouterr().err.strip() == (f"review comment: {tmp_path / 'nope'}: no such directory "
                                               "(expected the run's report files)")
