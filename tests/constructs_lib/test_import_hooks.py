"""constructs_lib._import_hooks: patch a module right after its code ran, once or every time."""

from __future__ import annotations

import sys

import pytest

from constructs_lib import _import_hooks


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``hookdemo`` with two submodules on sys.path; sys.modules and meta_path restored."""
    root = tmp_path / "hookdemo"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "first.py").write_text("VALUE = 1\n")
    (root / "second.py").write_text("import sys\nVALUE = 2\nsys.modules[__name__] = 'published'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield "hookdemo"
    for name in [n for n in sys.modules if n.startswith("hookdemo")]:
        del sys.modules[name]


def test_every_selected_module_is_patched_in_the_namespace_its_code_ran_in(package):
    seen: list[tuple[str, int]] = []
    hook = _import_hooks.PatchAfterImport("demo", lambda name: name.startswith("hookdemo."),
                                          lambda module: seen.append((module.__name__, module.VALUE)))
    _import_hooks.install(hook)
    _import_hooks.install(_import_hooks.PatchAfterImport("demo", lambda name: True, print))  # same key: not added

    import hookdemo.first  # noqa: F401
    import hookdemo.second  # noqa: F401 - replaces itself in sys.modules, as jsii's publish() does

    assert seen == [("hookdemo.first", 1), ("hookdemo.second", 2)]
    assert [finder for finder in sys.meta_path if getattr(finder, "key", None) == "demo"] == [hook]


def test_a_once_hook_leaves_meta_path_at_the_first_module(package):
    seen: list[str] = []
    _import_hooks.install(_import_hooks.PatchAfterImport("once", lambda name: name.startswith("hookdemo."),
                                                         lambda module: seen.append(module.__name__), once=True))

    import hookdemo.first  # noqa: F401
    import hookdemo.second  # noqa: F401

    assert seen == ["hookdemo.first"]
    assert not any(getattr(finder, "key", None) == "once" for finder in sys.meta_path)
