"""`python -m tools.review plan-report` on REAL plans: the offline harness plans hand-written
Terraform JSON (no provider bindings, no cdktf) through create, update, delete and replace."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tools.review import __main__ as cli
from tools.review.plan_report import build_report
from tools.tfdouble import harness, mirror

PROJECT = "my-project"
SA = f"serviceAccount:fleet@{PROJECT}.iam.gserviceaccount.com"


class MarkdownSnapshot(SingleFileSnapshotExtension):
    """One readable .md file per snapshot."""

    _write_mode = WriteMode.TEXT
    file_extension = "md"


def meta(path: str) -> dict:
    """cdktf's construct-path metadata; Terraform ignores "//" keys, the report reads them."""
    return {"//": {"metadata": {"path": f"ml-serving-test/{path}", "uniqueId": path.replace("/", "_")}}}


BASE = {
    "terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
    "provider": {"google": [{"project": PROJECT, "region": "us-central1"}]},
    "resource": {
        "google_redis_instance": {"cache": {
            **meta("cache/redis"), "name": "ml-test-cache", "memory_size_gb": 1, "tier": "STANDARD_HA",
            "auth_enabled": True}},
        "google_storage_bucket": {"models": {**meta("models/bucket"), "name": "ml-test-models", "location": "US"}},
        "google_compute_firewall": {"hc": {
            **meta("network/allow-health-checks"), "name": "ml-test-allow-hc", "network": "default",
            "direction": "INGRESS", "source_ranges": ["35.191.0.0/16", "130.211.0.0/22"],
            "allow": [{"protocol": "tcp", "ports": ["8080"]}], "target_tags": ["model-server"]}},
        "google_compute_region_autoscaler": {"fleet": {
            **meta("fleet/autoscaler"), "name": "ml-test-as",
            "target": f"projects/{PROJECT}/regions/us-central1/instanceGroupManagers/ml-test-fleet",
            "autoscaling_policy": [{"min_replicas": 2, "max_replicas": 10}]}},
        "google_project_iam_member": {"fleet_logs": {
            **meta("fleet/identity/logs"), "project": PROJECT, "role": "roles/logging.logWriter", "member": SA}},
        "google_compute_url_map": {"lb": {
            **meta("lb/url-map"), "name": "ml-test-lb",
            "default_service": f"projects/{PROJECT}/global/backendServices/ml-test-bs-a"}},
    },
    "output": {"redis_auth": {"value": "${google_redis_instance.cache.auth_string}", "sensitive": True}},
}


def updated() -> dict:
    config = copy.deepcopy(BASE)
    r = config["resource"]
    r["google_compute_firewall"]["hc"]["source_ranges"].append("0.0.0.0/0")
    r["google_compute_firewall"]["hc"]["allow"][0]["ports"].append("22")
    r["google_compute_region_autoscaler"]["fleet"]["autoscaling_policy"][0]["min_replicas"] = 1
    r["google_project_iam_member"]["fleet_logs"]["role"] = "roles/editor"
    r["google_compute_url_map"]["lb"]["default_service"] = f"projects/{PROJECT}/global/backendServices/ml-test-bs-b"
    r["google_storage_bucket"]["models"]["labels"] = {"team": "ml"}
    return config


def deleted() -> dict:
    config = copy.deepcopy(BASE)
    del config["resource"]["google_redis_instance"]
    del config["resource"]["google_project_iam_member"]
    del config["output"]
    return config


def save(plans: Path, stack: str, plan: dict, config: dict) -> Path:
    """Lay the plan out as tools.plan_offline does: <stack>/plan.json next to cdk.tf.json."""
    folder = plans / stack
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    (folder / "plan.json").write_text(json.dumps(plan, indent=2))
    return folder / "plan.json"


@pytest.fixture(scope="module")
def plans(tmp_path_factory, tfdouble_home_factory) -> dict[str, Path]:
    """create / update / delete / replace plans of the same resources, from one working dir."""
    root = tmp_path_factory.mktemp("review-plans")
    out = root / "plans"
    # A private harness home: the shared .tfharness mirror may be rewritten by a concurrent run
    # (another checkout, another interpreter), which would change the lock-file hashes mid-test.
    tf = harness.OfflineTerraform(root / "work", mirror=mirror.install(tfdouble_home_factory(root / "tfdouble-home")))
    found = {}
    tf.write_config(BASE)
    found["create"] = save(out, "ml-create", tf.plan(), BASE)
    tf.apply("plan.bin")
    tf.write_config(updated())
    found["update"] = save(out, "ml-update", tf.plan(), updated())
    tf.write_config(deleted())
    found["delete"] = save(out, "ml-delete", tf.plan(), deleted())
    tf.write_config(BASE)
    found["replace"] = save(out, "ml-replace", tf.plan(
        replace=["google_redis_instance.cache", "google_storage_bucket.models"]), BASE)
    found["state"] = root / "state" / "state.json"
    found["state"].parent.mkdir()
    found["state"].write_text(json.dumps(tf.state()))
    return found


pytestmark = [pytest.mark.terraform, pytest.mark.slow]


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["plan-report", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def findings(path: Path) -> list[tuple[str, str, str]]:
    return [(f.severity, f.rule, f.change.address) for f in build_report([path]).findings]


# ---------------------------------------------------------------------------------------------


def test_create_counts_and_medium_findings(plans, capsys):
    code, out, err = run(capsys, plans["create"], "--fail-on", "high")

    assert code == 0 and err == ""
    assert "| `ml-create` | 6 | 0 | 0 | 0 | 🟠 2 medium |" in out
    assert findings(plans["create"]) == [
        ("medium", "firewall-new-ingress", "google_compute_firewall.hc"),
        ("medium", "iam-change", "google_project_iam_member.fleet_logs")]
    assert "new ingress rule: 130.211.0.0/22, 35.191.0.0/16 -> tcp:8080" in out
    assert f"grants roles/logging.logWriter to {SA}" in out
    # details: construct paths from the cdk.tf.json next to the plan, values of the new resources
    assert "- **create** `google_redis_instance.cache` (`cache/redis`)\n" in out
    assert '  - `tier` = `"STANDARD_HA"`' in out


def test_update_after_apply_is_risk_flagged(plans, capsys):
    code, out, err = run(capsys, plans["update"], "--fail-on", "high")

    assert code == 3
    assert err.strip() == "review plan-report: 2 change(s) at or above high risk (--fail-on high)"
    assert "| `ml-update` | 0 | 4 | 1 | 0 | 🔴 2 high, 🟠 2 medium |" in out
    assert findings(plans["update"]) == [
        ("high", "firewall-open", "google_compute_firewall.hc"),
        ("high", "firewall-widened", "google_compute_firewall.hc"),
        ("high", "iam-high", "google_project_iam_member.fleet_logs"),  # primitive role
        ("high", "iam-high", "google_project_iam_member.fleet_logs"),  # role is force-new: replaced
        ("medium", "autoscaler-lowered", "google_compute_region_autoscaler.fleet"),
        ("medium", "url-map-traffic", "google_compute_url_map.lb")]
    assert "ingress open to the internet (0.0.0.0/0) on tcp:22, tcp:8080; ingress widened: new ports tcp:22" in out
    assert "primitive role roles/editor" in out
    assert "  - `autoscaling_policy[0].min_replicas`: `2` → `1`" in out
    assert "  - `labels.team`: `(absent)` → `\"ml\"`" in out  # unflagged change, still in the details
    assert "traffic routing changes: default_service" in out
    # flagged rows come first, the storage bucket is only in the details
    assert out.index("Flagged changes") < out.index("<details>") < out.index("google_storage_bucket.models")


def test_delete_after_apply_is_high(plans, capsys):
    code, out, _ = run(capsys, plans["delete"], "--fail-on", "high")

    assert code == 3
    assert "| `ml-delete` | 0 | 0 | 0 | 2 | 🔴 2 high |" in out
    assert findings(plans["delete"]) == [
        ("high", "iam-high", "google_project_iam_member.fleet_logs"),
        ("high", "stateful-destroyed", "google_redis_instance.cache")]
    assert "destroyed: loses the cache's data, host IP and AUTH string" in out
    # no construct path: the cdk.tf.json next to the plan no longer has the resource
    assert "- **delete** 🔴 `google_redis_instance.cache`: removed from the configuration" in out


def test_replace_by_request_is_high(plans, capsys):
    code, out, _ = run(capsys, plans["replace"], "--fail-on", "medium")

    assert code == 3
    assert "| `ml-replace` | 0 | 0 | 2 | 0 | 🔴 2 high |" in out
    assert [f[1:] for f in findings(plans["replace"])] == [
        ("stateful-destroyed", "google_redis_instance.cache"), ("stateful-destroyed", "google_storage_bucket.models")]
    assert ("- **replace** (delete, create) 🔴 `google_storage_bucket.models` (`models/bucket`): "
            "replacement requested (-replace)") in out


def test_sensitive_values_from_state_never_reach_the_report(plans, capsys):
    state = json.loads(plans["state"].read_text())
    (redis,) = [r for r in state["values"]["root_module"]["resources"] if r["type"] == "google_redis_instance"]
    auth = redis["values"]["auth_string"]
    assert auth  # the double stores a fake AUTH string, marked sensitive by the schema

    _, out, _ = run(capsys, plans["create"], plans["update"], plans["delete"], plans["replace"])

    assert auth not in out


def test_multi_stack_report_sorted_with_totals(plans, capsys):
    code, out, _ = run(capsys, plans["update"], plans["create"], plans["replace"], plans["delete"])

    assert code == 0  # --fail-on defaults to none
    rows = [line for line in out.splitlines() if line.startswith("| `ml-") or line.startswith("| **total**")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "`ml-create`", "`ml-delete`", "`ml-replace`", "`ml-update`", "**total**"]
    assert rows[-1] == "| **total** | **6** | **4** | **3** | **2** | 🔴 6 high, 🟠 4 medium |"
    assert out.count("<details>") == 4


def test_rendered_report_snapshot(plans, capsys, snapshot):
    _, out, _ = run(capsys, plans["update"], plans["delete"], plans["replace"], "--title", "Offline plan")

    assert str(plans["update"].parents[1]) not in out  # no absolute paths
    assert out == snapshot(extension_class=MarkdownSnapshot)


# ---------------------------------------------------------------------------------------------
# malformed input: one line on stderr, nothing on stdout, exit 2


@pytest.mark.parametrize(("content", "message"), [
    ("terraform plan output, not JSON", "not JSON (Expecting value: line 1 column 1 (char 0))"),
    ('{"foo": 1}', "not a Terraform plan (expected the output of `terraform show -json PLANFILE`)"),
    ('[1, 2]', "not a Terraform plan (expected the output of `terraform show -json PLANFILE`)"),
    ('{"format_version": "1.2", "planned_values": {}, "resource_changes": [{"address": "x"}]}',
     "malformed plan: resource_changes[0] has no address/change.actions"),
    ('{"format_version": "2.0", "planned_values": {}}', "unsupported plan format_version '2.0' (1.x is supported)"),
])
def test_malformed_input_is_a_one_line_error(tmp_path, capsys, content, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "plan.json").write_text(content)

    code, out, err = run(capsys, tmp_path / "bad" / "plan.json")

    assert (code, out) == (2, "")
    assert err == f"review plan-report: {tmp_path / 'bad' / 'plan.json'}: {message}\n"


def test_a_state_is_not_a_plan(plans, capsys):
    code, out, err = run(capsys, plans["state"])

    assert (code, out) == (2, "")
    assert "state.json: a state (terraform show -json without a plan file), expected the output of" in err


def test_missing_file_is_a_one_line_error(tmp_path, capsys, plans):
    code, out, err = run(capsys, plans["create"], tmp_path / "nope.json")

    assert (code, out) == (2, "")
    assert err == f"review plan-report: {tmp_path / 'nope.json'}: no such file\n"


# ---------------------------------------------------------------------------------------------
# offline-plan: what the pull-request workflow runs without credentials


def test_offline_plan_applies_base_then_plans_head(tmp_path, tfdouble_home, capsys, monkeypatch):
    monkeypatch.setenv("TFDOUBLE_HOME", str(tfdouble_home))  # private mirror (see `plans`)
    for side, config in (("base", BASE), ("head", updated())):
        (tmp_path / side / "stacks" / "ml-serving-test").mkdir(parents=True)
        (tmp_path / side / "stacks" / "ml-serving-test" / "cdk.tf.json").write_text(json.dumps(config))
    (tmp_path / "base" / "stacks" / "ml-serving-gone").mkdir()
    (tmp_path / "base" / "stacks" / "ml-serving-gone" / "cdk.tf.json").write_text(json.dumps(deleted()))

    code = cli.main(["offline-plan", str(tmp_path / "base"), str(tmp_path / "head"),
                     "--out", str(tmp_path / "plans"), "--workdir", str(tmp_path / "work")])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "ml-serving-test: base applied, plan 1 to add, 4 to change, 1 to destroy (1 replaced)",
        "  google_project_iam_member.fleet_logs: delete, create (forced by role)",
        "ml-serving-gone: only in base, not planned (removed from the app)"]
    written = sorted(p.name for p in (tmp_path / "plans" / "ml-serving-test").iterdir())
    assert written == ["base.cdk.tf.json", "cdk.tf.json", "plan.json"]
    report = build_report([tmp_path / "plans" / "ml-serving-test" / "plan.json"])
    assert {c.address: c.action for c in report.stacks[0].changes} == {
        "google_compute_firewall.hc": "update", "google_compute_region_autoscaler.fleet": "update",
        "google_compute_url_map.lb": "update", "google_project_iam_member.fleet_logs": "replace",
        "google_storage_bucket.models": "update"}
    assert report.stacks[0].changes[0].construct_path == "network/allow-health-checks"


def test_offline_plan_bad_tree_is_a_one_line_error(tmp_path, capsys):
    code = cli.main(["offline-plan", str(tmp_path / "nope"), str(tmp_path), "--out", str(tmp_path / "plans")])

    assert code == 2
    assert capsys.readouterr().err.strip().endswith("nope: no such directory (expected a cdktf output dir with "
                                                     "stacks/<stack>/cdk.tf.json)")
