"""Provider schema: JSON dump -> tfplugin6 protos (for Terraform) + compact tuples (for the double).

Terraform launches the provider several times per command, so the translation is done once and
cached on disk, keyed by the SHA-256 of the vendored schema file and :data:`CACHE_FORMAT`:

* ``<name>-<version>-<key>.pb``: the serialized ``GetProviderSchema.Response``, sent verbatim
  (without descriptions unless ``TFDOUBLE_DESCRIPTIONS=1``, see :func:`translate`);
* ``<name>-<version>-<key>.marshal``: {"provider": block, "resource"/"data"/"ephemeral":
  {type: marshal(bytes) of (version, block)}, "provider_pb": bytes, "pb": {kind: {type: bytes of
  the type's Schema proto}}}. Per-type entries stay marshalled until used, so a launch only pays
  for the handful of types a configuration mentions, and a schema restricted to those types
  (:meth:`ProviderSchema.response_for`) is assembled without parsing the full response.

A compact block is ``(attrs, blocks)``: attrs ``{name: (cty_type_json_value, flags)}``, blocks
``{name: (nesting, min_items, max_items, block)}``; flags are the bit constants below.
Default cache dir: ``$TFDOUBLE_CACHE_DIR`` or ``<repo>/.tfharness/cache``; if it cannot be written
the translation is simply kept in memory.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any

from . import catalog

REQUIRED, OPTIONAL, COMPUTED, SENSITIVE, WRITE_ONLY, DEPRECATED = 1, 2, 4, 8, 16, 32
#: Bump when the cached layout or translation changes.
CACHE_FORMAT = "5"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / ".tfharness" / "cache"

_KINDS = {"resource": "resource_schemas", "data": "data_source_schemas",
          "ephemeral": "ephemeral_resource_schemas"}


def cache_dir() -> Path:
    return Path(os.environ.get("TFDOUBLE_CACHE_DIR") or DEFAULT_CACHE_DIR)


# ---------------------------------------------------------------------------------------------
# JSON dump -> compact tuples


def _nested_type_to_cty(nested: dict) -> Any:
    obj = ["object", {n: _attr_cty(a) for n, a in nested["attributes"].items()}]
    mode = nested.get("nesting_mode", "single")
    return obj if mode == "single" else [mode, obj]


def _attr_cty(attr: dict) -> Any:
    return attr["type"] if "type" in attr else _nested_type_to_cty(attr["nested_type"])


def _flags(attr: dict) -> int:
    return ((REQUIRED if attr.get("required") else 0) | (OPTIONAL if attr.get("optional") else 0)
            | (COMPUTED if attr.get("computed") else 0) | (SENSITIVE if attr.get("sensitive") else 0)
            | (WRITE_ONLY if attr.get("write_only") else 0) | (DEPRECATED if attr.get("deprecated") else 0))


def compact_block(block: dict) -> tuple:
    attrs = {n: (_attr_cty(a), _flags(a)) for n, a in block.get("attributes", {}).items()}
    blocks = {n: (b["nesting_mode"], b.get("min_items", 0), b.get("max_items", 0), compact_block(b["block"]))
              for n, b in block.get("block_types", {}).items()}
    return attrs, blocks


# ---------------------------------------------------------------------------------------------
# JSON dump -> protos


def _proto_attribute(name: str, attr: dict, descriptions: bool):
    from . import proto

    a = proto.message("Schema.Attribute")(
        name=name, description=attr.get("description", "") if descriptions else "",
        description_kind=1 if attr.get("description_kind") == "markdown" else 0,
        required=bool(attr.get("required")), optional=bool(attr.get("optional")),
        computed=bool(attr.get("computed")), sensitive=bool(attr.get("sensitive")),
        deprecated=bool(attr.get("deprecated")), write_only=bool(attr.get("write_only")))
    if "type" in attr:
        a.type = json.dumps(attr["type"], separators=(",", ":")).encode()
    else:
        nested = attr["nested_type"]
        a.nested_type.nesting = _OBJECT_NESTING[nested.get("nesting_mode", "single")]
        for n, sub in nested["attributes"].items():
            a.nested_type.attributes.append(_proto_attribute(n, sub, descriptions))
    return a


_BLOCK_NESTING = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}
_OBJECT_NESTING = {"single": 1, "list": 2, "set": 3, "map": 4}


def _fill_block(pb_block, block: dict, descriptions: bool) -> None:
    pb_block.description = block.get("description", "") if descriptions else ""
    pb_block.description_kind = 1 if block.get("description_kind") == "markdown" else 0
    pb_block.deprecated = bool(block.get("deprecated"))
    for name, attr in block.get("attributes", {}).items():
        pb_block.attributes.append(_proto_attribute(name, attr, descriptions))
    for name, bt in block.get("block_types", {}).items():
        nb = pb_block.block_types.add(type_name=name, nesting=_BLOCK_NESTING[bt["nesting_mode"]],
                                      min_items=bt.get("min_items", 0), max_items=bt.get("max_items", 0))
        _fill_block(nb.block, bt["block"], descriptions)


def _fill_schema(pb_schema, schema: dict, descriptions: bool) -> None:
    pb_schema.version = schema.get("version", 0)
    _fill_block(pb_schema.block, schema["block"], descriptions)


def translate(dump: dict, spec: catalog.ProviderSpec, descriptions: bool = False) -> tuple[bytes, dict]:
    """(serialized GetProviderSchema.Response, compact index) for one provider's JSON dump.

    Descriptions are left out unless asked for: they are 3/4 of the google schema's 4.5 MB and
    Terraform never needs them to validate, plan or apply, but it decodes them on every command.
    """
    from . import proto

    ps = dump["provider_schemas"][spec.source]
    resp = proto.GetProviderSchemaResponse()
    _fill_schema(resp.provider, ps["provider"], descriptions)
    resp.server_capabilities.plan_destroy = True
    resp.server_capabilities.get_provider_schema_optional = True
    resp.server_capabilities.move_resource_state = True
    index: dict[str, Any] = {"provider": compact_block(ps["provider"]["block"]),
                             "provider_pb": resp.provider.SerializeToString(), "pb": {}}
    for kind, key in _KINDS.items():
        target = getattr(resp, key)
        for type_name, schema in ps.get(key, {}).items():
            _fill_schema(target[type_name], schema, descriptions)
        index[kind] = {t: marshal.dumps((s.get("version", 0), compact_block(s["block"])))
                       for t, s in ps.get(key, {}).items()}
        index["pb"][kind] = {t: target[t].SerializeToString() for t in ps.get(key, {})}
    return resp.SerializeToString(), index


# ---------------------------------------------------------------------------------------------
# cached loading


class ProviderSchema:
    """Schema of one provider, loaded from the cache (building it on a miss)."""

    def __init__(self, spec: catalog.ProviderSpec, response: bytes, index: dict):
        self.spec = spec
        self.response_bytes = response
        self.provider_block = index["provider"]
        self._index = index
        self._decoded: dict[tuple[str, str], tuple] = {}

    def type_names(self, kind: str) -> list[str]:
        return list(self._index[kind])

    def response_for(self, only: set[str] | None) -> bytes:
        """Serialized GetProviderSchema.Response; with `only`, restricted to those types.

        `only` holds resource type names, ``data.<type>`` and ``ephemeral.<type>``; names this
        provider lacks are ignored. Terraform validates every schema it receives
        (InternalValidate) on every command - ~0.5 s of CPU for google's 1,500 types - so the
        harness passes the types a configuration and its state use (see harness.schema_types).
        """
        if only is None:
            return self.response_bytes
        from . import proto

        resp = proto.GetProviderSchemaResponse()
        resp.provider.ParseFromString(self._index["provider_pb"])
        resp.server_capabilities.plan_destroy = True
        resp.server_capabilities.get_provider_schema_optional = True
        resp.server_capabilities.move_resource_state = True
        targets = {"resource": resp.resource_schemas, "data": resp.data_source_schemas,
                   "ephemeral": resp.ephemeral_resource_schemas}
        for name in only:
            kind, _, type_name = name.rpartition(".")
            kind = kind or "resource"
            known = self._index["pb"].get(kind, {})
            if type_name in known:
                wanted = [type_name]
            elif type_name.startswith(f"{self.spec.name}_"):
                # a typo: serve the closest real names so Terraform can still say "Did you mean"
                wanted = difflib.get_close_matches(type_name, list(known), n=1)
            else:
                wanted = []
            for t in wanted:
                targets[kind][t].ParseFromString(known[t])
        return resp.SerializeToString()

    def get(self, kind: str, type_name: str) -> tuple[int, tuple] | None:
        """(schema version, compact block) of a "resource"/"data"/"ephemeral" type, or None."""
        key = (kind, type_name)
        if key not in self._decoded:
            raw = self._index[kind].get(type_name)
            if raw is None:
                return None
            self._decoded[key] = marshal.loads(raw)
        return self._decoded[key]


def with_descriptions() -> bool:
    """Whether served schemas carry descriptions: env TFDOUBLE_DESCRIPTIONS=1 (default off)."""
    return os.environ.get("TFDOUBLE_DESCRIPTIONS", "") not in ("", "0")


def _cache_key(spec: catalog.ProviderSpec, descriptions: bool) -> str:
    digest = hashlib.sha256(spec.schema_file.read_bytes()).hexdigest()[:16]
    return f"{spec.name}-{spec.version}-{digest}-f{CACHE_FORMAT}{'d' if descriptions else ''}"


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `path` through a temporary file of its own in the same folder, then rename it.

    Readers see the old file or the new one, never part of one; writers in several processes or
    threads at once each get a unique temporary name (a name made of the pid alone collided
    between the Terraform loop's threads).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_MEMO: dict[tuple[str, str, bool], ProviderSchema] = {}


def load(name: str, directory: Path | None = None) -> ProviderSchema:
    """Load provider `name`'s schema from the cache in `directory` (default :func:`cache_dir`).

    Memoized per process (the zygote preloads, its forked plugin processes reuse).
    """
    directory = Path(directory) if directory else cache_dir()
    descriptions = with_descriptions()
    memo_key = (name, str(directory.resolve()), descriptions)
    if memo_key not in _MEMO:
        _MEMO[memo_key] = _load(catalog.get(name), directory, descriptions)
    return _MEMO[memo_key]


def _load(spec: catalog.ProviderSpec, directory: Path, descriptions: bool) -> ProviderSchema:
    key = _cache_key(spec, descriptions)
    pb_path, idx_path = directory / f"{key}.pb", directory / f"{key}.marshal"
    try:
        return ProviderSchema(spec, pb_path.read_bytes(), marshal.loads(idx_path.read_bytes()))
    except (OSError, EOFError, ValueError):
        pass
    dump = json.loads(gzip.decompress(spec.schema_file.read_bytes()))
    response, index = translate(dump, spec, descriptions)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(pb_path, response)
        write_atomic(idx_path, marshal.dumps(index))
    except OSError:
        pass  # read-only checkout: serve from memory
    return ProviderSchema(spec, response, index)
