"""tools.tfdouble.merge: dedupe, prefixing, provider aliases, chunks, attribution (no terraform),
plus the merged check against the real Terraform CLI (marked terraform + slow)."""

from __future__ import annotations

import json

import pytest

from tools.tfdouble import harness, merge

REQUIRED = {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}}
PROVIDER = {"google": [{"project": "p-1", "region": "europe-west1"}]}


def network_stack(name: str = "vpc", project: str = "p-1") -> dict:
    return {
        "//": {"metadata": {"stackName": "test"}},
        "terraform": REQUIRED,
        "provider": {"google": [{"project": project, "region": "europe-west1"}]},
        "resource": {
            "google_compute_network": {"vpc": {"//": {"metadata": {"path": f"test/{name}"}},
                                               "name": name, "auto_create_subnetworks": False}},
            "google_compute_subnetwork": {"sub": {"name": f"{name}-sub", "ip_cidr_range": "10.0.0.0/24",
                                                  "network": "${google_compute_network.vpc.id}"}},
        },
        "output": {"network": {"value": "${google_compute_network.vpc.name}"}},
    }


def with_resources(stack: dict, **resources: dict) -> dict:
    """`stack` plus resources by type (a copy)."""
    stack = json.loads(json.dumps(stack))
    for rtype, by_id in resources.items():
        stack["resource"].setdefault(rtype, {}).update(by_id)
    return stack


OTHER_SUBNET = {"other": {"name": "other", "ip_cidr_range": "10.1.0.0/24", "network": "${google_compute_network.vpc.id}"}}


def misspelled_stack() -> dict:
    """An argument the provider schema does not have, and a required one missing."""
    return {
        "terraform": REQUIRED,
        "provider": PROVIDER,
        "resource": {"google_compute_network": {"vpc": {"nmae": "vpc", "auto_create_subnetworks": False}}},
    }


def broken_stack() -> dict:
    """References a network the stack never declares."""
    return {
        "terraform": REQUIRED,
        "provider": PROVIDER,
        "resource": {"google_compute_subnetwork": {"sub": {
            "name": "sub", "ip_cidr_range": "10.0.0.0/24", "network": "${google_compute_network.missing.id}"}}},
    }


# ---------------------------------------------------------------------------------------------
# dedupe


def test_dedupe_ignores_cdktf_comments_and_keeps_every_test_id():
    a, b = network_stack(), network_stack()
    b["//"] = {"metadata": {"stackName": "other"}}
    b["resource"]["google_compute_network"]["vpc"]["//"] = {"metadata": {"path": "elsewhere/vpc"}}

    unique = merge.dedupe([("t::a", a), ("t::b", b), ("t::c", network_stack("other")), ("t::a", a)])

    assert [u.test_ids for u in unique] == [["t::a", "t::b"], ["t::c"]]
    assert "//" not in unique[0].config
    assert "//" not in unique[0].config["resource"]["google_compute_network"]["vpc"]


# ---------------------------------------------------------------------------------------------
# reference rewriting


def test_rewrites_exactly_the_declared_addresses_as_whole_words():
    config = {
        "resource": {"google_compute_network": {"vpc": {}, "vpc-2": {}}},
        "data": {"google_compute_network": {"vpc": {}}},
        "variable": {"secret": {}},
        "locals": {"zone": "a"},
    }
    rewrite = merge.reference_rewriter(merge.address_map(config, "s7_"))

    assert rewrite({
        "a": "${google_compute_network.vpc.id}",
        "b": "${google_compute_network.vpc-2.id}",
        "c": "${data.google_compute_network.vpc.self_link}",
        "d": "${google_compute_network.vpc2.id}",           # not declared: untouched
        "e": "${google_compute_network.vpc_suffix.id}",     # longer name: untouched
        "f": ["google_compute_network.vpc"],                 # depends_on style
        "g": "${var.secret}-${local.zone}-${var.secrets}",
        "h": "${join(\",\", google_compute_network.vpc[*].name)}",
        "i": "plain text mentioning vpc",
        "j": 3,
    }) == {
        "a": "${google_compute_network.s7_vpc.id}",
        "b": "${google_compute_network.s7_vpc-2.id}",
        "c": "${data.google_compute_network.s7_vpc.self_link}",
        "d": "${google_compute_network.vpc2.id}",
        "e": "${google_compute_network.vpc_suffix.id}",
        "f": ["google_compute_network.s7_vpc"],
        "g": "${var.s7_secret}-${local.s7_zone}-${var.secrets}",
        "h": "${join(\",\", google_compute_network.s7_vpc[*].name)}",
        "i": "plain text mentioning vpc",
        "j": 3,
    }


def test_prefix_stack_renames_ids_outputs_variables_and_locals():
    stack = network_stack()
    stack["variable"] = {"token": {"type": "string"}, "size": {"type": "number", "default": 1}}
    stack["locals"] = {"n": "${var.size}"}
    stack["resource"]["google_compute_subnetwork"]["sub"]["depends_on"] = ["google_compute_network.vpc"]

    prefixed = merge.prefix_stack(merge.canonical(stack), 3)

    body = prefixed.body
    assert set(body["resource"]["google_compute_network"]) == {"s3_vpc"}
    sub = body["resource"]["google_compute_subnetwork"]["s3_sub"]
    assert sub["network"] == "${google_compute_network.s3_vpc.id}"
    assert sub["depends_on"] == ["google_compute_network.s3_vpc"]
    assert body["output"] == {"s3_network": {"value": "${google_compute_network.s3_vpc.name}"}}
    assert set(body["variable"]) == {"s3_token", "s3_size"}
    assert body["locals"] == {"s3_n": "${var.s3_size}"}
    assert prefixed.variables == {"s3_token": "offline-token"}  # no default: placeholder for the plan
    assert prefixed.types == {"google_compute_network", "google_compute_subnetwork"}
    assert prefixed.blocks == 2


@pytest.mark.parametrize(("declared", "value"), [
    ("string", "offline-v"), (None, "offline-v"), ("number", "0"), ("bool", "false"),
    ("list(string)", "[]"), ("${set(string)}", "[]"), ("map(string)", "{}"), ("object({a = string})", None),
])
def test_placeholders_for_variables_without_default(declared, value):
    assert merge._placeholder("v", declared) == value


def test_remote_state_is_made_offline_before_prefixing():
    stack = {"terraform": REQUIRED, "provider": PROVIDER,
             "data": {"terraform_remote_state": {"net": {"backend": "gcs", "config": {"bucket": "b"}}}},
             "resource": {"google_compute_subnetwork": {"sub": {
                 "name": "s", "ip_cidr_range": "10.0.0.0/24",
                 "network": "${data.terraform_remote_state.net.outputs.network}"}}}}

    merged = merge.merge([merge.prefix_stack(stack, 0)])

    body = merged.files["s0.tf.json"]
    remote = body["data"]["terraform_remote_state"]["s0_net"]
    assert remote["backend"] == "local"
    assert remote["defaults"] == {"network": "offline-net-network"}
    assert "provider" not in remote  # built into Terraform: no alias
    assert body["resource"]["google_compute_subnetwork"]["s0_sub"]["network"] == \
        "${data.terraform_remote_state.s0_net.outputs.network}"


# ---------------------------------------------------------------------------------------------
# merging and provider aliases


def test_identical_provider_configurations_share_one_alias():
    stacks = [merge.prefix_stack(merge.canonical(network_stack(f"vpc-{i}", project=p)), i)  # no block shared
              for i, p in enumerate(["p-1", "p-1", "p-2"])]

    merged = merge.merge(stacks)

    assert merged.files["p0.tf.json"] == {"provider": {"google": [
        {"alias": "p0", "project": "p-1", "region": "europe-west1"}]}}
    assert merged.files["p1.tf.json"]["provider"]["google"][0]["project"] == "p-2"
    assert merged.provider_users == {"p0.tf.json": [0, 1], "p1.tf.json": [2]}
    for index, alias in [(0, "p0"), (1, "p0"), (2, "p1")]:
        for by_id in merged.files[f"s{index}.tf.json"]["resource"].values():
            assert all(body["provider"] == f"google.{alias}" for body in by_id.values())
    assert merged.files["main.tf.json"] == {"terraform": REQUIRED}
    assert merged.types == {"google_compute_network", "google_compute_subnetwork"}


def test_aliased_providers_and_providers_built_from_resources():
    stack = {
        "terraform": {"required_providers": {**REQUIRED["required_providers"],
                                             "kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"}}},
        "provider": {
            "google": [{"project": "p-1"}, {"alias": "west", "project": "p-1", "region": "us-west1"}],
            "kubernetes": [{"host": "https://${google_container_cluster.gke.endpoint}"}],
        },
        "resource": {
            "google_container_cluster": {"gke": {"name": "gke", "location": "europe-west1"}},
            "google_compute_network": {"west": {"name": "w", "provider": "google.west"}},
            "kubernetes_namespace": {"ns": {"metadata": {"name": "models"}}},
        },
        "data": {"google_client_config": {"me": {"provider": "google.nowhere"}}},
    }

    merged = merge.merge([merge.prefix_stack(stack, 5)])

    body = merged.files["s5.tf.json"]
    aliases = {name: content["provider"] for name, content in merged.files.items() if name.startswith("p")}
    by_alias = {next(iter(v.values()))[0]["alias"]: v for v in aliases.values()}
    cluster_alias = body["resource"]["google_container_cluster"]["s5_gke"]["provider"].split(".")[1]
    west_alias = body["resource"]["google_compute_network"]["s5_west"]["provider"].split(".")[1]
    k8s_alias = body["resource"]["kubernetes_namespace"]["s5_ns"]["provider"].split(".")[1]
    assert by_alias[cluster_alias]["google"][0] == {"alias": cluster_alias, "project": "p-1"}
    assert by_alias[west_alias]["google"][0]["region"] == "us-west1"
    assert by_alias[k8s_alias]["kubernetes"][0]["host"] == "https://${google_container_cluster.s5_gke.endpoint}"
    # a provider alias the stack never declared stays undeclared (Terraform must still reject it)
    assert body["data"]["google_client_config"]["s5_me"]["provider"] == "google.s5_nowhere"
    assert merged.files["main.tf.json"]["terraform"]["required_providers"]["kubernetes"]["version"] == "2.38.0"


# ---------------------------------------------------------------------------------------------
# sharing identical resources / data sources between the stacks of one merge


def shared_in(merged: merge.MergedConfig) -> dict[str, list[int]]:
    """Shared block address -> indexes of the stacks sharing it."""
    return {address: merged.block_users[name] for address, name in merged.shared_addresses.items()}


def test_identical_blocks_are_planned_once_and_the_later_stack_refers_to_the_first():
    second = with_resources(network_stack(), google_compute_subnetwork=OTHER_SUBNET)
    second["output"]["subnet"] = {"value": "${google_compute_subnetwork.sub.id}"}

    merged = merge.merge([merge.prefix_stack(network_stack(), 0), merge.prefix_stack(second, 1)])

    assert shared_in(merged) == {"google_compute_network.s0_vpc": [0, 1], "google_compute_subnetwork.s0_sub": [0, 1]}
    assert merged.files["shared0.tf.json"]["resource"] == {
        "google_compute_network": {"s0_vpc": {"//": {"metadata": {"path": "test/vpc"}}, "name": "vpc",
                                              "auto_create_subnetworks": False, "provider": "google.p0"}},
        "google_compute_subnetwork": {"s0_sub": {"name": "vpc-sub", "ip_cidr_range": "10.0.0.0/24",
                                                 "network": "${google_compute_network.s0_vpc.id}",
                                                 "provider": "google.p0"}}}
    assert merged.block_users == {"shared0.tf.json": [0, 1]}
    assert "resource" not in merged.files["s0.tf.json"]  # its two blocks moved to the shared file
    second_file = merged.files["s1.tf.json"]
    assert second_file["resource"] == {"google_compute_subnetwork": {"s1_other": {
        "name": "other", "ip_cidr_range": "10.1.0.0/24", "network": "${google_compute_network.s0_vpc.id}",
        "provider": "google.p0"}}}
    assert second_file["output"] == {"s1_network": {"value": "${google_compute_network.s0_vpc.name}"},
                                     "s1_subnet": {"value": "${google_compute_subnetwork.s0_sub.id}"}}
    assert (merged.blocks, merged.shared) == (5, 2)


def test_a_stack_sharing_blocks_uses_their_provider_configuration():
    first, second = network_stack(), network_stack()
    for stack in (first, second):
        del stack["provider"]  # only the blocks use the (default) google provider
    second["output"]["again"] = {"value": "${google_compute_subnetwork.sub.name}"}

    merged = merge.merge([merge.prefix_stack(first, 0), merge.prefix_stack(second, 1)])

    assert "resource" not in merged.files["s1.tf.json"]
    assert merged.provider_users == {"p0.tf.json": [0, 1]}


def test_without_dedupe_every_stack_keeps_its_own_blocks():
    stacks = [merge.prefix_stack(network_stack(), 0), merge.prefix_stack(network_stack(), 1)]

    merged = merge.merge(stacks, dedupe_blocks=False)

    assert merged.shared_addresses == {} and merged.shared == 0
    assert set(merged.files["s1.tf.json"]["resource"]["google_compute_network"]) == {"s1_vpc"}


def _other_project(stack: dict) -> None:
    stack["provider"]["google"][0]["project"] = "p-2"


def _other_network(stack: dict) -> None:  # the subnet's own body is unchanged
    stack["resource"]["google_compute_network"]["vpc"]["auto_create_subnetworks"] = True


def _count(stack: dict) -> None:
    stack["resource"]["google_compute_subnetwork"]["sub"]["count"] = 2


def _for_each(stack: dict) -> None:
    stack["resource"]["google_compute_subnetwork"]["sub"]["for_each"] = "${toset([\"b\"])}"


def _for_each_too(stack: dict) -> None:
    stack["resource"]["google_compute_subnetwork"]["sub"]["for_each"] = "${toset([\"a\"])}"


@pytest.mark.parametrize(("change_first", "change_second", "shared"), [
    (None, _other_project, set()),
    (None, _other_network, set()),                      # the subnet refers to a different network
    (None, _count, {"google_compute_network.s0_vpc"}),
    (_for_each_too, _for_each, {"google_compute_network.s0_vpc"}),
    (_for_each, _for_each, {"google_compute_network.s0_vpc", "google_compute_subnetwork.s0_sub"}),
], ids=["provider config", "referenced resource", "count", "for_each", "same for_each"])
def test_blocks_are_shared_only_when_their_closure_is_identical(change_first, change_second, shared):
    first, second = network_stack(), network_stack()
    for change, stack in ((change_first, first), (change_second, second)):
        if change:
            change(stack)

    merged = merge.merge([merge.prefix_stack(first, 0), merge.prefix_stack(second, 1)])

    assert set(merged.shared_addresses) == shared


def test_provider_alias_names_do_not_matter_only_the_configuration():
    aliased = network_stack()
    aliased["provider"]["google"] = [{"alias": "eu", "project": "p-1", "region": "europe-west1"}]
    for by_id in aliased["resource"].values():
        for body in by_id.values():
            body["provider"] = "google.eu"

    merged = merge.merge([merge.prefix_stack(network_stack(), 0), merge.prefix_stack(aliased, 1)])

    assert set(merged.shared_addresses) == {"google_compute_network.s0_vpc", "google_compute_subnetwork.s0_sub"}


def variable_stack(name: str, default: str | None) -> dict:
    """The network stack with its description from a string variable."""
    config = network_stack()
    config["variable"] = {name: {"type": "string", **({"default": default} if default else {})}}
    config["resource"]["google_compute_network"]["vpc"]["description"] = f"${{var.{name}}}"
    return config


@pytest.mark.parametrize(("first", "second", "shared"), [
    (("token", None), ("token", None), True),   # same placeholder value, offline-token
    (("token", "x"), ("key", "x"), True),        # same default: the name does not matter
    (("token", None), ("key", None), False),     # offline-token vs offline-key
    (("token", "x"), ("token", "y"), False),
])
def test_variables_are_part_of_the_closure_by_declaration_and_placeholder(first, second, shared):
    merged = merge.merge([merge.prefix_stack(variable_stack(*first), 0), merge.prefix_stack(variable_stack(*second), 1)])

    assert ("google_compute_network.s0_vpc" in merged.shared_addresses) is shared
    assert set(merged.files["s1.tf.json"]["variable"]) == {f"s1_{second[0]}"}  # variables are never left out


def test_data_sources_and_every_kind_of_reference_follow_the_kept_block():
    def stack(extra: str) -> dict:
        return {
            "terraform": {"required_providers": {**REQUIRED["required_providers"],
                                                 "kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"}}},
            "provider": {"google": PROVIDER["google"],
                         "kubernetes": [{"host": "https://${google_container_cluster.gke.endpoint}"}]},
            "data": {"google_compute_network": {"default": {"name": "default"}}},
            "locals": {"net": "${data.google_compute_network.default.id}"},
            "resource": {
                "google_container_cluster": {"gke": {"name": "gke", "location": "europe-west1",
                                                     "network": "${local.net}"}},
                "kubernetes_namespace": {extra: {"metadata": {"name": extra},
                                                 "depends_on": ["google_container_cluster.gke"]}},
            },
            "output": {"network": {"value": "${data.google_compute_network.default.self_link}"}},
        }

    merged = merge.merge([merge.prefix_stack(stack("a"), 0), merge.prefix_stack(stack("b"), 1)])

    assert shared_in(merged) == {"data.google_compute_network.s0_default": [0, 1],
                                 "google_container_cluster.s0_gke": [0, 1]}
    second = merged.files["s1.tf.json"]
    assert "data" not in second
    assert second["locals"] == {"s1_net": "${data.google_compute_network.s0_default.id}"}
    assert second["output"]["s1_network"]["value"] == "${data.google_compute_network.s0_default.self_link}"
    namespace = second["resource"]["kubernetes_namespace"]["s1_b"]
    assert namespace["depends_on"] == ["google_container_cluster.s0_gke"]
    # the kubernetes provider of both stacks now reads the same cluster: one alias for both
    assert namespace["provider"] == merged.files["s0.tf.json"]["resource"]["kubernetes_namespace"]["s0_a"]["provider"]


def test_a_reference_cycle_or_an_undeclared_provider_alias_is_never_shared():
    stack = network_stack()
    stack["resource"]["google_compute_network"]["vpc"]["description"] = "${google_compute_subnetwork.sub.id}"
    stack["resource"]["google_compute_network"]["other"] = {"name": "o", "provider": "google.nowhere"}
    stack["resource"]["google_compute_network"]["plain"] = {"name": "p"}

    hashes = merge.block_hashes(stack)

    assert {address for address, closure in hashes.items() if closure is None} == {
        "google_compute_network.vpc", "google_compute_subnetwork.sub", "google_compute_network.other"}
    assert hashes["google_compute_network.plain"] is not None
    merged = merge.merge([merge.prefix_stack(stack, 0), merge.prefix_stack(stack, 1)])
    assert set(merged.shared_addresses) == {"google_compute_network.s0_plain"}


def test_within_one_stack_equal_blocks_stay_two_resources():
    stack = network_stack()
    stack["resource"]["google_compute_network"]["twin"] = dict(stack["resource"]["google_compute_network"]["vpc"])

    merged = merge.merge([merge.prefix_stack(stack, 0)])

    assert merged.shared == 0
    assert set(merged.files["s0.tf.json"]["resource"]["google_compute_network"]) == {"s0_vpc", "s0_twin"}


@pytest.mark.parametrize(("extra", "reason"), [
    ({"module": {"m": {"source": "./m"}}}, "top-level module"),
    ({"moved": [{"from": "a.b", "to": "a.c"}]}, "top-level moved"),
    ({"resource": {"google_compute_network": ["not", "a", "map"]}}, "unexpected shape of resource"),
    ({"provider": {"google": "text"}}, "unexpected shape of provider"),
])
def test_stacks_the_merge_cannot_rewrite_are_checked_alone(extra, reason):
    stack = {**network_stack(), **extra}

    assert reason in merge.merge_blocker(stack)


def test_ordinary_stacks_can_be_merged():
    assert merge.merge_blocker(network_stack()) is None


def test_chunks_respect_size_and_incompatible_provider_versions():
    stacks = [merge.prefix_stack(network_stack(), i) for i in range(5)]  # 2 blocks each
    other = network_stack()
    other["terraform"] = {"required_providers": {"google": {"source": "google", "version": "6.0.0"}}}
    stacks.append(merge.prefix_stack(other, 5))

    chunks = merge.chunk(stacks, max_blocks=4)

    assert [[s.index for s in c] for c in chunks] == [[0, 1], [2, 3], [4], [5]]
    assert [[s.index for s in c] for c in merge.chunk(stacks)] == [[0, 1, 2, 3, 4], [5]]


# ---------------------------------------------------------------------------------------------
# attributing Terraform's messages


def test_diagnostics_are_attributed_by_file_address_or_provider_file():
    merged = merge.merge([merge.prefix_stack(network_stack(), 0), merge.prefix_stack(network_stack("b"), 1)])

    by_file = merge.Diagnostic("error", "Reference to undeclared resource", filename="s1.tf.json", line=3)
    by_address = merge.Diagnostic("error", "Provider produced an error", address="google_compute_network.s0_vpc")
    by_provider = merge.Diagnostic("error", "Invalid provider configuration", filename="p0.tf.json", line=2)
    nothing = merge.Diagnostic("error", "Failed to load plugin schemas")

    assert merge.attribute(by_file, merged) == {1}
    assert merge.attribute(by_address, merged) == {0}
    assert merge.attribute(by_provider, merged) == {0, 1}
    assert merge.attribute(nothing, merged) == set()


def test_a_diagnostic_in_a_shared_block_concerns_every_stack_sharing_it():
    second = with_resources(network_stack(), google_compute_subnetwork=OTHER_SUBNET)
    merged = merge.merge([merge.prefix_stack(network_stack(), 0), merge.prefix_stack(second, 1),
                          merge.prefix_stack(network_stack("c"), 2)])

    in_shared_file = merge.Diagnostic("error", "Unsupported argument", filename="shared0.tf.json", line=3)
    by_address = merge.Diagnostic("error", "Provider produced an error", address="google_compute_subnetwork.s0_sub[0]")
    in_detail = merge.Diagnostic("error", "Invalid reference", detail="google_compute_network.s0_vpc.nope is unknown")
    own_block = merge.Diagnostic("error", "Provider produced an error", address="google_compute_subnetwork.s1_other")

    assert merge.attribute(in_shared_file, merged) == {0, 1}
    assert merge.attribute(by_address, merged) == {0, 1}
    assert merge.attribute(in_detail, merged) == {0, 1}
    assert merge.attribute(own_block, merged) == {1}
    assert merged.sharing_note([in_shared_file]) == merged.sharing_note([by_address]) == (
        "\n\nNote: shared0.tf.json holds resources / data sources that the stacks merged as s0, s1 declare "
        "identically; Terraform checked them once, under the addresses of s0.")
    assert merged.sharing_note([own_block]) == ""


def test_failure_names_the_tests_and_keeps_terraform_text():
    failure = merge.StackFailure(["tests/a.py::test_x", "tests/b.py::test_y"], "validate+plan",
                                 "Error: Reference to undeclared resource\n\nA managed resource ...", "s4_")

    text = failure.render()

    assert text.startswith("validate+plan failed for the stack synthesized by tests/a.py::test_x, tests/b.py::test_y")
    assert "prefix s4_" in text
    assert "    Error: Reference to undeclared resource" in text


def test_plan_stream_reads_diagnostics_and_change_summary():
    lines = [
        {"type": "version", "terraform": "1.11.4"},
        {"type": "diagnostic", "diagnostic": {"severity": "error", "summary": "Bad", "detail": "why",
                                              "address": "google_compute_network.s2_vpc",
                                              "range": {"filename": "s2.tf.json", "start": {"line": 4}},
                                              "snippet": {"context": "resource", "code": "\"name\": 1"}}},
        {"type": "change_summary", "changes": {"add": 2, "change": 0, "import": 0, "remove": 0, "operation": "plan"}},
    ]
    result = harness.Result(["plan"], 1, "\n".join(json.dumps(line) for line in lines), "", 0.1)

    diagnostics, counts = merge._plan_stream(result)

    assert counts == {"add": 2, "change": 0, "import": 0, "remove": 0}
    assert diagnostics[0].render() == (
        "Error: Bad\n  with google_compute_network.s2_vpc,\n  on s2.tf.json line 4, in resource:\n"
        "  4: \"name\": 1\n\nwhy")
    assert merge._plan_stream(harness.Result(["plan"], 1, "not json", "boom", 0.1)) is None


# ---------------------------------------------------------------------------------------------
# against the real Terraform CLI

@pytest.mark.parametrize("stage", ["plan only", "validate first"])
@pytest.mark.terraform
@pytest.mark.slow
def test_broken_stack_among_good_ones_is_reported_with_its_test_ids(tmp_path, stage):
    synthesized = [("tests/a.py::test_good", network_stack("a")),
                   ("tests/b.py::test_broken", broken_stack()),
                   ("tests/c.py::test_good_too", network_stack("c", project="p-2")),
                   ("tests/d.py::test_broken_again", broken_stack()),
                   ("tests/e.py::test_misspelled", misspelled_stack())]

    report = merge.check_synthesized(synthesized, tmp_path, validate_first=stage == "validate first")

    assert sorted(f.test_ids for f in report.failures) == [
        ["tests/b.py::test_broken", "tests/d.py::test_broken_again"], ["tests/e.py::test_misspelled"]]
    failure, misspelled = sorted(report.failures, key=lambda f: f.test_ids)
    assert 'No argument or block type is named "nmae". Did you mean "name"?' in misspelled.message
    assert 'The argument "name" is required' in misspelled.message
    assert misspelled.prefix == "s3_"
    assert failure.stage == ("validate" if stage == "validate first" else "validate+plan")
    assert "Error: Reference to undeclared resource" in failure.message
    assert 'A managed resource "google_compute_network" "missing" has not been declared' in failure.message
    assert "s1.tf.json" in failure.message and failure.prefix == "s1_"
    assert report.unique == 4 and report.merged_stacks == 4 and report.single_stacks == 0
    assert report.planned == {"add": 4}  # the two good stacks still planned: 2 + 2 resources
    assert (failure.workdir / "failed" / "s1.original.json").exists()


@pytest.mark.terraform
@pytest.mark.slow
def test_plan_time_error_is_attributed_and_unmergeable_stacks_are_checked_alone(tmp_path):
    needs_object = network_stack("v")
    needs_object["variable"] = {"settings": {"type": "object({size = number})"}}  # no placeholder
    with_module = {**network_stack("m"), "moved": [{"from": "google_compute_network.old",
                                                    "to": "google_compute_network.vpc"}]}

    report = merge.check_synthesized([("t::good", network_stack()), ("t::needs_object", needs_object),
                                      ("t::moved", with_module)], tmp_path)

    assert [f.test_ids for f in report.failures] == [["t::needs_object"]]
    assert "No value for required variable" in report.failures[0].message
    assert 'variable "s1_settings"' in report.failures[0].message
    assert report.single_stacks == 1  # the stack with `moved` went one by one, and planned
    assert report.planned == {"add": 4}


@pytest.mark.terraform
@pytest.mark.slow
def test_shared_blocks_are_planned_once_and_an_error_in_one_fails_every_sharer(tmp_path):
    misspelled_too = with_resources(misspelled_stack(), google_compute_address={"ip": {"name": "ip"}})
    synthesized = [("t::good", network_stack()),
                   ("t::good_too", with_resources(network_stack(), google_compute_subnetwork=OTHER_SUBNET)),
                   ("t::misspelled", misspelled_stack()),
                   ("t::misspelled_too", misspelled_too)]

    report = merge.check_synthesized(synthesized, tmp_path)

    assert sorted(f.test_ids for f in report.failures) == [["t::misspelled"], ["t::misspelled_too"]]
    for failure in report.failures:
        assert 'No argument or block type is named "nmae"' in failure.message
        assert "the stacks merged as s2, s3 declare identically" in failure.message
    assert report.planned == {"add": 3}  # vpc and sub once, other once
    assert (report.blocks, report.shared) == (5, 2)
    assert "5 resources + data sources merged, 2 of them shared with an identical one" in report.summary()


@pytest.mark.terraform
@pytest.mark.slow
def test_when_the_keeper_fails_the_next_sharer_plans_the_shared_blocks(tmp_path):
    keeper = with_resources(network_stack(), google_compute_subnetwork={"bad": {
        "name": "bad", "ip_cidr_range": "10.2.0.0/24", "network": "${google_compute_network.missing.id}"}})
    sharer = with_resources(network_stack(), google_compute_subnetwork=OTHER_SUBNET)

    report = merge.check_synthesized([("t::keeper_broken", keeper), ("t::sharer", sharer)], tmp_path)

    assert [f.test_ids for f in report.failures] == [["t::keeper_broken"]]
    assert "Reference to undeclared resource" in report.failures[0].message
    assert "declare identically" not in report.failures[0].message
    assert report.planned == {"add": 3}  # the sharer's vpc, sub and other, in the second round
    assert (report.blocks, report.shared) == (3, 0)
    last_round = json.loads((report.failures[0].workdir / "s1.tf.json").read_text())
    assert set(last_round["resource"]["google_compute_network"]) == {"s1_vpc"}
    assert last_round["resource"]["google_compute_subnetwork"]["s1_other"]["network"] == "${google_compute_network.s1_vpc.id}"


@pytest.mark.terraform
@pytest.mark.slow
def test_one_by_one_finds_the_same_failures(tmp_path):
    synthesized = [("t::good", network_stack()), ("t::broken", broken_stack())]

    report = merge.check_synthesized(synthesized, tmp_path, merge_stacks=False)

    assert [(f.test_ids, f.stage) for f in report.failures] == [(["t::broken"], "validate")]
    assert "Reference to undeclared resource" in report.failures[0].message
    assert report.single_stacks == 2 and report.merged_stacks == 0
