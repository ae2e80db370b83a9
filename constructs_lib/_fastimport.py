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
holds its provider's ``BINDINGS`` and loads them when it is imported (``load_bindings``, through
``constructs_lib._bindings.import_point``).

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

Cache
    The derived copy is keyed by the content of the original (``lazy_copy``): every checkout and
    virtualenv on the machine with the same provider version shares one copy (and one jsii
    runtime index), other versions keep theirs. Each installation remembers its original's hash
    (``source_sha256``). A process loads through its own hard link to the copy, so a cleanup
    elsewhere never removes the file being loaded; ``collect_garbage`` removes only what no run
    used for ``GC_AGE_DAYS``.

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
import secrets
import shutil
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Iterator, Literal, Mapping

from constructs_lib._jsii_pins import JSII_VERSION, NAIVE_ENV, switched_off, switched_on  # the first two re-exported: tests and the bench read them here

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

    @classmethod
    def prebuilt(cls, provider: str, version: str) -> Bindings:
        """The bindings HashiCorp published for ``provider`` (``google``): package
        ``cdktf_cdktf_provider_google``, distribution ``cdktf-cdktf-provider-google``, assembly
        ``@cdktf/provider-google``."""
        return cls(package=f"cdktf_cdktf_provider_{provider}", distribution=f"cdktf-cdktf-provider-{provider}",
                   assembly=f"@cdktf/provider-{provider}", version=version)

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
    """The cache's derived (lazy) provider tarball whose content jsii loaded, if any."""


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
    if switched_on(environ, NAIVE_ENV):
        importlib.import_module(package)
        return LoadReport("naive", node="eager", reason=f"{NAIVE_ENV}={environ[NAIVE_ENV]}")
    lazy_node = not switched_off(environ, LAZY_NODE_ENV)
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


# --------------------------------------------------------------------------------------------
# Cache of derived tarballs
#
#   <cache>/<original stem>.lazy-<key>.jsii.tgz   the derived tarball; key = sha256 of the original's
#                                                  bytes and LAZY_FORMAT, so every installation with
#                                                  the same provider shares it, other versions coexist
#   <cache>/<original stem>.lazy-<key>.json       its metadata: jsii's digest of it, index waits
#   <cache>/installations/<path hash>.json        one installation's original: identity -> sha256
#   <cache>/loading/<stem>.<pid>.<token>.jsii.tgz a process's private hard link while jsii loads it

GC_AGE_DAYS = 14.0
"""Cache files no run used for this long are removed (after the next build). Two weeks: a checkout
used now and then keeps its copy (3-13 MB each), a provider upgrade frees the old one."""

INSTALLATIONS_DIR = "installations"
LOADING_DIR = "loading"


@dataclass(frozen=True)
class LazyCopy:
    """A derived tarball, pinned for one load (see ``lazy_copy``)."""

    shared: Path
    """The cache's copy, which other processes use too and a cleanup may remove."""
    path: Path
    """What to hand jsii: this process's hard link to ``shared`` (``shared`` where there are no hard links)."""
    meta: dict
    """``digest`` (the key of jsii's package cache), ``index_waits``, ``ino`` (the file it describes)."""
    meta_path: Path
    built: bool
    """Whether this call built it."""


def file_sha256(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def source_sha256(source: Path, cache: Path) -> str:
    """sha256 of the original tarball ``source``, remembered per installation.

    Hashing google's 31 MB costs ~20 ms a run; the memo (``installations/``, keyed by the resolved
    path, valid while size, mtime and inode are unchanged, so a reinstall hashes again) makes it
    a stat and a small read.
    """
    resolved = source.resolve()
    stat = resolved.stat()
    identity = {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ino": stat.st_ino}
    memo = cache / INSTALLATIONS_DIR / f"{hashlib.sha256(str(resolved).encode()).hexdigest()[:16]}.json"
    known = _read_json(memo)
    if known and isinstance(known.get("sha256"), str) and all(known.get(k) == v for k, v in identity.items()):
        return known["sha256"]
    digest = file_sha256(resolved)
    memo.parent.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(memo, identity | {"sha256": digest})
    return digest


def lazy_stem(source: Path, sha256: str) -> str:
    """File stem of the derived copy of an original named ``source.name`` with content ``sha256``."""
    key = hashlib.sha256(f"{sha256}:format{LAZY_FORMAT}".encode()).hexdigest()[:16]
    return f"{source.name.removesuffix('.jsii.tgz')}.lazy-{key}"


@contextmanager
def lazy_copy(
    source: Path, cache: Path, *, assembly: str, version: str, expected_submodules: int | None = None,
) -> Iterator[LazyCopy]:
    """The derived tarball of ``source`` in ``cache``, built if missing, pinned while the block runs.

    Keyed by the original's content: checkouts and virtualenvs with the same provider share one
    copy, other versions keep theirs, and nothing here deletes another key. ``path`` is a hard
    link private to this process (``loading/``), made before jsii reads the file and removed
    after: another process may remove the shared name meanwhile (``collect_garbage``, a user),
    the file being loaded stays. A build is pinned before it is published, for the same reason.
    """
    cache.mkdir(parents=True, exist_ok=True)
    stem = lazy_stem(source, source_sha256(source, cache))
    shared, meta_path = cache / f"{stem}.jsii.tgz", cache / f"{stem}.json"
    (cache / LOADING_DIR).mkdir(exist_ok=True)
    private = cache / LOADING_DIR / f"{stem}.{os.getpid()}.{secrets.token_hex(4)}.jsii.tgz"
    built = False
    try:
        path = _pin(shared, private)
    except FileNotFoundError:
        build_lazy_tarball(source, private, expected_submodules)
        path, built = private, True
    try:
        if built:
            _publish(private, shared)
        stat = path.stat()
        meta = _read_json(meta_path)
        if built or not meta or meta.get("ino") != stat.st_ino or not isinstance(meta.get("digest"), str):
            meta = {"format": LAZY_FORMAT, "ino": stat.st_ino,
                    "digest": jsii_tarball_digest(path, assembly, version), "index_waits": 0}
            _write_json_atomic(meta_path, meta)
        os.utime(path)  # last use, what collect_garbage goes by
        yield LazyCopy(shared=shared, path=path, meta=meta, meta_path=meta_path, built=built)
    finally:
        if path == private:
            _unlink(private)


def _pin(shared: Path, private: Path) -> Path:
    """Hard-link ``shared`` to ``private`` and return ``private`` (``shared`` where hard links fail).

    Raises ``FileNotFoundError`` when there is no ``shared``.
    """
    try:
        os.link(shared, private)
        return private
    except FileNotFoundError:
        raise
    except OSError:  # no hard links on this file system: load the shared name, unpinned
        if not shared.exists():
            raise FileNotFoundError(shared) from None
        return shared


def _publish(built: Path, shared: Path) -> None:
    """Make the freshly built file the shared copy, atomically (a concurrent identical build may win)."""
    tmp = shared.with_name(f".{shared.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        try:
            os.link(built, tmp)
        except OSError:
            shutil.copyfile(built, tmp)
        os.replace(tmp, shared)
    except BaseException:
        _unlink(tmp)
        raise


def collect_garbage(cache: Path, *, max_age_days: float = GC_AGE_DAYS, now: float | None = None) -> list[Path]:
    """Remove from ``cache`` what no run used for ``max_age_days``; return what was removed.

    That is derived tarballs (their metadata goes with them) and temporary files, judged by
    mtime (``lazy_copy`` touches the copy it loads); loading links left by killed processes,
    judged by ctime (making a link sets it, so a pin is never old); and the memos of
    installations whose original is gone. Runs after a build, which is what adds files. A
    process that finds its copy gone builds it again; one that is loading it holds its own link.
    """
    cutoff = (time.time() if now is None else now) - max_age_days * 86400
    removed: list[Path] = []

    def remove_if_unused(path: Path, used: Callable[[os.stat_result], float]) -> None:
        try:
            unused = used(path.stat()) < cutoff
        except FileNotFoundError:
            return
        if unused and _unlink(path):
            removed.append(path)

    loading, installations = cache / LOADING_DIR, cache / INSTALLATIONS_DIR
    for path in [*cache.glob("*.lazy-*.jsii.tgz"), *cache.glob(".*.tmp"), *cache.glob("*.tmp"),
                 *loading.glob("*.tmp"), *installations.glob("*.tmp")]:
        remove_if_unused(path, lambda stat: stat.st_mtime)
    for path in loading.glob("*.jsii.tgz"):
        remove_if_unused(path, lambda stat: stat.st_ctime)
    for meta in cache.glob("*.lazy-*.json"):
        if not meta.with_name(meta.name.removesuffix(".json") + ".jsii.tgz").exists() and _unlink(meta):
            removed.append(meta)
    for memo in installations.glob("*.json"):
        known = _read_json(memo)
        if not (known and isinstance(known.get("path"), str) and os.path.exists(known["path"])) and _unlink(memo):
            removed.append(memo)
    return removed


def _read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or None if it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as stream:
            json.dump(data, stream)
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def _unlink(path: Path) -> bool:
    """Remove ``path``; False if it was gone already or cannot be removed."""
    try:
        path.unlink()
        return True
    except OSError:
        return False


def _load_lazy_assembly(bindings: Bindings, package_dir: Path, cache_dir: Path | None) -> tuple[str, str | None]:
    """Load the derived tarball into the jsii kernel; return the node mode (``eager`` if skipped) and its path."""
    import warnings

    import jsii

    assembly, version = bindings.assembly, bindings.version
    sources = sorted((package_dir / "_jsii").glob("*.jsii.tgz"))
    if len(sources) != 1:
        return "eager", None
    cache = cache_dir or cache_dir_default()
    try:
        with lazy_copy(sources[0], cache, assembly=assembly, version=version,
                       expected_submodules=len(submodule_names(package_dir))) as copy:
            try:
                jsii.kernel.load(assembly, version, os.fspath(copy.path))
            except Exception as error:  # noqa: BLE001 - jsii raises its own error types; the original still loads
                warnings.warn(f"constructs_lib: jsii could not load the lazy copy of {assembly} ({error}); "
                              f"Node requires the whole provider", RuntimeWarning, stacklevel=5)
                return "eager", None
    except (OSError, ValueError, tarfile.TarError) as error:
        warnings.warn(f"constructs_lib: lazy Node loading of {assembly} disabled ({error}); "
                      f"Node requires the whole provider", RuntimeWarning, stacklevel=5)
        return "eager", None
    if copy.built:
        try:
            collect_garbage(cache)
        except OSError:
            pass  # best effort: a cache we cannot clean still works

    tarball = os.fspath(copy.shared)
    entry = jsii_package_cache_entry(assembly, copy.meta["digest"], version)
    if entry is None or (entry / RUNTIME_INDEX_MANIFEST).exists():
        return "lazy", tarball
    # jsii writes its runtime type index in a worker thread of the Node process; a short process
    # exits before it is done, and every later run would parse the whole .jsii again (google: 98 MB,
    # ~1.5 s, ~0.4 GB). So the run that finds it missing waits for it at exit, at most MAX_INDEX_WAITS
    # times per tarball (a broken cache must not make every run wait).
    waits = int(copy.meta.get("index_waits", 0))
    if waits >= MAX_INDEX_WAITS:
        return "lazy-unindexed", tarball
    try:
        _write_json_atomic(copy.meta_path, copy.meta | {"index_waits": waits + 1})
    except OSError:
        return "lazy-unindexed", tarball
    atexit.register(_wait_for_runtime_index, entry, assembly, INDEX_WAIT_SECONDS)  # runs before jsii stops Node
    return "lazy-indexing", tarball


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
