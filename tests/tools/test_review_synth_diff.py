"""`python -m tools.review synth-diff` on hand-made before/after cdktf.out trees (no cdktf, no terraform)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from tools.review import __main__ as cli
from tools.review.synth_diff import diff_trees

STACK = "ml-serving-dev"


class MarkdownSnapshot(SingleFileSnapshotExtension):
    """One readable .md file per snapshot."""

    _write_mode = WriteMode.TEXT
    file_extension = "md"


def res(path: str, **body) -> dict:
    """A resource body with cdktf's construct-path metadata, as `python main.py` writes it."""
    return {"//": {"metadata": {"path": f"{STACK}/{path}", "uniqueId": path.replace("/", "_")}}, **body}


def base_stack() -> dict:
    return {
        "//": {"metadata": {"backend": "local", "stackName": STACK, "version": "0.21.0"}},
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}},
                      "required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
        "provider": {"google": [{"project": "my-project", "region": "us-central1"}]},
        "resource": {
            "google_compute_network": {"network_default_09D2BCBB": res(
                "network/default", name="ml-dev-vpc", auto_create_subnetworks=False)},
            "google_compute_subnetwork": {"network_subnet_1": res(
                "network/subnet", name="ml-dev-subnet", ip_cidr_range="10.0.0.0/20",
                network="${google_compute_network.network_default_09D2BCBB.id}")},
            "google_compute_firewall": {"network_allow-hc_AB": res(
                "network/allow-hc", name="ml-dev-allow-hc", direction="INGRESS",
                network="${google_compute_network.network_default_09D2BCBB.id}",
                source_ranges=["35.191.0.0/16", "130.211.0.0/22"], allow=[{"protocol": "tcp", "ports": ["8080"]}],
                target_tags=["model-server"])},
            "google_compute_region_autoscaler": {"fleet_autoscaler_CD": res(
                "fleet/autoscaler", name="ml-dev-as", target="${google_compute_region_instance_group_manager.g.id}",
                autoscaling_policy=[{"min_replicas": 2, "max_replicas": 10}])},
            "google_redis_instance": {"cache_redis_EF": res(
                "cache/redis", name="ml-dev-cache", memory_size_gb=1, lifecycle={"prevent_destroy": True})},
            "google_secret_manager_secret_version": {"cache_auth_01": res(
                "cache/auth", secret="${google_secret_manager_secret.s.id}",
                secret_data="${google_redis_instance.cache_redis_EF.auth_string}")},
        },
        "output": {
            "network_self_link": {"value": "${google_compute_network.network_default_09D2BCBB.self_link}"},
            "redis_auth": {"value": "${google_redis_instance.cache_redis_EF.auth_string}", "sensitive": True},
        },
    }


def write_tree(root: Path, stacks: dict[str, dict]) -> Path:
    for name, body in stacks.items():
        (root / "stacks" / name).mkdir(parents=True)
        (root / "stacks" / name / "cdk.tf.json").write_text(json.dumps(body, indent=2))
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    return root


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["synth-diff", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def by_address(diff, address):
    (found,) = [c for s in diff.stacks for c in s.changes if c.address == address]
    return found


# ---------------------------------------------------------------------------------------------


def test_add_remove_change_with_paths_values_and_construct_paths(tmp_path, capsys):
    head = base_stack()
    r = head["resource"]
    r["google_compute_region_autoscaler"]["fleet_autoscaler_CD"]["autoscaling_policy"][0]["min_replicas"] = 1
    r["google_compute_region_autoscaler"]["fleet_autoscaler_CD"]["autoscaling_policy"][0]["max_replicas"] = 12
    del r["google_compute_subnetwork"]
    r["google_storage_bucket"] = {"models_bucket_77": res("models/bucket", name="ml-dev-models", location="US")}
    write_tree(tmp_path / "base", {STACK: base_stack()})
    write_tree(tmp_path / "head", {STACK: head})

    code, out, err = run(capsys, tmp_path / "base", tmp_path / "head")

    assert code == 0 and err == ""
    assert "| `ml-serving-dev` | changed | 1 | 1 | 1 | 0 | 0 |" in out
    assert "**Added** (1)\n\n- `google_storage_bucket.models_bucket_77` (`models/bucket`)" in out
    assert "**Removed** (1)\n\n- `google_compute_subnetwork.network_subnet_1` (`network/subnet`)" in out
    assert ("- `google_compute_region_autoscaler.fleet_autoscaler_CD` (`fleet/autoscaler`)\n"
            "  - `autoscaling_policy[0].max_replicas`: `10` → `12`\n"
            "  - `autoscaling_policy[0].min_replicas`: `2` → `1`\n") in out
    # lowering min_replicas is flagged medium; the unchanged resources are not listed at all
    assert "| 🟠 medium | `ml-serving-dev` | update | `google_compute_region_autoscaler.fleet_autoscaler_CD`" in out
    assert "capacity limit lowered: min_replicas lowered 2 -> 1" in out
    assert "google_compute_network.network_default_09D2BCBB" not in out.split("<details>")[1].split("**Changed**")[0]
    assert str(tmp_path) not in out  # no absolute paths in a report


def test_rename_with_identical_body_is_a_flagged_replace(tmp_path):
    head = base_stack()
    body = head["resource"]["google_compute_firewall"].pop("network_allow-hc_AB")
    body["//"]["metadata"]["path"] = f"{STACK}/network/allow-health-checks"
    head["resource"]["google_compute_firewall"]["network_allow-health-checks_12"] = body

    diff = diff_trees({STACK: base_stack()}, {STACK: head})

    change = by_address(diff, "google_compute_firewall.network_allow-health-checks_12")
    assert change.action == "replace" and change.renamed
    assert change.previous_address == "google_compute_firewall.network_allow-hc_AB"
    assert change.construct_path == "network/allow-health-checks"
    assert diff.stacks[0].of("create") == [] and diff.stacks[0].of("delete") == []
    (finding,) = diff.findings
    assert (finding.severity, finding.rule) == ("medium", "renamed")
    assert "destroys and re-creates" in finding.message


def test_rename_follows_references_to_renamed_resources(tmp_path):
    """Renaming the network construct renames the network and changes the subnet's reference:
    both are one rename each, not unrelated adds and removes."""
    text = json.dumps(base_stack()).replace("network_default_09D2BCBB", "network_vpc_11111111")
    head = json.loads(text)
    head["resource"]["google_compute_subnetwork"]["network_subnet_2"] = head["resource"][
        "google_compute_subnetwork"].pop("network_subnet_1")

    diff = diff_trees({STACK: base_stack()}, {STACK: head})

    renamed = {c.previous_address: c.address for c in diff.stacks[0].of("replace")}
    assert renamed == {"google_compute_network.network_default_09D2BCBB": "google_compute_network.network_vpc_11111111",
                       "google_compute_subnetwork.network_subnet_1": "google_compute_subnetwork.network_subnet_2"}
    assert {c.address for c in diff.stacks[0].of("update")} == {"google_compute_firewall.network_allow-hc_AB"}


def test_rename_of_a_stateful_resource_is_high_risk(tmp_path):
    head = base_stack()
    head["resource"]["google_redis_instance"]["cache_redis_99"] = head["resource"]["google_redis_instance"].pop(
        "cache_redis_EF")

    diff = diff_trees({STACK: base_stack()}, {STACK: head})

    assert [(f.severity, f.rule) for f in diff.findings] == [("high", "stateful-destroyed"), ("medium", "renamed")]
    assert "cache's data" in diff.findings[0].message


def test_moved_block_is_a_move_not_a_replace(tmp_path):
    head = base_stack()
    head["resource"]["google_redis_instance"]["cache_redis_99"] = head["resource"]["google_redis_instance"].pop(
        "cache_redis_EF")
    head["moved"] = [{"from": "google_redis_instance.cache_redis_EF", "to": "google_redis_instance.cache_redis_99"}]

    diff = diff_trees({STACK: base_stack()}, {STACK: head})

    change = by_address(diff, "google_redis_instance.cache_redis_99")
    assert change.action == "move" and not change.renamed
    assert [f.rule for f in diff.findings] == []


def test_same_body_twice_is_not_guessed_as_a_rename():
    base = base_stack()
    head = base_stack()
    body = head["resource"]["google_compute_network"].pop("network_default_09D2BCBB")
    head["resource"]["google_compute_network"]["a"] = copy.deepcopy(body)
    head["resource"]["google_compute_network"]["b"] = copy.deepcopy(body)

    stack = diff_trees({STACK: base}, {STACK: head}).stacks[0]

    assert stack.of("replace") == []
    assert [c.address for c in stack.of("create")] == ["google_compute_network.a", "google_compute_network.b"]


def test_sensitive_values_are_masked(tmp_path, capsys):
    base, head = base_stack(), base_stack()
    base["resource"]["google_sql_user"] = {"db_user": res("db/user", name="app", password="hunter2-old")}
    head["resource"]["google_sql_user"] = {"db_user": res("db/user", name="app", password="hunter2-new")}
    head["resource"]["google_secret_manager_secret_version"]["cache_auth_01"]["secret_data"] = "plain-text-secret"
    head["output"]["redis_auth"]["value"] = "${google_redis_instance.other.auth_string}"
    head["provider"]["google"][0]["access_token"] = "ya29.token-value"
    write_tree(tmp_path / "base", {STACK: base})
    write_tree(tmp_path / "head", {STACK: head})

    code, out, _ = run(capsys, tmp_path / "base", tmp_path / "head")

    assert code == 0
    for secret in ("hunter2", "plain-text-secret", "other.auth_string", "ya29", "cache_redis_EF.auth_string"):
        assert secret not in out
    assert "  - `password`: `(sensitive)` → `(sensitive)`" in out
    assert "  - `secret_data`: `(sensitive)` → `(sensitive)`" in out
    assert "- changed `redis_auth` (sensitive: values masked)\n  - `value`: `(sensitive)` → `(sensitive)`" in out
    assert "  - `google[0].access_token`: `(absent)` → `(sensitive)`" in out


def test_stacks_added_and_removed_as_a_whole(tmp_path, capsys):
    open_fw = base_stack()
    open_fw["resource"]["google_compute_firewall"]["network_allow-hc_AB"]["source_ranges"] = ["0.0.0.0/0"]
    write_tree(tmp_path / "base", {STACK: base_stack(), "ml-serving-old": base_stack()})
    write_tree(tmp_path / "head", {STACK: base_stack(), "ml-serving-new": open_fw})

    code, out, _ = run(capsys, tmp_path / "base", tmp_path / "head", "--fail-on", "high")

    assert code == 3  # the new stack opens a firewall to the internet
    assert "| `ml-serving-new` | added (6 resources) | 6 | 0 | 0 | 0 | 2 |" in out
    assert "| `ml-serving-old` | removed (6 resources) |" in out
    assert "| `ml-serving-dev` | unchanged |" in out
    assert "ingress open to the internet (0.0.0.0/0) on tcp:8080" in out
    assert "stack removed from the app" in out and "google_redis_instance" in out
    assert "- `google_redis_instance.cache_redis_EF`" in out.split("<code>ml-serving-old</code>")[1]


def test_backend_change_and_removed_protection_are_flagged(tmp_path):
    head = base_stack()
    head["terraform"]["backend"] = {"gcs": {"bucket": "tf-state", "prefix": "ml"}}
    del head["resource"]["google_redis_instance"]["cache_redis_EF"]["lifecycle"]

    diff = diff_trees({STACK: base_stack()}, {STACK: head})

    assert [(f.severity, f.rule, f.change.address) for f in diff.findings] == [
        ("high", "backend-changed", "terraform"),
        ("medium", "protection-lowered", "google_redis_instance.cache_redis_EF")]


def test_firewall_widened_by_new_range_and_port(tmp_path):
    head = base_stack()
    fw = head["resource"]["google_compute_firewall"]["network_allow-hc_AB"]
    fw["source_ranges"] = ["35.191.0.0/16", "130.211.0.0/22", "35.191.1.0/24", "10.0.0.0/8"]
    fw["allow"] = [{"protocol": "tcp", "ports": ["8080", "22"]}]

    (finding,) = diff_trees({STACK: base_stack()}, {STACK: head}).findings

    assert (finding.severity, finding.rule) == ("high", "firewall-widened")
    # 35.191.1.0/24 lies inside 35.191.0.0/16: not new
    assert finding.message == "ingress widened: new source ranges 10.0.0.0/8; new ports tcp:22"


def test_no_changes(tmp_path, capsys):
    write_tree(tmp_path / "base", {STACK: base_stack()})
    write_tree(tmp_path / "head", {STACK: base_stack()})

    code, out, _ = run(capsys, tmp_path / "base", tmp_path / "head", "--fail-on", "medium")

    assert code == 0
    assert "| `ml-serving-dev` | unchanged |" in out and "**No flagged changes.**" in out
    assert "<details>" not in out


def test_missing_dir_is_a_one_line_error(tmp_path, capsys):
    write_tree(tmp_path / "head", {STACK: base_stack()})

    code, out, err = run(capsys, tmp_path / "nope", tmp_path / "head")

    assert code == 2 and out == ""
    assert err.strip().endswith("nope: no such directory (expected a cdktf output dir with stacks/<stack>/cdk.tf.json)")
    assert len(err.strip().splitlines()) == 1


def test_broken_stack_json_is_a_one_line_error(tmp_path, capsys):
    write_tree(tmp_path / "base", {STACK: base_stack()})
    write_tree(tmp_path / "head", {STACK: base_stack()})
    (tmp_path / "head" / "stacks" / STACK / "cdk.tf.json").write_text("{ not json")

    code, out, err = run(capsys, tmp_path / "base", tmp_path / "head")

    assert code == 2 and out == ""
    assert "cdk.tf.json: not JSON (Expecting property name enclosed in double quotes" in err
    assert len(err.strip().splitlines()) == 1


def test_rendered_synth_diff_snapshot(tmp_path, capsys, snapshot):
    head = base_stack()
    r = head["resource"]
    r["google_compute_firewall"]["network_allow-hc_AB"]["source_ranges"].append("0.0.0.0/0")
    r["google_redis_instance"]["cache_redis_99"] = r["google_redis_instance"].pop("cache_redis_EF")
    r["google_compute_region_autoscaler"]["fleet_autoscaler_CD"]["autoscaling_policy"][0]["max_replicas"] = 4
    r["google_storage_bucket"] = {"models_bucket_77": res("models/bucket", name="ml-dev-models", location="US")}
    head["output"]["redis_auth"]["value"] = "${google_redis_instance.cache_redis_99.auth_string}"
    write_tree(tmp_path / "base", {STACK: base_stack()})
    prod = json.loads(json.dumps(base_stack()).replace(f"{STACK}/", "ml-serving-prod/"))
    write_tree(tmp_path / "head", {STACK: head, "ml-serving-prod": prod})

    code, out, _ = run(capsys, tmp_path / "base", tmp_path / "head", "--fail-on", "high")

    assert code == 3
    assert out == snapshot(extension_class=MarkdownSnapshot)


# ---------------------------------------------------------------------------------------------
# less noise: one finding per removed model, names of secrets shown, long strings diffed by line


def with_model(stack: dict, model: str) -> dict:
    """A model's resources as ModelService lays them out: identity + grants, fleet, autoscaler,
    and grants outside the model (cache secrets, model bucket) to its service account."""
    stack = copy.deepcopy(stack)
    r = stack["resource"]
    sa = f"model-{model}_identity_default_A1"
    member = f"${{google_service_account.{sa}.member}}"
    r.setdefault("google_service_account", {})[sa] = res(f"model-{model}/identity/default", account_id=f"ml-dev-{model}")
    r.setdefault("google_project_iam_member", {}).update({
        f"model-{model}_identity_role-logging_B{i}": res(f"model-{model}/identity/role-{role}", role=f"roles/{role}",
                                                         member=member, project="p")
        for i, role in enumerate(("logging.logWriter", "monitoring.metricWriter"))})
    r.setdefault("google_secret_manager_secret_iam_member", {})[f"cache_connect-{model}-auth_C1"] = res(
        f"cache/connect-{model}-auth", role="roles/secretmanager.secretAccessor", member=member,
        secret_id="${google_secret_manager_secret.s.id}")
    r.setdefault("google_compute_region_instance_group_manager", {})[f"model-{model}_fleet_group_D1"] = res(
        f"model-{model}/fleet/group", name=f"ml-dev-{model}", base_instance_name=model, region="us-central1",
        version=[{"instance_template": "${google_compute_instance_template.t.self_link_unique}"}])
    r.setdefault("google_compute_region_autoscaler", {})[f"model-{model}_autoscaler_E1"] = res(
        f"model-{model}/autoscaler", name=f"ml-dev-{model}-as", target="x",
        autoscaling_policy=[{"min_replicas": 1, "max_replicas": 3}])
    return stack


def test_a_removed_model_is_one_finding_with_its_grants_folded_in(tmp_path, capsys):
    write_tree(tmp_path / "base", {STACK: with_model(base_stack(), "resnet")})
    write_tree(tmp_path / "head", {STACK: base_stack()})

    code, out, err = run(capsys, tmp_path / "base", tmp_path / "head", "--fail-on", "high")

    assert code == 3 and err.strip() == "review synth-diff: 1 change(s) at or above high risk (--fail-on high)"
    flagged = [line for line in out.splitlines() if line.startswith("| 🔴") or line.startswith("| 🟠")]
    assert flagged == [
        "| 🔴 high | `ml-serving-dev` | delete | `model-resnet` | model `resnet` removed: its serving capacity and "
        "identity go; destroys 1 autoscaler, 3 grants, 1 instance group, 1 service account |"]
    assert "**Removed** (6)" in out  # the details still list every resource


def test_a_renamed_model_is_one_finding():
    diff = diff_trees({STACK: with_model(base_stack(), "resnet")}, {STACK: with_model(base_stack(), "resnet50")})

    (finding,) = diff.findings
    assert (finding.severity, finding.rule, finding.change.address) == ("high", "model-renamed", "model-resnet")
    assert finding.message.startswith("model `resnet` renamed to `resnet50`: every resource of the model is destroyed")


def test_grants_of_a_deleted_service_account_fold_into_it():
    base = base_stack()
    member = "${google_service_account.ops_sa_1.member}"
    base["resource"]["google_service_account"] = {"ops_sa_1": res("ops/sa", account_id="ml-dev-ops")}
    base["resource"]["google_project_iam_member"] = {
        "ops_logs_2": res("ops/logs", role="roles/logging.logWriter", member=member, project="p"),
        "ops_other_3": res("ops/other", role="roles/logging.logWriter", member="user:someone@example.com", project="p")}

    diff = diff_trees({STACK: base}, {STACK: base_stack()})

    assert [(f.rule, f.change.address) for f in diff.findings] == [
        ("iam-high", "google_project_iam_member.ops_other_3"), ("stateful-destroyed", "google_service_account.ops_sa_1")]
    assert diff.findings[1].message.endswith("; its 1 grant(s) go with it (roles/logging.logWriter)")


def test_the_name_of_a_secret_is_shown_its_value_is_not(tmp_path, capsys):
    base, head = base_stack(), base_stack()
    base["resource"]["google_secret_manager_secret"] = {"s_1": res("cache/auth-secret", secret_id="ml-dev-cache-auth")}
    head["resource"]["google_secret_manager_secret"] = {"s_1": res("cache/auth-secret", secret_id="ml-dev-cache-auth-2")}
    head["resource"]["google_secret_manager_secret_version"]["cache_auth_01"]["secret_data"] = "plain-text-secret"
    write_tree(tmp_path / "base", {STACK: base})
    write_tree(tmp_path / "head", {STACK: head})

    _, out, _ = run(capsys, tmp_path / "base", tmp_path / "head")

    assert '`secret_id`: `"ml-dev-cache-auth"` → `"ml-dev-cache-auth-2"`' in out
    assert "plain-text-secret" not in out and "  - `secret_data`: `(sensitive)` → `(sensitive)`" in out


def test_long_strings_are_diffed_line_by_line(tmp_path, capsys):
    declaration = "spec:\n  containers:\n  - name: model-server\n    image: \"r/resnet:{}\"\n    env:\n" + "".join(
        f"    - name: VAR_{i}\n      value: \"{i}\"\n" for i in range(20))
    base, head = base_stack(), base_stack()
    base["resource"]["google_compute_instance_template"] = {"t_1": res(
        "model-resnet/fleet/template", metadata={"gce-container-declaration": declaration.format("1.0.0")})}
    head["resource"]["google_compute_instance_template"] = {"t_1": res(
        "model-resnet/fleet/template", metadata={"gce-container-declaration": declaration.format("1.1.0")})}
    write_tree(tmp_path / "base", {STACK: base})
    write_tree(tmp_path / "head", {STACK: head})

    _, out, _ = run(capsys, tmp_path / "base", tmp_path / "head")

    assert ("  - `metadata.gce-container-declaration`: changed lines\n"
            "    ```diff\n"
            "    @@ -3,3 +3,3 @@\n"
            "       - name: model-server\n"
            "    -    image: \"r/resnet:1.0.0\"\n"
            "    +    image: \"r/resnet:1.1.0\"\n"
            "         env:\n"
            "    ```\n") in out
    assert "chars)" not in out  # not cut


def test_grants_of_a_new_service_account_are_one_finding():
    diff = diff_trees({STACK: base_stack()}, {STACK: with_model(base_stack(), "resnet")})

    assert [(f.severity, f.rule, f.change.address) for f in diff.findings] == [
        ("medium", "iam-change", "google_service_account.model-resnet_identity_default_A1")]
    assert diff.findings[0].message == ("new service account with 3 grant(s): roles/logging.logWriter, "
                                        "roles/monitoring.metricWriter, roles/secretmanager.secretAccessor")


def test_create_before_destroy_of_a_dependent_makes_a_replacement_create_first():
    """Terraform propagates create_before_destroy to what a resource depends on: a cache that a
    template (create_before_destroy) references is created first too, and with a fixed name the
    API refuses the second instance."""
    base = base_stack()
    base["resource"]["google_compute_instance_template"] = {"t_1": res(
        "model-resnet/fleet/template", name_prefix="ml-dev-resnet-", lifecycle={"create_before_destroy": True},
        metadata={"cache-host": "${google_redis_instance.cache_redis_EF.host}"})}
    del base["resource"]["google_redis_instance"]["cache_redis_EF"]["lifecycle"]
    head = copy.deepcopy(base)
    head["resource"]["google_redis_instance"]["cache_redis_EF"]["tier"] = "STANDARD_HA"

    diff = diff_trees({STACK: base}, {STACK: head})

    cache = by_address(diff, "google_redis_instance.cache_redis_EF")
    assert (cache.action, cache.order, cache.forced_by) == ("replace", "create, delete", ("tier",))
    assert [(f.rule, f.change.address) for f in diff.findings] == [
        ("stateful-destroyed", "google_redis_instance.cache_redis_EF"),
        ("name-collision", "google_redis_instance.cache_redis_EF")]
    assert diff.findings[1].message.startswith("replaced create-before-destroy under the same name `ml-dev-cache`")


def test_rules_read_single_blocks_as_cdktf_writes_them():
    """cdktf writes a single nested block as an object (``"autoscaling_policy": {...}``), a plan as a
    one-element list: the rules read both. A lowered maximum is flagged; a node-pool label change
    is GKE's in-place update, not a re-creation."""
    base, head = base_stack(), base_stack()
    for stack, max_replicas in ((base, 10), (head, 4)):
        stack["resource"]["google_compute_region_autoscaler"]["fleet_autoscaler_CD"]["autoscaling_policy"] = {
            "min_replicas": 2, "max_replicas": max_replicas}
        stack["resource"]["google_container_node_pool"] = {"cluster_pool_AA": res(
            "cluster/pool", name="gpu", cluster="c",
            node_config={"machine_type": "g2-standard-8", "labels": {"team": "ml" if stack is base else "ai"}})}

    diff = diff_trees({STACK: base}, {STACK: head})

    assert [(f.severity, f.rule, f.message) for f in diff.findings] == [
        ("medium", "autoscaler-lowered", "capacity limit lowered: max_replicas lowered 10 -> 4")]
