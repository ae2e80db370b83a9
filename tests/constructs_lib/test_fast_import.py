"""The fast import path of the prebuilt provider bindings (constructs_lib._fastimport, used by
_google and _kubernetes).

Unit tests of the version guard and fallback (versions injected, not monkeypatched), of the
FQN -> submodule map jsii uses for types it meets before their submodule was imported, of the
lazy ``lib/index.js`` rewrite (run under Node), and a slow end-to-end test that the fast and the
naive import produce byte-identical stacks for every environment (the GKE one uses kubernetes).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from constructs_lib import _fastimport, _google, _kubernetes
from constructs_lib._jsii_pins import switched_on
from constructs_lib._fastimport import (
    JSII_VERSION,
    LAZY_INDEX_HEADER,
    LAZY_NODE_ENV,
    NAIVE_ENV,
    Bindings,
    FastImportUnsupported,
    build_lazy_tarball,
    cache_dir_default,
    collect_garbage,
    fqn_namespace,
    install,
    jsii_internals_reason,
    jsii_package_cache_entry,
    jsii_tarball_digest,
    lazy_copy,
    lazy_index_js,
    prune_member,
    load_bindings,
    submodule_fqn_map,
    submodule_names,
    unsupported_reason,
)
from tests.entry_synth import run_main

ROOT = Path(__file__).resolve().parents[2]
GOOGLE = _google.BINDINGS
PACKAGE, DISTRIBUTION, ASSEMBLY = GOOGLE.package, GOOGLE.distribution, GOOGLE.assembly
PACKAGE_DIR = Path(importlib.util.find_spec(PACKAGE).submodule_search_locations[0])
IMPORT_POINTS = {"google": _google, "kubernetes": _kubernetes}
"""Every import-point module: each provider goes through the lazy loader."""
FAST = all(point.LOAD_REPORT.mode == "fast" for point in IMPORT_POINTS.values())
needs_fast = pytest.mark.skipif(not FAST, reason="bindings loaded in mode " + ", ".join(
    f"{name}={point.LOAD_REPORT.mode!r}" for name, point in IMPORT_POINTS.items()) + ", not 'fast'")
each_provider = pytest.mark.parametrize("point", IMPORT_POINTS.values(), ids=IMPORT_POINTS.keys())


def _package_dir(bindings: Bindings) -> Path:
    return Path(importlib.util.find_spec(bindings.package).submodule_search_locations[0])


# --- version guard and fallback ------------------------------------------------------------


@each_provider
def test_supported_versions_are_the_pinned_ones(point):
    pins = dict(
        line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    supported = point.BINDINGS.supported_versions
    assert supported == {"jsii": JSII_VERSION, point.BINDINGS.distribution: point.BINDINGS.version}
    assert {dist: pins[dist] for dist in supported} == supported


def test_prebuilt_bindings_follow_hashicorps_names():
    assert Bindings.prebuilt("google", "16.12.1") == Bindings(
        package="cdktf_cdktf_provider_google", distribution="cdktf-cdktf-provider-google",
        assembly="@cdktf/provider-google", version="16.12.1", jsii=JSII_VERSION)


def test_no_reason_when_the_installed_versions_are_the_supported_ones():
    assert unsupported_reason(GOOGLE.supported_versions, GOOGLE.supported_versions) is None


def test_reason_names_each_mismatching_distribution_and_both_versions():
    reason = unsupported_reason({"jsii": "1.143.0", DISTRIBUTION: "16.12.1"}, GOOGLE.supported_versions)
    assert reason == "jsii is 1.143.0, the fast path was written for 1.142.0"
    reason = unsupported_reason({"jsii": "1.142.0"}, GOOGLE.supported_versions)
    assert reason == f"{DISTRIBUTION} is not installed, the fast path was written for 16.12.1"


def test_reason_when_jsii_lacks_the_type_registry_hooks():
    class OldReferenceMap:
        _types: dict = {}

    assert "no _submodule_fqn_map" in jsii_internals_reason(OldReferenceMap)
    assert jsii_internals_reason() is None  # the installed jsii has them


@each_provider
def test_install_refuses_other_versions_before_changing_anything(point):
    bindings = point.BINDINGS
    before = dict(sys.modules)
    with pytest.raises(FastImportUnsupported, match=rf"{bindings.distribution} is 99\.0\.0"):
        install(bindings, installed={"jsii": JSII_VERSION, bindings.distribution: "99.0.0"}, modules={})
    assert sys.modules[bindings.package] is before[bindings.package]


@each_provider
def test_falls_back_to_the_normal_import_with_a_warning_naming_the_reason(point):
    bindings = point.BINDINGS
    warnings: list[str] = []
    report = load_bindings(bindings, {}, installed={"jsii": "1.150.0", bindings.distribution: bindings.version},
                           warn=warnings.append, modules={})
    assert report.mode == "fallback"
    assert report.reason == f"jsii is 1.150.0, the fast path was written for {JSII_VERSION}"
    assert len(warnings) == 1
    assert f"fast import of {bindings.package} disabled (jsii is 1.150.0" in warnings[0]
    assert "importing the whole package" in warnings[0]
    assert importlib.import_module(f"{bindings.package}.provider")


def test_the_guard_is_per_provider():
    """A kubernetes version the fast path does not know disables it for kubernetes only."""
    kubernetes = _kubernetes.BINDINGS
    installed = {"jsii": JSII_VERSION, kubernetes.distribution: "13.0.0", DISTRIBUTION: GOOGLE.version}
    assert unsupported_reason(installed, GOOGLE.supported_versions) is None
    assert unsupported_reason(installed, kubernetes.supported_versions) == (
        f"{kubernetes.distribution} is 13.0.0, the fast path was written for {kubernetes.version}")


def test_naive_env_var_forces_the_normal_import_without_warning():
    warnings: list[str] = []
    report = load_bindings(GOOGLE, {NAIVE_ENV: "1"}, warn=warnings.append, modules={})
    assert (report.mode, report.reason, warnings) == ("naive", f"{NAIVE_ENV}=1", [])


@each_provider
def test_an_earlier_import_of_the_package_is_left_alone(point):
    report = install(point.BINDINGS, modules={point.PACKAGE: sys.modules[point.PACKAGE]})
    assert report.mode == "preloaded"


@each_provider
def test_this_process_loaded_the_bindings_the_fast_way(point):
    if switched_on(os.environ, NAIVE_ENV):
        pytest.skip(f"{NAIVE_ENV} is set for this test run")
    assert point.LOAD_REPORT.mode == "fast", point.LOAD_REPORT
    if os.environ.get(LAZY_NODE_ENV, "1") != "0":
        assert point.LOAD_REPORT.node.startswith("lazy"), point.LOAD_REPORT


# --- the lazy package and the FQN map --------------------------------------------------------


@pytest.mark.parametrize("point,at_least", [(_google, 1400), (_kubernetes, 100)], ids=IMPORT_POINTS.keys())
def test_fqn_namespace_inverts_the_python_name_of_every_submodule(point, at_least):
    """The rule fqn_namespace encodes must hold for every submodule's declared jsii_type."""
    package_dir = _package_dir(point.BINDINGS)
    names = submodule_names(package_dir)
    assert len(names) > at_least
    first_type = re.compile(rf'jsii_type="{re.escape(point.BINDINGS.assembly)}\.([A-Za-z0-9]+)\.')
    wrong = []
    for name in names:
        with open(package_dir / name / "__init__.py", encoding="utf-8") as stream:
            match = first_type.search(stream.read(20_000))
        if match is None or match.group(1) != fqn_namespace(name):
            wrong.append((name, match and match.group(1)))
    assert wrong == []


def test_submodule_fqn_map_points_jsii_at_the_python_submodule():
    fqn_map = submodule_fqn_map(("compute_network", "provider"), PACKAGE, ASSEMBLY)
    assert fqn_map == {
        "@cdktf/provider-google.computeNetwork": "cdktf_cdktf_provider_google.compute_network",
        "@cdktf/provider-google.provider": "cdktf_cdktf_provider_google.provider",
    }


@needs_fast
@pytest.mark.parametrize("point,name", [(_google, "compute_network"), (_kubernetes, "config_map_v1")],
                         ids=IMPORT_POINTS.keys())
def test_lazy_package_imports_submodules_on_attribute_access(point, name):
    package = sys.modules[point.PACKAGE]
    assert package.__path__ == [str(_package_dir(point.BINDINGS))]
    assert name in dir(package) and name in package.__all__
    assert getattr(package, name) is sys.modules[f"{point.PACKAGE}.{name}"]
    assert package.__jsii_assembly__.name == point.BINDINGS.assembly
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        package.no_such_thing  # noqa: B018


def test_google_module_keeps_its_contract():
    from constructs_lib._google import compute_network, submodule

    assert compute_network is sys.modules[f"{PACKAGE}.compute_network"]
    assert submodule("compute_subnetwork").ComputeSubnetwork.__module__ == f"{PACKAGE}.compute_subnetwork"
    with pytest.raises(ImportError):
        from constructs_lib._google import no_such_resource  # noqa: F401


def test_kubernetes_module_keeps_its_contract():
    from constructs_lib._kubernetes import PACKAGE as K8S, namespace_v1, submodule

    assert namespace_v1 is sys.modules[f"{K8S}.namespace_v1"]
    assert submodule("service_v1").ServiceV1.__module__ == f"{K8S}.service_v1"
    with pytest.raises(ImportError):
        from constructs_lib._kubernetes import no_such_resource  # noqa: F401


UNUSED_SUBMODULES = {  # per provider: submodules no construct uses -> the required properties of their config
    "google": {
        "workflows_workflow": {},
        "tags_tag_key": {"parent": "organizations/1", "shortName": "key"},
        "vmwareengine_network": {"name": "net", "location": "global", "type": "STANDARD"},
        "transcoder_job_template": {"jobTemplateId": "template", "location": "us-central1"},
    },
    "kubernetes": {
        "default_service_account_v1": {"metadata": {}},
        "namespace": {"metadata": {}},
        "default_service_account": {"metadata": {}},
    },
}


def _not_yet_imported_submodule(provider: str) -> str:
    package = IMPORT_POINTS[provider].PACKAGE
    for name in UNUSED_SUBMODULES[provider]:
        if f"{package}.{name}" not in sys.modules:
            return name
    pytest.skip(f"every candidate submodule of {package} was imported already")


@needs_fast
@pytest.mark.parametrize("provider", IMPORT_POINTS)
def test_an_object_the_js_side_creates_resolves_to_its_class_in_a_not_yet_imported_submodule(stack, provider):
    """jsii meets the FQN of the output reference before any Python code imported its submodule."""
    import jsii
    from jsii import _reference_map

    point = IMPORT_POINTS[provider]
    name = _not_yet_imported_submodule(provider)
    namespace = fqn_namespace(name)
    resource_fqn = f"{point.BINDINGS.assembly}.{namespace}.{namespace[0].upper()}{namespace[1:]}"
    timeouts_fqn = f"{resource_fqn}TimeoutsOutputReference"
    assert timeouts_fqn not in _reference_map._types

    class ForeignResource:  # stands for the resource class: only its FQN reaches the kernel
        __jsii_type__ = resource_fqn

    created = ForeignResource.__new__(ForeignResource)
    jsii.kernel.create(ForeignResource, created, [stack, "foreign", UNUSED_SUBMODULES[provider][name]])
    timeouts = jsii.kernel.get(created, "timeouts")

    module = sys.modules[f"{point.PACKAGE}.{name}"]
    assert type(timeouts).__module__ == module.__name__
    assert type(timeouts).__jsii_type__ == timeouts_fqn
    assert isinstance(timeouts.create, str)  # a working proxy: the kernel answers with a token


@needs_fast
@pytest.mark.parametrize("provider", IMPORT_POINTS)
def test_enum_and_struct_types_of_unimported_submodules_resolve_through_the_map(provider):
    from jsii import _reference_map

    name = _not_yet_imported_submodule(provider)
    namespace = fqn_namespace(name)
    fqn = f"{IMPORT_POINTS[provider].BINDINGS.assembly}.{namespace}.{namespace[0].upper()}{namespace[1:]}Config"
    assert fqn not in _reference_map._data_types
    assert _reference_map._try_import_type_module(fqn)
    assert fqn in _reference_map._data_types


# --- the lazy Node index -----------------------------------------------------------------------

ORIGINAL_INDEX = '''"use strict";
/**
 * Copyright (c) HashiCorp, Inc.
 * SPDX-License-Identifier: MPL-2.0
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.beta = exports.alpha = void 0;
// generated by cdktf get
exports.alpha = require("./alpha");
exports.beta = require("./beta-gamma");
//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozfQ==
'''


def test_lazy_index_keeps_every_export_and_nothing_else():
    text, count = lazy_index_js(ORIGINAL_INDEX)
    assert count == 2
    assert LAZY_INDEX_HEADER in text
    assert 'lazy("alpha", "./alpha");' in text and 'lazy("beta", "./beta-gamma");' in text
    assert "require(path)" in text and 'require("./' not in text


def test_lazy_index_refuses_a_statement_it_does_not_know():
    with pytest.raises(ValueError, match="unexpected statement in lib/index.js: 'console.log"):
        lazy_index_js(ORIGINAL_INDEX + 'console.log("side effect");\n')
    with pytest.raises(ValueError, match="requires no submodules"):
        lazy_index_js('"use strict";\n')


def _npm_tarball(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


SOURCE_MAP = "//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozfQ==\n"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_lazy_tarball_requires_a_submodule_on_first_access_only(tmp_path):
    loaded = "globalThis.loaded = (globalThis.loaded || []).concat([{name}]);\nexports.Klass = class {{}};\n"
    source, target = tmp_path / "src.tgz", tmp_path / "out" / "lazy.tgz"
    _npm_tarball(source, {
        "package.json": '{"name": "demo", "version": "1.0.0", "main": "lib/index.js"}',
        ".jsii": '{"name": "demo"}',
        "lib/index.js": ORIGINAL_INDEX,
        "lib/index.d.ts": "export * as alpha from './alpha';\n",
        "lib/alpha/index.js": loaded.format(name='"alpha"') + SOURCE_MAP,
        "lib/alpha/index.d.ts": "export declare class Klass {}\n",
        "lib/beta-gamma/index.js": loaded.format(name='"beta"'),
    })
    build_lazy_tarball(source, target, expected_submodules=2)

    with tarfile.open(target) as after:
        assert after.getnames() == [
            "package/package.json", "package/.jsii", "package/lib/index.js",
            "package/lib/alpha/index.js", "package/lib/beta-gamma/index.js",
        ]  # declarations dropped, order kept
        assert after.extractfile("package/.jsii").read() == b'{"name": "demo"}'
        assert after.extractfile("package/lib/alpha/index.js").read().decode() == loaded.format(name='"alpha"')
        assert after.extractfile("package/lib/beta-gamma/index.js").read().decode() == loaded.format(name='"beta"')
        after.extractall(tmp_path / "x", filter="data")
    script = (
        "const m = require('./x/package');"
        "const seen = [JSON.stringify(globalThis.loaded || [])];"
        "seen.push(JSON.stringify(Object.keys(m)));"
        "const k = m.beta.Klass; seen.push(JSON.stringify(globalThis.loaded));"
        "m.beta; m.alpha; seen.push(JSON.stringify(globalThis.loaded));"
        "console.log(seen.join('|'));"
    )
    out = subprocess.run(["node", "-e", script], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]|["alpha","beta"]|["beta"]|["beta","alpha"]'


def test_prune_keeps_javascript_statements_and_drops_only_declarations_and_source_maps():
    code = b'"use strict";\nexports.x = 1;\n'
    assert prune_member("package/lib/a/index.js", code + SOURCE_MAP.encode()) == code
    assert prune_member("package/lib/a/index.js", code) == code
    # a sourceMappingURL that is not the trailing comment line is left alone
    odd = code + SOURCE_MAP.encode() + b"exports.y = 2;\n"
    assert prune_member("package/lib/a/index.js", odd) == odd
    assert prune_member("package/lib/a/index.d.ts", b"export {};\n") is None
    assert prune_member("package/__init__.py", b"") is None
    assert prune_member("package/.jsii", b"{}") == b"{}"


def test_lazy_tarball_refuses_a_submodule_count_that_differs_from_the_python_package(tmp_path):
    source = tmp_path / "src.tgz"
    _npm_tarball(source, {"lib/index.js": ORIGINAL_INDEX})
    with pytest.raises(ValueError, match="requires 2 submodules, the Python package has 3"):
        build_lazy_tarball(source, tmp_path / "lazy.tgz", expected_submodules=3)
    assert list(tmp_path.iterdir()) == [source]  # no partial file left behind


@needs_fast
@each_provider
def test_jsii_package_cache_holds_the_lazy_tarball_where_we_wait_for_its_index(point):
    report, bindings = point.LOAD_REPORT, point.BINDINGS
    if report.tarball is None:
        pytest.skip(f"lazy Node loading is off (node={report.node})")
    digest = jsii_tarball_digest(Path(report.tarball), bindings.assembly, bindings.version)
    entry = jsii_package_cache_entry(bindings.assembly, digest, bindings.version)
    assert entry is not None and (entry / "package.json").is_file()
    assert LAZY_INDEX_HEADER in (entry / "lib" / "index.js").read_text()


def test_jsii_package_cache_entry_follows_the_cache_root_and_is_none_when_the_cache_is_off():
    assert jsii_package_cache_entry(ASSEMBLY, "ab12", "16.12.1", {"JSII_RUNTIME_PACKAGE_CACHE_ROOT": "/cache"}) == Path(
        "/cache/@cdktf/provider-google/16.12.1/ab12")
    assert jsii_package_cache_entry(ASSEMBLY, "ab12", "16.12.1", {"JSII_RUNTIME_PACKAGE_CACHE": "disabled"}) is None


def test_cache_dir_honours_the_override_then_xdg():
    assert cache_dir_default({"ML_SERVING_CACHE_DIR": "/c"}) == Path("/c")
    assert cache_dir_default({"XDG_CACHE_HOME": "/x"}) == Path("/x/ml-serving-infra")


# --- the cache of derived tarballs ----------------------------------------------------------------


def _installation(root: Path, version: str = "1.0.0", *, mtime_ns: int | None = None) -> Path:
    """A fake installed original tarball (``<root>/_jsii/demo@<version>.jsii.tgz``)."""
    source = root / "_jsii" / f"demo@{version}.jsii.tgz"
    source.parent.mkdir(parents=True)
    _npm_tarball(source, {
        "package.json": f'{{"name": "demo", "version": "{version}", "main": "lib/index.js"}}',
        "lib/index.js": ORIGINAL_INDEX,
        "lib/alpha/index.js": "exports.A = 1;\n",
        "lib/beta-gamma/index.js": "exports.B = 2;\n",
    })
    if mtime_ns is not None:
        os.utime(source, ns=(mtime_ns, mtime_ns))
    return source


def _use(source: Path, cache: Path):
    """One load's worth of the cache: the copy is pinned, read as jsii would, and released."""
    with lazy_copy(source, cache, assembly="demo", version="1.0.0", expected_submodules=2) as copy:
        with tarfile.open(copy.path) as tar:
            assert LAZY_INDEX_HEADER in tar.extractfile("package/lib/index.js").read().decode()
        return copy


def test_two_installations_of_different_versions_keep_their_copies(tmp_path):
    """Two checkouts with different provider versions alternate without rebuilding each other."""
    cache = tmp_path / "cache"
    one, two = _installation(tmp_path / "venv-1", "1.0.0"), _installation(tmp_path / "venv-2", "2.0.0")
    first_one, first_two = _use(one, cache), _use(two, cache)
    assert first_one.built and first_two.built and first_one.shared != first_two.shared
    for _ in range(2):
        assert not _use(one, cache).built
        assert not _use(two, cache).built
    assert first_one.shared.exists() and first_two.shared.exists()


def test_installations_with_the_same_content_share_one_copy(tmp_path, monkeypatch):
    """Another virtualenv with the same provider (other path, other mtime) reuses the copy, and
    each installation hashes its original once, until it is reinstalled."""
    hashed: list[Path] = []
    monkeypatch.setattr(_fastimport, "file_sha256", lambda path: hashed.append(path) or _real_sha256(path))
    cache = tmp_path / "cache"
    one = _installation(tmp_path / "venv-1", mtime_ns=1_000_000_000)
    two = _installation(tmp_path / "venv-2", mtime_ns=2_000_000_000)
    assert _use(one, cache).built
    copy = _use(two, cache)
    assert not copy.built and copy.shared == _use(one, cache).shared
    assert hashed == [one, two]  # the third use found its installation's memo
    os.utime(one, ns=(3_000_000_000, 3_000_000_000))  # reinstalled: hash again, same content, same copy
    assert not _use(one, cache).built and hashed == [one, two, one]
    assert len(list((cache / "installations").glob("*.json"))) == 2
    assert list((cache / "loading").iterdir()) == []  # pins are released


_real_sha256 = _fastimport.file_sha256


def test_a_cleanup_while_loading_never_removes_the_file_being_loaded(tmp_path):
    """Another process's cleanup removes the shared copy while this one is loading it: the copy
    looks unused for a month (as between pinning and touching it), so collect_garbage takes it."""
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    _use(source, cache)
    with lazy_copy(source, cache, assembly="demo", version="1.0.0") as copy:
        assert not copy.built and copy.path != copy.shared
        month_ago = time.time() - 30 * 86400
        os.utime(copy.shared, (month_ago, month_ago))
        assert collect_garbage(cache) == [copy.shared, copy.meta_path]
        with tarfile.open(copy.path) as tar:  # what jsii reads is still whole
            assert LAZY_INDEX_HEADER in tar.extractfile("package/lib/index.js").read().decode()
    assert _use(source, cache).built  # the next run builds it again instead of failing


def test_a_removal_of_the_shared_copy_while_loading_never_removes_the_file_being_loaded(tmp_path):
    """Any other removal of the shared name (an older checkout's cleanup, a user's rm)."""
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    _use(source, cache)
    with lazy_copy(source, cache, assembly="demo", version="1.0.0") as copy:
        copy.shared.unlink()
        with tarfile.open(copy.path) as tar:
            assert LAZY_INDEX_HEADER in tar.extractfile("package/lib/index.js").read().decode()


def test_a_cleanup_right_after_a_build_never_removes_the_new_copy_being_loaded(tmp_path, monkeypatch):
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    publish = _fastimport._publish

    def publish_then_cleanup(built: Path, shared: Path) -> None:
        publish(built, shared)
        shared.unlink()  # another process's cleanup, between publish and jsii's read

    monkeypatch.setattr(_fastimport, "_publish", publish_then_cleanup)
    copy = _use(source, cache)  # reads the tarball inside the block
    assert copy.built and not copy.path.exists()


def test_a_shared_copy_removed_before_it_is_pinned_is_built_again(tmp_path):
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    first = _use(source, cache)
    first.shared.unlink()  # removed after this process chose it, before it pinned it
    again = _use(source, cache)
    assert again.built and again.shared == first.shared and again.shared.exists()


def test_metadata_follows_the_file_it_describes(tmp_path):
    """A copy replaced by another process's build gets its jsii digest computed again."""
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    copy = _use(source, cache)
    replacement = copy.shared.with_name("replacement")
    replacement.write_bytes(copy.shared.read_bytes() + b"\0")  # another inode, other bytes
    os.replace(replacement, copy.shared)
    again = _use(source, cache)
    assert not again.built
    assert again.meta["digest"] == jsii_tarball_digest(again.shared, "demo", "1.0.0") != copy.meta["digest"]


def test_concurrent_loads_survive_a_cleanup_that_keeps_removing_shared_copies(tmp_path):
    """Real processes: three load (pin, read, release) in a loop while a fourth removes every shared
    copy and its metadata as fast as it can. No load may fail."""
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    loader = (
        "import sys, tarfile; from pathlib import Path; from constructs_lib._fastimport import lazy_copy\n"
        "for _ in range(25):\n"
        "    with lazy_copy(Path(sys.argv[1]), Path(sys.argv[2]), assembly='demo', version='1.0.0') as copy:\n"
        "        tarfile.open(copy.path).extractfile('package/lib/index.js').read()\n"
    )
    cleaner = (
        "import os, sys; from pathlib import Path\n"
        "cache, stop = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "while not stop.exists():\n"
        "    for path in [*cache.glob('*.lazy-*.jsii.tgz'), *cache.glob('*.lazy-*.json')]:\n"
        "        try: path.unlink()\n"
        "        except FileNotFoundError: pass\n"
    )
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    clean = subprocess.Popen([sys.executable, "-c", cleaner, str(cache), str(stop)], env=env)
    try:
        loads = [subprocess.Popen([sys.executable, "-c", loader, str(source), str(cache)], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        results = [(load.wait(timeout=300), load.stderr.read()) for load in loads]
    finally:
        stop.touch()
        clean.wait(timeout=60)
    assert results == [(0, "")] * 3
    assert list((cache / "loading").iterdir()) == []


def test_garbage_collection_removes_only_what_no_run_used_for_its_age(tmp_path):
    cache = tmp_path / "cache"
    live = _installation(tmp_path / "venv-live", "1.0.0")
    gone = _installation(tmp_path / "venv-gone", "2.0.0")
    kept, stale = _use(live, cache), _use(gone, cache)
    shutil.rmtree(tmp_path / "venv-gone")
    leftover = cache / "loading" / f"{stale.shared.stem}.99999.dead.jsii.tgz"
    os.link(stale.shared, leftover)  # a killed process's pin
    # 15 days from now (ctimes cannot be set back, so the clock goes forward): only the live
    # installation's copy was used since
    later = time.time() + 15 * 86400
    os.utime(kept.shared, (later, later))
    gone_memos = _memos_of(cache, "venv-gone")
    removed = collect_garbage(cache, max_age_days=14, now=later)
    assert len(gone_memos) == 1
    assert sorted(removed) == sorted([stale.shared, stale.meta_path, leftover, *gone_memos])
    assert kept.shared.exists() and kept.meta_path.exists()
    assert not _use(live, cache).built


def _memos_of(cache: Path, installation: str) -> list[Path]:
    return [memo for memo in (cache / "installations").glob("*.json") if f"/{installation}/" in memo.read_text()]


def test_garbage_collection_keeps_a_copy_used_within_its_age(tmp_path):
    cache, source = tmp_path / "cache", _installation(tmp_path / "venv")
    copy = _use(source, cache)
    assert collect_garbage(cache, max_age_days=14, now=time.time() + 13 * 86400) == []
    assert copy.shared.exists() and copy.meta_path.exists()


# --- end to end --------------------------------------------------------------------------------


_LOADED_AFTER_SYNTH = (
    "import json, sys\n"
    "import main\n"
    "code = main.main()\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    "main.exit_without_teardown(code)\n"
)


def _modules_after_synth(env_name: str, outdir: Path) -> list[str]:
    """``sys.modules`` after ``main.main()`` synthesized ``env_name`` in a fresh process."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("ML_SERVING_")}
    run_env |= {"ML_SERVING_ENV": env_name, "CDKTF_OUTDIR": str(outdir)}
    completed = subprocess.run([sys.executable, "-c", _LOADED_AFTER_SYNTH], cwd=ROOT, env=run_env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["code"] == 0
    return result["modules"]


@pytest.mark.slow
def test_a_synth_without_gke_never_imports_the_kubernetes_bindings(tmp_path):
    modules = _modules_after_synth("dev", tmp_path / "out")
    assert [name for name in modules if name.startswith(_kubernetes.PACKAGE)] == []


@pytest.mark.slow
def test_a_gke_synth_imports_only_the_kubernetes_submodules_it_uses(tmp_path):
    """The other side of the test above, and the lazy loader at work in a real synth."""
    modules = _modules_after_synth("gke", tmp_path / "out")
    package = _kubernetes.PACKAGE
    submodules = [name for name in modules if name.startswith(f"{package}.") and name != f"{package}._jsii"]
    assert package in modules and f"{package}.deployment_v1" in modules
    assert 0 < len(submodules) < len(submodule_names(_package_dir(_kubernetes.BINDINGS))) // 4


@pytest.mark.slow
def test_fast_and_naive_import_synthesize_byte_identical_stacks_for_every_environment(main_synth, tmp_path):
    """Every environment, the GKE one included: its serving stack is built from the kubernetes
    bindings, so both providers' lazy loaders are compared against their naive import. The fast
    side is the session's ``python main.py`` (tests/entry_synth.py)."""
    environments = sorted(path.stem for path in (ROOT / "environments").glob("*.toml"))
    naive_out = tmp_path / "naive"
    completed = run_main(naive_out, **{NAIVE_ENV: "1"})
    assert completed.returncode == 0, completed.stderr
    fast, naive = (
        {path.parent.name: path.read_bytes() for path in sorted(outdir.glob("stacks/*/cdk.tf.json"))}
        for outdir in (main_synth.outdir, naive_out)
    )
    assert "fast import of" not in main_synth.stderr and "lazy Node loading" not in main_synth.stderr
    assert "could not load the lazy copy" not in main_synth.stderr
    assert len(fast) >= len(environments) > 0  # an environment yields one stack or more
    assert sorted(fast) == sorted(naive)
    for stack in naive:
        assert fast[stack] == naive[stack], f"{stack}: cdk.tf.json differs between the fast and the naive import"
    assert all(json.loads(body).get("resource") for body in fast.values())
    gke = json.loads(fast["ml-serving-gke"])
    assert "kubernetes" in gke["provider"] and "kubernetes_deployment_v1" in gke["resource"]
