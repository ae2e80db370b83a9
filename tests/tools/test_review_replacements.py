"""Day-2 changes the provider turns into replacements, end to end: synth-diff (no Terraform),
offline-plan (the double answers RequiresReplace) and plan-report with --fail-on high.

The pull request changes a cache's tier (replaced: data, host and AUTH lost), the load
balancer's domains (the managed certificate is replaced, create before destroy), a label (every
instance template is replaced) and the cache's memory (an in-place update)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tools.review import __main__ as cli

STACK = "ml-serving-dev"


def meta(path: str) -> dict:
    return {"//": {"metadata": {"path": f"{STACK}/{path}", "uniqueId": path.replace("/", "_")}}}


BASE = {
    "terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
    "provider": {"google": [{"project": "my-project", "region": "us-central1"}]},
    "resource": {
        "google_redis_instance": {"cache": {**meta("cache/redis"), "name": "ml-dev-cache", "tier": "BASIC",
                                            "memory_size_gb": 1}},
        "google_compute_managed_ssl_certificate": {"cert": {
            **meta("lb/managed-certificate"), "name": "ml-dev-cert", "managed": {"domains": ["a.example.com"]},
            "lifecycle": {"create_before_destroy": True}}},
        "google_compute_instance_template": {"template": {
            **meta("model-resnet/fleet/template"), "name_prefix": "ml-dev-resnet-", "machine_type": "n2-standard-4",
            "labels": {"env": "dev", "team": "ml-platform"},
            "disk": [{"source_image": "cos-cloud/cos-stable", "boot": True}],
            "network_interface": [{"network": "default"}], "lifecycle": {"create_before_destroy": True}}},
    },
}


def head() -> dict:
    config = copy.deepcopy(BASE)
    r = config["resource"]
    r["google_redis_instance"]["cache"].update(tier="STANDARD_HA", memory_size_gb=2)
    r["google_compute_managed_ssl_certificate"]["cert"]["managed"]["domains"] = ["b.example.com"]
    r["google_compute_instance_template"]["template"]["labels"]["team"] = "ml-serving"
    return config


def tree(root: Path, config: dict) -> Path:
    (root / "stacks" / STACK).mkdir(parents=True)
    (root / "stacks" / STACK / "cdk.tf.json").write_text(json.dumps(config, indent=2))
    return root


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("replacements")
    return tree(root / "base", BASE), tree(root / "head", head())


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_synth_diff_flags_force_new_changes_as_replacements(trees, capsys):
    code, out, err = run(capsys, "synth-diff", *trees, "--fail-on", "high")

    assert code == 3 and "2 change(s) at or above high risk" in err
    assert f"| `{STACK}` | changed | 0 | 0 | 0 | 3 | 0 |" in out
    assert ("replaced (destroyed, then created; forced by tier): loses the cache's data, host IP and AUTH string"
            in out)
    assert "replaced (new one created first, then the old one destroyed; forced by managed[0].domains): " \
           "the proxy switches to the new certificate" in out
    assert "instance template replaced (new one created first, then the old one destroyed; " \
           "forced by labels (through effective_labels))" in out
    assert "- `google_redis_instance.cache` (`cache/redis`) (delete, create): forced by tier\n" in out
    assert "  - `memory_size_gb`: `1` → `2`" in out


@pytest.mark.terraform
@pytest.mark.slow
def test_offline_plan_and_plan_report_show_the_replacements(trees, tmp_path, tfdouble_home, capsys, monkeypatch):
    monkeypatch.setenv("TFDOUBLE_HOME", str(tfdouble_home))  # a private mirror

    code, out, _ = run(capsys, "offline-plan", *trees, "--out", tmp_path / "plans", "--workdir", tmp_path / "work")

    assert code == 0
    assert out.splitlines() == [
        f"{STACK}: base applied, plan 3 to add, 0 to change, 3 to destroy (3 replaced)",
        "  google_compute_instance_template.template: create, delete (forced by effective_labels)",
        "  google_compute_managed_ssl_certificate.cert: create, delete (forced by managed[0].domains)",
        "  google_redis_instance.cache: delete, create (forced by tier)"]

    code, out, err = run(capsys, "plan-report", tmp_path / "plans" / STACK / "plan.json", "--fail-on", "high")

    assert code == 3 and "2 change(s) at or above high risk" in err
    assert f"| `{STACK}` | 0 | 0 | 3 | 0 | 🔴 2 high, 🟠 1 medium |" in out
    assert ("- **replace** (delete, create) 🔴 `google_redis_instance.cache` (`cache/redis`): "
            "the provider cannot update it in place; forced by tier\n") in out
    assert "  - `tier`: `\"BASIC\"` → `\"STANDARD_HA\"`" in out
    assert "- **replace** (create, delete) 🔴 `google_compute_managed_ssl_certificate.cert`" in out
    assert "HTTPS fails until it is ACTIVE" in out
    assert "instance template replaced (new one created first, then the old one destroyed; forced by effective_labels)" in out
