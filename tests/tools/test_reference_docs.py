"""docs/ is generated from the code (tools/reference_docs.py) and must match it."""

from __future__ import annotations

from pathlib import Path

from constructs_lib import specs
from tools import reference_docs


def test_committed_docs_are_current():
    stale = reference_docs.stale()
    assert not stale, f"docs/ is stale ({', '.join(stale)}): run `.venv/bin/python -m tools.reference_docs`"


def test_every_spec_and_construct_has_a_page_linked_from_the_index(tmp_path: Path):
    reference_docs.write(tmp_path)
    index = (tmp_path / "README.md").read_text()
    for name in [*specs.__all__, *(name for _, name in reference_docs.CONSTRUCTS)]:
        assert (tmp_path / f"{name}.md").is_file() and f"]({name}.md)" in index


def test_a_spec_page_lists_every_field_with_type_default_and_why():
    page = reference_docs.spec_page(specs.ModelSpec, set(specs.__all__))
    for field, info in specs.ModelSpec.model_fields.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{field}` |"))
        assert info.description and " ".join(info.description.split())[:40] in row
    assert "| `scaling` | [ScalingSpec](ScalingSpec.md) | `ScalingSpec()` |" in page
    assert "| `name` | str | `**required**` |" in page


def test_every_spec_field_says_what_it_is_for():
    undocumented = [f"{name}.{field}" for name in specs.__all__
                    for field, info in getattr(specs, name).model_fields.items() if not info.description]
    assert not undocumented, f"fields without a description (default and why): {undocumented}"


def test_stale_pages_are_named(tmp_path: Path):
    reference_docs.write(tmp_path)
    (tmp_path / "ModelSpec.md").write_text("old\n")
    (tmp_path / "Gone.md").write_text("left over\n")
    assert reference_docs.stale(tmp_path) == ["Gone.md", "ModelSpec.md"]
