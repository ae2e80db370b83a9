"""Security invariants over every synthesized stack (all environments, all examples).

The stacks come from ``conftest.all_stacks``: a new environment file, example or stack the
app creates is covered without a change here. Each invariant lists every offender at once.
The ``test_detects_*`` tests break a real stack on purpose and check that the invariant
notices, so a passing invariant means something.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

import pytest

from tests.security import checks
from tests.security.conftest import ENVIRONMENT_DIRS, SynthStack, python_examples


@pytest.mark.parametrize("invariant", sorted(checks.INVARIANTS))
def test_invariant_holds_on_every_stack(invariant: str, all_stacks: list[SynthStack]):
    problems = [p for stack in all_stacks for p in checks.INVARIANTS[invariant](stack)]
    assert not problems, f"{invariant}: {len(problems)} violation(s)\n" + "\n".join(problems)


def test_every_environment_and_example_is_covered(all_stacks: list[SynthStack]):
    names = {stack.name for stack in all_stacks}
    expected = {f"ml-serving-{p.stem}" for d in ENVIRONMENT_DIRS for p in d.glob("*.toml")}
    expected |= {p.stem.replace("_", "-") for p in python_examples()}
    assert expected <= names, f"not synthesized: {sorted(expected - names)}"
    assert {"ml-serving-dev", "ml-serving-prod"} <= names


def test_invariants_are_not_vacuous(all_stacks: list[SynthStack]):
    """The stacks contain every kind of resource the invariants are about."""
    def count(resource_type: str, keep: Callable[[dict[str, Any]], bool] = lambda body: True) -> int:
        return sum(1 for s in all_stacks for body in s.resources(resource_type).values() if keep(body))

    assert count("google_compute_instance_template") >= 4
    assert count("google_redis_instance") >= 2
    assert count("google_storage_bucket") >= 4
    assert count("google_compute_target_https_proxy") >= 2
    assert count("google_compute_managed_ssl_certificate") >= 2
    assert count("google_compute_global_address", lambda b: b.get("address_type") == "EXTERNAL") >= 4
    assert count("google_project_iam_member") >= 4
    assert count("google_container_cluster") >= 1
    assert sum(1 for s in all_stacks for o in (s.json.get("output") or {}).values() if o.get("sensitive")) >= 2
    assert any(s.config is None for s in all_stacks), "a Python-authored example (no opt-outs) is covered"


# --------------------------------------------------------------------------- the opt-out rule


def _stack(all_stacks: list[SynthStack], name: str) -> SynthStack:
    return next(s for s in all_stacks if s.name == name)


def test_dev_opts_out_of_destroy_protection_explicitly_and_prod_could_not(all_stacks: list[SynthStack]):
    dev = _stack(all_stacks, "ml-serving-dev")
    unprotected = [
        t for t in ("google_storage_bucket", "google_redis_instance")
        for body in dev.resources(t).values() if not (body.get("lifecycle") or {}).get("prevent_destroy")
    ]
    assert unprotected == ["google_storage_bucket", "google_redis_instance"], "dev.toml's opt-outs are exercised"
    assert checks.check_destroy_protection(dev) == []
    as_prod = dataclasses.replace(dev, config=dev.config.model_copy(update={"name": "prod-eu"}))
    problems = checks.check_destroy_protection(as_prod)
    assert any("google_storage_bucket" in p for p in problems) and any("google_redis_instance" in p for p in problems)


def test_prod_like_names():
    assert [n for n in ("prod", "prod-eu", "eu-prod", "production", "prd", "dev", "product", "staging") if checks.PROD_LIKE.search(n)] == [
        "prod", "prod-eu", "eu-prod", "production", "prd"]


def test_a_default_never_counts_as_an_opt_out(all_stacks: list[SynthStack]):
    """An environment that does not write prevent_destroy gets protection even if not prod-like."""
    stack = next(s for s in all_stacks if s.config is not None and "prevent_destroy" not in s.config.model_store.model_fields_set
                 and not checks.is_prod_like(s))
    broken = _mutate(stack, "google_storage_bucket", lambda body: body.pop("lifecycle", None))
    assert any("not protected from destroy" in p for p in checks.check_destroy_protection(broken))


# ------------------------------------------------------------------ each invariant can fail


def _mutate(stack: SynthStack, resource_type: str, change: Callable[[dict[str, Any]], Any]) -> SynthStack:
    data = copy.deepcopy(stack.json)
    body = next(iter(data["resource"][resource_type].values()))
    change(body)
    return dataclasses.replace(stack, json=data)


@pytest.fixture(scope="module")
def prod(all_stacks: list[SynthStack]) -> SynthStack:
    return _stack(all_stacks, "ml-serving-prod")


def _fails(check: Callable[[SynthStack], list[str]], stack: SynthStack, expected: str) -> None:
    problems = check(stack)
    assert any(expected in p for p in problems), problems


def test_detects_primitive_role_and_public_member(prod: SynthStack):
    _fails(checks.check_no_primitive_roles, _mutate(prod, "google_project_iam_member", lambda b: b.update(role="roles/editor")), "primitive role")
    _fails(checks.check_no_primitive_roles, _mutate(prod, "google_storage_bucket_iam_member", lambda b: b.update(member="allUsers")), "public IAM member")


def test_detects_gke_cluster_without_network_policy(all_stacks: list[SynthStack]):
    cluster = next(s for s in all_stacks if s.resources("google_container_cluster"))
    _fails(checks.check_gke_network_policy, _mutate(cluster, "google_container_cluster", lambda b: b.pop("datapath_provider")),
           "NetworkPolicy is not enforced")
    enabled = _mutate(cluster, "google_container_cluster", lambda b: (b.pop("datapath_provider"), b.update(network_policy={"enabled": True})))
    assert checks.check_gke_network_policy(enabled) == []


def test_detects_external_ip(prod: SynthStack):
    add = lambda b: b["network_interface"][0].update(access_config=[{}])  # noqa: E731
    _fails(checks.check_no_external_ips, _mutate(prod, "google_compute_instance_template", add), "public IP")


@pytest.mark.parametrize("change,expected", [
    (lambda b: b["shielded_instance_config"].update(enable_vtpm=False), "enable_vtpm"),
    (lambda b: b["shielded_instance_config"].update(enable_secure_boot=False), "enable_secure_boot"),
    (lambda b: b.pop("service_account"), "default compute service account"),
    (lambda b: b["service_account"].update(email="123-compute@developer.gserviceaccount.com"), "default service account"),
    (lambda b: b["metadata"].update({"enable-oslogin": "FALSE"}), "enable-oslogin"),
    (lambda b: b["metadata"].update({"ssh-keys": "me:ssh-ed25519 AAAA"}), "SSH keys"),
])
def test_detects_weak_vm(prod: SynthStack, change, expected: str):  # noqa: ANN001
    _fails(checks.check_vm_hardening, _mutate(prod, "google_compute_instance_template", change), expected)


def test_detects_redis_without_auth_or_tls(prod: SynthStack):
    _fails(checks.check_redis_auth_and_tls, _mutate(prod, "google_redis_instance", lambda b: b.update(auth_enabled=False)), "auth_enabled")
    _fails(checks.check_redis_auth_and_tls, _mutate(prod, "google_redis_instance", lambda b: b.pop("transit_encryption_mode")), "transit_encryption_mode")
    data = copy.deepcopy(prod.json)
    data["resource"]["google_redis_cluster"] = {"c": {"authorization_mode": "AUTH_MODE_DISABLED", "transit_encryption_mode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"}}
    _fails(checks.check_redis_auth_and_tls, dataclasses.replace(prod, json=data), "AUTH_MODE_IAM_AUTH")


def test_detects_public_bucket(prod: SynthStack):
    _fails(checks.check_buckets_private, _mutate(prod, "google_storage_bucket", lambda b: b.update(public_access_prevention="inherited")), "public_access_prevention")
    _fails(checks.check_buckets_private, _mutate(prod, "google_storage_bucket", lambda b: b.pop("uniform_bucket_level_access")), "uniform")


@pytest.mark.parametrize("resource_type,change,expected", [
    ("google_storage_bucket", lambda b: b.pop("lifecycle"), "not protected"),
    ("google_redis_instance", lambda b: b.update(lifecycle={}), "not protected"),
    ("google_compute_global_address", lambda b: b.pop("lifecycle"), "not protected"),
    ("google_compute_managed_ssl_certificate", lambda b: b.pop("lifecycle"), "create_before_destroy"),
])
def test_detects_unprotected_resource(prod: SynthStack, resource_type: str, change, expected: str):  # noqa: ANN001
    _fails(checks.check_destroy_protection, _mutate(prod, resource_type, change), expected)


def test_detects_http_without_redirect(prod: SynthStack):
    def serve_http(body: dict[str, Any]) -> None:
        body.pop("default_url_redirect")
        body["default_service"] = "${google_compute_backend_service.x.id}"

    redirect_map = next(k for k, v in prod.resources("google_compute_url_map").items() if "default_url_redirect" in v)
    data = copy.deepcopy(prod.json)
    serve_http(data["resource"]["google_compute_url_map"][redirect_map])
    _fails(checks.check_https_redirects_http, dataclasses.replace(prod, json=data), "serves plain HTTP")
    data = copy.deepcopy(prod.json)
    data["resource"]["google_compute_global_forwarding_rule"] = {
        k: v for k, v in data["resource"]["google_compute_global_forwarding_rule"].items() if v["port_range"] != "80"}
    _fails(checks.check_https_redirects_http, dataclasses.replace(prod, json=data), "no HTTP :80 -> HTTPS redirect")


@pytest.mark.parametrize("resource_type,change,expected", [
    ("google_compute_network", lambda b: b.update(name="Serving_Net"), "RFC 1035"),
    ("google_redis_instance", lambda b: b.update(name="a" * 41), "at most 40"),
    ("google_storage_bucket", lambda b: b.update(name="goog-models"), "bucket name"),
    ("google_service_account", lambda b: b.update(account_id="sa"), "account_id"),
    ("google_compute_instance_template", lambda b: b.update(name_prefix="1-bad-"), "name_prefix"),
])
def test_detects_bad_names(prod: SynthStack, resource_type: str, change, expected: str):  # noqa: ANN001
    _fails(checks.check_names, _mutate(prod, resource_type, change), expected)


@pytest.mark.parametrize("change,expected", [
    (lambda b: b["labels"].update({"Team": "x"}), "label key rule"),
    (lambda b: b["labels"].update(team="ML Platform"), "label value rule"),
    (lambda b: b["labels"].pop("managed-by"), "lacks the common labels managed-by"),
])
def test_detects_bad_labels(prod: SynthStack, change, expected: str):  # noqa: ANN001
    _fails(checks.check_labels, _mutate(prod, "google_storage_bucket", change), expected)


def test_detects_non_sensitive_secret_output(prod: SynthStack):
    data = copy.deepcopy(prod.json)
    name = next(k for k, v in data["output"].items() if "auth_string" in v["value"])
    del data["output"][name]["sensitive"]
    _fails(checks.check_sensitive_outputs, dataclasses.replace(prod, json=data), f"output.{name} reads auth_string")


@pytest.mark.parametrize("change,expected", [
    (lambda b: b.update(secret_data="hunter2-but-longer"), "literal secret"),
    (lambda b: b.update(secret_data='${jsonencode({"host" = "10.0.0.3", "port" = 6378})}'), "literal secret"),
    (lambda b: b.update(description="-----BEGIN RSA PRIVATE KEY-----\nMIIE"), "PEM private key"),
    (lambda b: b.update(description="key AIza" + "A" * 35), "Google API key"),
    (lambda b: b.update(description="ya29." + "a0AfH6SMB" * 4), "OAuth access token"),
    (lambda b: b.update(description="redis://default:s3cret@10.0.0.3:6378"), "password in a URL"),
])
def test_detects_credentials(prod: SynthStack, change, expected: str):  # noqa: ANN001
    _fails(checks.check_no_credentials, _mutate(prod, "google_secret_manager_secret_version", change), expected)


@pytest.mark.parametrize("metadata_key,text", [
    ("model-server-env", "PORT=8080\nCACHE_AUTH_SECRET=${google_secret_manager_secret_version.x.id}\nDB_PASSWORD=hunter2\n"),
    ("gce-container-declaration", 'spec:\n  containers:\n  - env:\n    - name: API_TOKEN\n      value: "abc"\n'),
    ("startup-script", "#!/bin/bash\nexport HF_TOKEN=hf_abcdef\n"),
])
def test_detects_secret_environment_variables(prod: SynthStack, metadata_key: str, text: str):
    broken = _mutate(prod, "google_compute_instance_template", lambda b: b["metadata"].update({metadata_key: text}))
    _fails(checks.check_no_credentials, broken, "to a literal value")


def test_secret_data_built_from_references_is_not_a_credential(prod: SynthStack):
    """The cache's endpoint secret holds ``jsonencode`` of the instance's host and port: only references."""
    value = '${jsonencode({"host" = google_redis_instance.r.host, "port" = google_redis_instance.r.port})}'
    ok = _mutate(prod, "google_secret_manager_secret_version", lambda b: b.update(secret_data=value))
    assert checks.check_no_credentials(ok) == []


def test_secret_manager_pointers_are_not_credentials(prod: SynthStack):
    text = "CACHE_AUTH_SECRET=${google_secret_manager_secret_version.x.id}\nDB_PASSWORD=projects/p/secrets/db/versions/1\n"
    ok = _mutate(prod, "google_compute_instance_template", lambda b: b["metadata"].update({"model-server-env": text}))
    assert checks.check_no_credentials(ok) == []


def test_detects_literal_secret_in_kubernetes_env(prod: SynthStack):
    data = copy.deepcopy(prod.json)
    data["resource"]["kubernetes_deployment_v1"] = {"d": {"spec": {"template": {"spec": {"container": [
        {"env": [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "PORT", "value": "8080"}]}]}}}}}
    _fails(checks.check_no_credentials, dataclasses.replace(prod, json=data), "sets DB_PASSWORD to a literal value")
