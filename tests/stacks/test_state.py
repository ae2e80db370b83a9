"""State location rules (``stacks.state``) without a synthesis."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.state import (
    LegacyState,
    StateLocationError,
    adopt_legacy_state,
    find_legacy_state,
    local_state_path,
    state_file,
)


def test_local_state_path_leaves_the_output_folder():
    assert local_state_path("ml-serving-dev") == "../../../state/ml-serving-dev.tfstate"
    outdir = Path("/work/project/cdktf.out")
    stack_dir = outdir / "stacks" / "ml-serving-dev"
    assert (stack_dir / local_state_path("ml-serving-dev")).resolve() == state_file(outdir, "ml-serving-dev")
    assert state_file(outdir, "ml-serving-dev") == Path("/work/project/state/ml-serving-dev.tfstate")


def test_legacy_state_and_its_backup_are_found_and_moved(tmp_path: Path):
    outdir = tmp_path / "cdktf.out"
    stack_dir = outdir / "stacks" / "ml-serving-dev"
    stack_dir.mkdir(parents=True)
    (stack_dir / "terraform.tfstate").write_text("state")
    (stack_dir / "terraform.tfstate.backup").write_text("backup")
    (outdir / "stacks" / "ml-serving-prod").mkdir()
    found = find_legacy_state(outdir)
    target = tmp_path / "state" / "ml-serving-dev.tfstate"
    assert found == [
        LegacyState(stack_dir / "terraform.tfstate", target),
        LegacyState(stack_dir / "terraform.tfstate.backup", target.with_name("ml-serving-dev.tfstate.backup")),
    ]
    adopt_legacy_state(found)
    assert target.read_text() == "state" and target.with_name("ml-serving-dev.tfstate.backup").read_text() == "backup"
    assert not (stack_dir / "terraform.tfstate").exists()


def test_fails_when_state_is_at_both_places(tmp_path: Path):
    outdir = tmp_path / "cdktf.out"
    stack_dir = outdir / "stacks" / "ml-serving-dev"
    stack_dir.mkdir(parents=True)
    (stack_dir / "terraform.tfstate").write_text("old")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "ml-serving-dev.tfstate").write_text("new")
    with pytest.raises(StateLocationError, match="state of ml-serving-dev exists at the old place and at .*compare them"):
        find_legacy_state(outdir)
    assert (stack_dir / "terraform.tfstate").read_text() == "old", "nothing is moved"


def test_no_output_folder_means_no_legacy_state(tmp_path: Path):
    assert find_legacy_state(tmp_path / "missing") == []
