"""Load prebuilt cdktf provider bindings lazily, on both sides of jsii.

Importing a prebuilt provider package the normal way costs, per process, for
``cdktf_cdktf_provider_google`` (1,470 submodules) ~12-20 s and ~0.5 GB, for
``cdktf_cdktf_provider_kubernetes`` (109 submodules, some of them huge) ~2.5-4 s:

* Python: the package ``__init__`` imports every submodule (plus the module teardown at exit);
* Node: jsii ``load``\\ s the assembly and ``require``\\ s the package's ``lib/index.js``, which
  requires every submodule file (~0.4 GB of heap for google).

A synth uses a dozen submodules. This module makes both sides pay only for those, for any
prebuilt provider described by a ``Bindings`` (package, distribution, assembly, supported
versions). Each import-point module (``constructs_lib._google``, ``constructs_lib._kubernetes``)
holds its provider's ``BINDINGS`` and calls ``load_bindings(BINDINGS)`` once when imported.

Python layer
    The package module is created from its import spec (real ``__path__``) without running its
    ``__init__``; submodules are imported on first attribute access (module ``__getattr__``) or
    by ``import <package>.<name>``. ``<package>._jsii`` is imported as usual, so the assembly is
    registered with the jsii kernel exactly as before.

    Objects created on the JavaScript side are resolved by FQN through jsii's type registry,
    which a submodule fills when it is imported. For an FQN whose submodule was not imported yet
    (``@cdktf/provider-google.computeNetwork.ComputeNetworkTimeoutsOutputReference``), jsii's
    ``_reference_map._try_import_type_module`` looks the FQN's namespace up in
    ``_reference_map._submodule_fqn_map``; jsii-pacmak only emits that map for newer packages, so
    we fill it (namespace ``computeNetwork`` -> ``<package>.compute_network``): the submodule gets
    imported on the lookup miss and registers all its types.

Node layer
    jsii ``load`` takes a tarball path. We load, before ``<package>._jsii`` does, a derived copy of
    the provider tarball whose ``lib/index.js`` turns the eager ``exports.x = require("./x")``
    lines into lazy getters (and which leaves out what Node never reads, see ``prune_member``).
    jsii finds a class by walking ``exports.<namespace>.<Type>``, so a submodule's JavaScript is
    required on first use. ``<package>._jsii`` then finds the assembly already loaded and does not
    load the original. The copy is built once (~2-5 s for google) into the cache directory; jsii's
    package cache builds its runtime type index for it in a worker thread, which the run that
    finds the index missing waits for at exit (once), so later runs skip parsing the ``.jsii``.

Both layers lean on private jsii details. They run only with the jsii and provider versions
they were written for (``Bindings.supported_versions``); anything else falls back to the normal
import of that provider with a warning that names the reason. ``ML_SERVING_NAIVE_IMPORT=1``
forces the normal import of every provider, ``ML_SERVING_LAZY_NODE=0`` keeps the Python layer
but loads the original tarballs.
"""

from __future__ import annotations

import atexit
import gzip
import hashlib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import time
from glob import escape as glob_escape
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Literal, Mapping

JSII_VERSION = "1.142.0"
"""The jsii runtime whose private type registry and package cache the fast path was verified against."""

NAIVE_ENV = "ML_SERVING_NAIVE_IMPORT"
"""Set to 1 to import the whole package the normal way (benchmarks, equivalence tests)."""

LAZY_NODE_ENV = "ML_SERVING_LAZY_NODE"
"""Set to 0 to keep the lazy Python layer but let Node require the provider's whole JS."""

CACHE_ENV = "ML_SERVING_CACHE_DIR"
"""Where the lazy provider tarball is kept. Defaults to $XDG_CACHE_HOME (or ~/.cache)/ml-serving-infra."""

LAZY_FORMAT = 2
"""Bumped whenever the derived tarball's content changes, so stale copies are not reused."""

INDEX_WAIT_SECONDS = 90.0
"""How long the run that finds the runtime index missing waits at exit for jsii to write it."""

MAX_INDEX_WAITS = 2
"""Runs per derived tarball that may wait for the index (a later run just goes without it)."""

IMPORT_POINTS = ("constructs_lib._google", "constructs_lib._kubernetes")
"""The modules that hold a provider's ``BINDINGS`` and load it (``main`` prepares them all)."""

Mode = Literal["fast", "naive", "fallback", "preloaded"]


@dataclass(frozen=True)
class Bindings:
    """A prebuilt cdktf provider package the lazy loader can install (see ``load_bindings``)."""

    package: str
    """Python package: ``cdktf_cdktf_provider_google``."""
    distribution: str
    """PyPI distribution: ``cdktf-cdktf-provider-google``."""
    assembly: str
    """jsii assembly (npm package) name: ``@cdktf/provider-google``."""
    version: str
    """Version of ``distribution`` the fast path was verified with (exact match, else fallback)."""
    jsii: str = JSII_VERSION
    """Version of the jsii runtime it was verified with. Defaults to ``JSII_VERSION``."""

    @property
    def supported_versions(self) -> dict[str, str]:
        """Distribution -> the exact version the fast path runs with (jsii and the bindings)."""
        return {"jsii": self.jsii, self.distribution: self.version}


class FastImportUnsupported(RuntimeError):
    """The fast path cannot run here; ``str(error)`` is the reason, shown in the fallback warning."""


@dataclass(frozen=True)
class LoadReport:
    """How the bindings were loaded in this process.

    ``mode``: ``fast`` (lazy), ``naive`` (asked for with ML_SERVING_NAIVE_IMPORT=1), ``fallback``
    (fast path refused, see ``reason``), ``preloaded`` (someone imported the package first).
    ``node``: ``lazy`` (derived tarball, runtime index cached), ``lazy-indexing`` (derived tarball,
    jsii builds its index during this run, waited for at exit), ``lazy-unindexed`` (derived
    tarball, index still missing after two waits), ``eager`` (original tarball) or ``-``.
    """

    mode: Mode
    node: str = "-"
    reason: str | None = None
    tarball: str | None = None
    """The derived (lazy) provider tarball loaded into the jsii kernel, if any."""


# --------------------------------------------------------------------------------------------
# Version guard


def installed_versions(distributions: Iterable[str]) -> dict[str, str]:
    """Installed version of each of ``distributions`` ("" if missing)."""
    versions = {}
    for dist in distributions:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = ""
    return versions


def unsupported_reason(installed: Mapping[str, str], supported: Mapping[str, str]) -> str | None:
    """Why the fast path must not run with these installed versions, or None if it may."""
    mismatches = [
        f"{dist} {'is ' + installed[dist] if installed.get(dist) else 'is not installed'}, "
        f"the fast path was written for {want}"
        for dist, want in supported.items()
        if installed.get(dist) != want
    ]
    return "; ".join(mismatches) or None


def jsii_internals_reason(reference_map: object | None = None) -> str | None:
    """Why jsii's type registry lacks what the fast path relies on, or None if it has it."""
    if reference_map is None:
        from jsii import _reference_map as reference_map
    fqn_map = getattr(reference_map, "_submodule_fqn_map", None)
    if not isinstance(fqn_map, dict) or not callable(getattr(reference_map, "_try_import_type_module", None)):
        return "jsii._reference_map has no _submodule_fqn_map / _try_import_type_module"
    return None


# --------------------------------------------------------------------------------------------
# Python layer


def fqn_namespace(submodule: str) -> str:
    """jsii namespace of a binding submodule: ``compute_network`` -> ``computeNetwork``.

    jsii-pacmak derives the Python name by snake-casing the namespace; the inverse holds for every
    submodule of the supported providers (tests check it against the ``jsii_type`` each declares).
    """
    first, *rest = submodule.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def submodule_names(package_dir: Path) -> tuple[str, ...]:
    """Names of the binding submodules (``compute_network``...) found in ``package_dir``."""
    return tuple(sorted(
        entry.name for entry in os.scandir(package_dir)
        if not entry.name.startswith("_") and entry.is_dir()
    ))


def submodule_fqn_map(names: tuple[str, ...], package: str, assembly: str) -> dict[str, str]:
    """jsii submodule FQN -> Python module, the map jsii uses to import a type's submodule on demand."""
    return {f"{assembly}.{fqn_namespace(name)}": f"{package}.{name}" for name in names}


def _lazy_package(spec: importlib.machinery.ModuleSpec, names: tuple[str, ...]) -> ModuleType:
    """The package module, created from its spec without executing its ``__init__``."""
    module = importlib.util.module_from_spec(spec)
    known = frozenset(names)

    def __getattr__(name: str) -> ModuleType:  # noqa: N807 - PEP 562 hook
        if name in known:
            return importlib.import_module(f"{spec.name}.{name}")
        raise AttributeError(f"module {spec.name!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(module.__dict__) | known)

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    module.__dir__ = __dir__  # type: ignore[attr-defined]
    module.__all__ = list(names)  # type: ignore[attr-defined]
    return module


def install(
    bindings: Bindings,
    *,
    installed: Mapping[str, str] | None = None,
    lazy_node: bool = True,
    cache_dir: Path | None = None,
    modules: Mapping[str, ModuleType] | None = None,
) -> LoadReport:
    """Install the lazy package module of ``bindings``; raise ``FastImportUnsupported`` (nothing
    changed) if it cannot.

    ``installed`` overrides the detected versions and ``modules`` the ``sys.modules`` checked for
    an earlier import of the package (tests inject both).
    """
    package, supported = bindings.package, bindings.supported_versions
    if package in (sys.modules if modules is None else modules):
        return LoadReport("preloaded", reason=f"{package} was imported before its import-point module")
    reason = unsupported_reason(installed_versions(supported) if installed is None else installed, supported)
    reason = reason or jsii_internals_reason()
    if reason:
        raise FastImportUnsupported(reason)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FastImportUnsupported(f"{package} is not an installed package")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    names = submodule_names(package_dir)
    if "provider" not in names:
        raise FastImportUnsupported(f"no binding submodules found in {package_dir}")

    import cdktf._jsii  # noqa: F401 - every prebuilt provider assembly depends on these two
    import constructs._jsii  # noqa: F401
    from jsii import _reference_map

    node, tarball = _load_lazy_assembly(bindings, package_dir, cache_dir) if lazy_node else ("eager", None)
    sys.modules[package] = module = _lazy_package(spec, names)
    try:
        jsii_module = importlib.import_module(f"{package}._jsii")  # loads the assembly (a no-op if loaded above)
    except BaseException:
        del sys.modules[package]
        raise
    module.__jsii_assembly__ = jsii_module.__jsii_assembly__  # type: ignore[attr-defined]
    _reference_map._submodule_fqn_map.update(submodule_fqn_map(names, package, bindings.assembly))
    return LoadReport("fast", node=node, tarball=tarball)


def load_bindings(
    bindings: Bindings,
    environ: Mapping[str, str] | None = None,
    *,
    installed: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
    cache_dir: Path | None = None,
    modules: Mapping[str, ModuleType] | None = None,
) -> LoadReport:
    """Make ``import <bindings.package>.<name>`` work, the fast way when it is safe.

    Falls back to importing the whole package, with a warning naming the reason, when the
    installed versions are not the ones the fast path was written for. ``environ`` defaults to
    ``os.environ``; the other arguments are for tests (see ``install``).
    """
    environ = os.environ if environ is None else environ
    if warn is None:
        import warnings

        def warn(message: str) -> None:
            warnings.warn(message, RuntimeWarning, stacklevel=4)

    package = bindings.package
    if environ.get(NAIVE_ENV, "") not in ("", "0"):
        importlib.import_module(package)
        return LoadReport("naive", node="eager", reason=f"{NAIVE_ENV}={environ[NAIVE_ENV]}")
    lazy_node = environ.get(LAZY_NODE_ENV, "1") not in ("0", "false", "no")
    try:
        return install(bindings, installed=installed, lazy_node=lazy_node, cache_dir=cache_dir, modules=modules)
    except FastImportUnsupported as error:
        warn(
            f"constructs_lib: fast import of {package} disabled ({error}); importing the whole package "
            f"instead (every submodule: slow). Pin the versions in requirements.txt or update its BINDINGS."
        )
        importlib.import_module(package)
        return LoadReport("fallback", node="eager", reason=str(error))


# --------------------------------------------------------------------------------------------
# Node layer

_REQUIRE_LINE = re.compile(r'^exports\.([A-Za-z_$][A-Za-z0-9_$]*) = require\("(\./[a-z0-9-]+)"\);$')
_EXPORTS_DECL = re.compile(r"^exports\.[A-Za-z0-9_$]+ = (?:exports\.[A-Za-z0-9_$]+ = )*void 0;$")
_IGNORED_LINES = re.compile(r'^(?:"use strict";|/\*\*|\*.*|\*/|//.*|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);|)$')

LAZY_INDEX_HEADER = f"// ml-serving-infra lazy index (format {LAZY_FORMAT}): submodules are required on first access."


def lazy_index_js(source: str) -> tuple[str, int]:
    """Rewrite the provider's ``lib/index.js`` so each submodule is required on first access.

    Returns the new source and the number of submodules. Raises ``ValueError`` if the source has
    any statement other than the ones jsii/tsc emit for ``export * as x from './x'``: then the
    rewrite could change behaviour, and the original tarball is used.
    """
    exports: list[tuple[str, str]] = []
    for line in source.splitlines():
        line = line.strip()
        match = _REQUIRE_LINE.match(line)
        if match:
            exports.append((match.group(1), match.group(2)))
        elif not (_EXPORTS_DECL.match(line) or _IGNORED_LINES.match(line)):
            raise ValueError(f"unexpected statement in lib/index.js: {line[:120]!r}")
    if not exports:
        raise ValueError("lib/index.js requires no submodules")
    lines = [
        '"use strict";',
        LAZY_INDEX_HEADER,
        'Object.defineProperty(exports, "__esModule", { value: true });',
        "function lazy(name, path) {",
        "    Object.defineProperty(exports, name, {",
        "        enumerable: true,",
        "        configurable: true,",
        "        get() {",
        "            const value = require(path);",
        "            Object.defineProperty(exports, name, { value, enumerable: true, writable: true, configurable: true });",
        "            return value;",
        "        },",
        "    });",
        "}",
        *(f'lazy("{name}", "{path}");' for name, path in exports),
        "",
    ]
    return "\n".join(lines), len(exports)


_SOURCE_MAP_COMMENT = b"\n//# sourceMappingURL=data:"


def prune_member(name: str, data: bytes) -> bytes | None:
    """What the derived tarball keeps of a file: ``None`` drops it, else the (maybe shortened) bytes.

    Node never reads TypeScript declarations (``*.d.ts``) or the stray ``__init__.py`` the npm
    package ships, and reads inline source maps only under ``--enable-source-maps``: together
    they are ~160 MB of the ~310 MB unpacked. Dropping them shrinks the tarball jsii hashes on
    every run from ~45 MB to ~13 MB. JavaScript statements are never touched.
    """
    if name.endswith(".d.ts") or name == "package/__init__.py":
        return None
    if name.endswith(".js"):
        cut = data.rfind(_SOURCE_MAP_COMMENT)
        if cut >= 0 and b"\n" not in data[cut + 1:].rstrip(b"\n"):  # only a trailing comment line
            return data[:cut + 1]
    return data


def build_lazy_tarball(source: Path, target: Path, expected_submodules: int | None = None, *, prune: bool = True) -> None:
    """Copy the npm tarball ``source`` to ``target`` with a lazy ``lib/index.js`` (atomic write).

    With ``prune``, files Node does not need at run time are left out (see ``prune_member``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    rewritten = False
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(source, "r:gz") as tin:
            # Level 1: built ~3x faster than level 6 for a slightly larger file.
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tout:
                for member in tin:
                    if not member.isfile():
                        tout.addfile(member)
                        continue
                    data = tin.extractfile(member).read()
                    if member.name == "package/lib/index.js":
                        text, count = lazy_index_js(data.decode("utf-8"))
                        if expected_submodules is not None and count != expected_submodules:
                            raise ValueError(f"lib/index.js requires {count} submodules, the Python package has {expected_submodules}")
                        data = text.encode("utf-8")
                        rewritten = True
                    elif prune:
                        kept = prune_member(member.name, data)
                        if kept is None:
                            continue
                        data = kept
                    member.size = len(data)
                    tout.addfile(member, io.BytesIO(data))
        if not rewritten:
            raise ValueError(f"{source} has no package/lib/index.js")
        os.replace(tmp_name, target)
    except BaseException:
        os.unlink(tmp_name)
        raise


def cache_dir_default(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ml-serving-infra"


def jsii_package_cache_entry(
    assembly: str, digest: str, version: str, environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Directory jsii's package cache extracts a tarball with sha256 ``digest`` into (Linux layout), if enabled."""
    environ = os.environ if environ is None else environ
    if sys.platform != "linux" or environ.get("JSII_RUNTIME_PACKAGE_CACHE", "enabled").lower() != "enabled":
        return None
    root = environ.get("JSII_RUNTIME_PACKAGE_CACHE_ROOT") or os.path.join(os.path.expanduser("~"), ".cache", "aws", "jsii", "package-cache")
    return Path(root, *assembly.split("/"), version, digest)


def jsii_tarball_digest(path: Path, name: str, version: str) -> str:
    """The key jsii's package cache files a tarball under: sha256(bytes, NUL name, NUL version)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    for part in (name, version):
        digest.update(b"\0")
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


RUNTIME_INDEX_MANIFEST = ".jsii.runtime.v1.json"


def _load_lazy_assembly(bindings: Bindings, package_dir: Path, cache_dir: Path | None) -> tuple[str, str | None]:
    """Load the derived tarball into the jsii kernel; return the node mode (``eager`` if skipped) and its path."""
    import warnings

    import jsii

    assembly, version = bindings.assembly, bindings.version
    sources = sorted((package_dir / "_jsii").glob("*.jsii.tgz"))
    if len(sources) != 1:
        return "eager", None
    source = sources[0]
    stat = source.stat()
    cache = cache_dir or cache_dir_default()
    key = f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}:format{LAZY_FORMAT}"
    stem = f"{source.name.removesuffix('.jsii.tgz')}.lazy-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    tarball, meta_path = cache / f"{stem}.jsii.tgz", cache / f"{stem}.json"
    try:
        meta = json.loads(meta_path.read_text()) if tarball.exists() and meta_path.exists() else None
        if meta is None or meta.get("key") != key:
            build_lazy_tarball(source, tarball, expected_submodules=len(submodule_names(package_dir)))
            meta = {"key": key, "digest": jsii_tarball_digest(tarball, assembly, version), "index_waits": 0}
            _write_json_atomic(meta_path, meta)
            _remove_stale_copies(cache, source.name.removesuffix(".jsii.tgz"), keep=stem)
    except (OSError, ValueError, tarfile.TarError) as error:
        warnings.warn(f"constructs_lib: lazy Node loading of {assembly} disabled ({error}); "
                      f"Node requires the whole provider", RuntimeWarning, stacklevel=5)
        return "eager", None
    try:
        jsii.kernel.load(assembly, version, os.fspath(tarball))
    except Exception as error:  # noqa: BLE001 - jsii raises its own error types; the original still loads
        warnings.warn(f"constructs_lib: jsii could not load the lazy copy of {assembly} ({error}); "
                      f"Node requires the whole provider", RuntimeWarning, stacklevel=5)
        return "eager", None

    entry = jsii_package_cache_entry(assembly, meta["digest"], version)
    if entry is None or (entry / RUNTIME_INDEX_MANIFEST).exists():
        return "lazy", os.fspath(tarball)
    # jsii writes its runtime type index in a worker thread of the Node process; a short process
    # exits before it is done, and every later run would parse the whole .jsii again (google: 98 MB,
    # ~1.5 s, ~0.4 GB). So the run that finds it missing waits for it at exit, at most MAX_INDEX_WAITS
    # times per tarball (a broken cache must not make every run wait).
    waits = int(meta.get("index_waits", 0))
    if waits >= MAX_INDEX_WAITS:
        return "lazy-unindexed", os.fspath(tarball)
    try:
        _write_json_atomic(meta_path, meta | {"index_waits": waits + 1})
    except OSError:
        return "lazy-unindexed", os.fspath(tarball)
    atexit.register(_wait_for_runtime_index, entry, assembly, INDEX_WAIT_SECONDS)  # runs before jsii stops Node
    return "lazy-indexing", os.fspath(tarball)


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            json.dump(data, stream)
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def _remove_stale_copies(cache: Path, source_stem: str, keep: str) -> None:
    """Delete derived tarballs of older provider builds or formats (best effort)."""
    for path in cache.glob(f"{glob_escape(source_stem)}.lazy-*"):
        if not path.name.startswith(f"{keep}.") and (path.name.endswith(".jsii.tgz") or path.name.endswith(".json")):
            try:
                path.unlink()
            except OSError:
                pass


def _wait_for_runtime_index(entry: Path, assembly: str, timeout: float) -> None:
    if (entry / RUNTIME_INDEX_MANIFEST).exists():
        return
    print(f"constructs_lib: waiting for jsii to index the lazy {assembly} assembly (once per machine)...",
          file=sys.stderr, flush=True)
    deadline = time.monotonic() + timeout
    while not (entry / RUNTIME_INDEX_MANIFEST).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def main() -> int:
    """``python -m constructs_lib._fastimport``: prepare every provider's lazy tarball (as the
    import-point modules do) and print how each was loaded."""
    for name in IMPORT_POINTS:
        point = importlib.import_module(name)
        report = point.LOAD_REPORT
        print(f"{point.BINDINGS.package}: mode={report.mode} node={report.node}"
              + (f" reason={report.reason}" if report.reason else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
