"""`python -m tools.review plan-digest`: one hash per stack of what a plan changes, and the
comparison a deploy makes with the reviewed record."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tools.review import __main__ as cli
from tools.review import digest
from tools.tfdouble import harness, mirror

SECRET = "s3cr3t-auth-value"


def rc(address: str, actions: list[str], before: dict | None, after: dict | None, **change) -> dict:
    return {"address": address, "mode": "managed", "type": address.split(".")[0],
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": {},
                       "before_sensitive": {}, "after_sensitive": {}, **change}}


PLAN = {"format_version": "1.2", "resource_changes": [
    rc("google_redis_instance.cache", ["update"], {"memory_size_gb": 1, "tier": "BASIC", "auth_string": "old"},
       {"memory_size_gb": 2, "tier": "BASIC", "auth_string": SECRET},
       before_sensitive={"auth_string": True}, after_sensitive={"auth_string": True}),
    rc("google_compute_network.vpc", ["create"], None, {"name": "vpc", "id": None}, after_unknown={"id": True}),
    rc("google_compute_firewall.old", ["delete"], {"name": "old"}, None),
    rc("google_compute_subnetwork.same", ["no-op"], {"name": "s"}, {"name": "s"}),
    {"address": "data.google_client_config.c", "mode": "data", "type": "google_client_config",
     "change": {"actions": ["read"], "before": None, "after": {"access_token": "t"}}},
]}


def edited(**changes) -> dict:
    plan = copy.deepcopy(PLAN)
    for address, values in changes.items():
        entry = next(r for r in plan["resource_changes"] if r["address"] == address)
        for side, update in values.items():
            entry["change"][side].update(update)
    return plan


def test_digest_is_what_a_reviewer_saw_and_never_a_secret():
    entries = digest.entries(PLAN)

    assert [e["address"] for e in entries] == [  # sorted; no-ops and reads left out
        "google_compute_firewall.old", "google_compute_network.vpc", "google_redis_instance.cache"]
    assert entries[1]["changes"] == [["id", None, digest.UNKNOWN], ["name", None, "vpc"]]
    assert entries[2]["changes"] == [["auth_string", "(sensitive)", "(sensitive)"], ["memory_size_gb", 1, 2]]
    assert SECRET not in json.dumps(entries, default=str)
    assert digest.of_plan(PLAN).startswith("sha256:") and len(digest.of_plan(PLAN)) == 71


@pytest.mark.parametrize(("label", "plan", "same"), [
    ("the same plan, resource order shuffled", {**PLAN, "resource_changes": PLAN["resource_changes"][::-1]}, True),
    ("drift in an attribute the change does not touch", edited(**{
        "google_redis_instance.cache": {"before": {"tier": "STANDARD_HA"}, "after": {"tier": "STANDARD_HA"}}}), True),
    ("a new value", edited(**{"google_redis_instance.cache": {"after": {"memory_size_gb": 4}}}), False),
    ("a changed secret (its value is not in the digest, that it changed is)",
     edited(**{"google_redis_instance.cache": {"after": {"auth_string": "old"}}}), False),
    ("another action", {**PLAN, "resource_changes": [
        {**r, "change": {**r["change"], "actions": ["delete", "create"]}} if r["address"].endswith("cache") else r
        for r in PLAN["resource_changes"]]}, False),
])
def test_digest_changes_exactly_when_the_reviewed_change_does(label, plan, same):
    assert (digest.of_plan(plan) == digest.of_plan(PLAN)) is same, label


def save(folder: Path, plan: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(plan))
    return folder / "plan.json"


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["plan-digest", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_prints_one_digest_per_stack_and_compares_with_the_review_comment(tmp_path, capsys):
    dev, prod = save(tmp_path / "ml-serving-dev", PLAN), save(tmp_path / "ml-serving-prod", edited(**{
        "google_redis_instance.cache": {"after": {"memory_size_gb": 8}}}))
    code, out, _ = run(capsys, dev, prod)
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["ml-serving-dev", "ml-serving-prod"]
    recorded = dict(line.split() for line in lines)
    comment = tmp_path / "comment.md"
    comment.write_text(f"## Infrastructure review\n\n{digest.marker(recorded, 'abc123')}\n\n| table |\n")

    code, out, err = run(capsys, dev, prod, "--reviewed", comment, "--head", "abc123")
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"ml-serving-dev: matches the reviewed plan ({recorded['ml-serving-dev']})",
                                f"ml-serving-prod: matches the reviewed plan ({recorded['ml-serving-prod']})"]

    changed = save(tmp_path / "later" / "ml-serving-prod", PLAN)
    code, out, _ = run(capsys, changed, "--reviewed", comment)
    assert code == 4
    assert out.strip() == (f"ml-serving-prod: differs from the reviewed plan (reviewed {recorded['ml-serving-prod']}, "
                           f"now {recorded['ml-serving-dev']})")

    code, _, err = run(capsys, dev, "--reviewed", comment, "--head", "def456")
    assert code == 4 and err.strip() == "review plan-digest: the reviewed plans are for commit abc123, not def456"

    other = save(tmp_path / "ml-serving-gke", PLAN)
    code, out, _ = run(capsys, other, "--reviewed", comment)
    assert code == 4 and out.startswith("ml-serving-gke: not in the reviewed plans")


def test_cli_bad_input_is_a_one_line_error(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "nope" / "plan.json")
    assert (code, out) == (2, "") and err.strip().endswith("nope/plan.json: no such file")


@pytest.mark.terraform
@pytest.mark.slow
def test_planning_the_same_change_again_gives_the_same_digest(tmp_path, tfdouble_home):
    """What the deploy does: plan again and compare. Two plans of one change agree; a further
    edit does not."""
    base = {"terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
            "provider": {"google": [{"project": "p", "region": "us-central1"}]},
            "resource": {"google_redis_instance": {"cache": {"name": "c", "tier": "BASIC", "memory_size_gb": 1}}}}
    head = copy.deepcopy(base)
    head["resource"]["google_redis_instance"]["cache"]["tier"] = "STANDARD_HA"
    tf = harness.OfflineTerraform(tmp_path / "work", mirror=mirror.install(tfdouble_home))
    tf.write_config(base)
    tf.apply()
    tf.write_config(head)

    reviewed, deployed = digest.of_plan(tf.plan()), digest.of_plan(tf.plan())
    head["resource"]["google_redis_instance"]["cache"]["memory_size_gb"] = 2
    tf.write_config(head)

    assert reviewed == deployed != digest.of_plan(tf.plan())
