"""tools.tfdouble.stream: when StreamingCheck starts merged configurations and what goes in each
(the Terraform runs are recorded instead of made; the real ones are in test_merge.py and
tests/test_terraform_loop.py)."""

from __future__ import annotations

import threading

import pytest

from tools.tfdouble import merge, stream

REQUIRED = {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}}


def one_network(name: str, project: str = "p-1") -> dict:
    """A stack with one resource (one block) and the google provider of `project`."""
    return {"terraform": REQUIRED, "provider": {"google": [{"project": project, "region": "europe-west1"}]},
            "resource": {"google_compute_network": {"vpc": {"name": name, "auto_create_subnetworks": False}}}}


def names(groups: list[list[merge.PrefixedStack]]) -> list[list[str]]:
    return [[stack.body["resource"]["google_compute_network"][f"{stack.prefix}vpc"]["name"] for stack in group]
            for group in groups]


@pytest.fixture
def started(monkeypatch) -> list[tuple[list[list[str]], list[int]]]:
    """Every check StreamingCheck starts, in order: (the networks of each merged group, one-by-one
    indexes); nothing runs."""
    calls: list[tuple[list[list[str]], list[int]]] = []
    monkeypatch.setattr(stream.StreamingCheck, "_start", lambda self, groups, singles: calls.append((names(groups), singles)))
    return calls


def test_full_configurations_start_as_stacks_come_and_the_last_one_waits(tmp_path, started):
    check = stream.StreamingCheck(tmp_path, max_blocks=2)

    check.add([("t::a", one_network("a")), ("t::b", one_network("b")), ("t::c", one_network("c"))])
    assert started == []  # 3 blocks: less than READY_CONFIGS configurations of 2
    check.add([("t::d", one_network("d")), ("t::e", one_network("e"))])
    assert started == [([["a", "b"]], []), ([["c", "d"]], [])]

    report = check.finish()
    assert started[2:] == [([["e"]], [])]
    assert (report.synthesized, report.unique, report.started_early) == (5, 5, 2)


def test_stacks_are_grouped_by_provider_configuration(tmp_path, started):
    check = stream.StreamingCheck(tmp_path, max_blocks=2)

    check.add([(f"t::{n}", one_network(n, project)) for n, project in
               [("a", "p-2"), ("b", "p-1"), ("c", "p-2"), ("d", "p-1")]], start=False)
    check.finish()

    assert started == [([["b", "d"]], []), ([["a", "c"]], [])]


def test_what_is_left_at_the_end_is_split_over_the_jobs(tmp_path, started):
    check = stream.StreamingCheck(tmp_path, max_blocks=10, jobs=2)

    check.add([(f"t::{n}", one_network(n)) for n in "abc"])
    check.finish()

    assert sorted(started) == [([["a", "b"]], []), ([["c"]], [])]


def test_a_copy_only_adds_its_test_id_and_unmergeable_stacks_go_one_by_one(tmp_path, started):
    check = stream.StreamingCheck(tmp_path, max_blocks=10)
    with_module = {**one_network("m"), "module": {"mod": {"source": "./mod"}}}

    check.add([("t::a", one_network("a")), ("t::m", with_module), ("t::again", one_network("a"))])
    report = check.finish()

    assert started == [([["a"]], []), ([], [1])]
    assert (report.synthesized, report.unique, report.started_early) == (3, 2, 0)
    assert check._distinct.stacks[0].test_ids == ["t::a", "t::again"]


def test_cancel_waits_for_the_running_check_and_drops_the_others(tmp_path, monkeypatch):
    ran: list[list[list[str]]] = []
    entered, release = threading.Event(), threading.Event()

    def slow_check(self, groups, singles):
        entered.set()
        release.wait(10)
        ran.append(names(groups))
        return merge.LoopReport()

    monkeypatch.setattr(stream.StreamingCheck, "_check", slow_check)
    check = stream.StreamingCheck(tmp_path, max_blocks=1, jobs=1)
    check.add([(f"t::{n}", one_network(n)) for n in "abcd"])  # a, b, c start (one at a time); d waits
    assert entered.wait(10)
    threading.Timer(0.2, release.set).start()
    check.cancel()

    assert ran == [[["a"]]]


def test_provider_key_ignores_nothing_of_the_configuration():
    a, b = (merge.prefix_stack(one_network("x", project), 0) for project in ("p-1", "p-2"))

    assert stream.provider_key(a) != stream.provider_key(b)
    assert stream.provider_key(a) == stream.provider_key(merge.prefix_stack(one_network("y"), 7))
