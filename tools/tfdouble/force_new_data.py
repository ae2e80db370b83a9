"""Regenerate the vendored replacement rules from the provider's force-new reference data.

    python -m tools.tfdouble.force_new_data /path/to/google-6.50.0.force-new.json.gz

reads that file (``ForceNew`` flags extracted from the provider's Go source) and the vendored
schema dump of the same provider (``tools/tfdouble/schemas/<name>-<version>.schema.json.gz``),
and writes ``tools/tfdouble/schemas/<name>-<version>.force-new.json``: per resource type the
force-new paths, which of them are blocks (only a change of their element count replaces),
the conditional rules the double can decide from old and new values, and the ones it cannot.
The header records the source file's SHA-256, so a stale copy is visible in review.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

from . import catalog

FORMAT = 1

#: CustomizeDiff conditions (as the reference data names them) -> the rule the double applies.
CONDITIONS = {
    "redis.isRedisVersionDecreasing": "version_decrease",
    "compute.IsDiskShrinkage": "decrease",
    "vpcaccess.isInstanceShrinkage": "decrease",
    "container.isBeenEnabled": "true_to_false",
    "storage.isPolicyLocked": "true_to_false",
    "compute.IsShrinkageIpCidr": "cidr_not_covering",
    "compute.ForceNewResourcePoliciesWorkloadPolicyIfNewIsEmpty": "cleared",
}
#: ``labels`` of these types replace through ``effective_labels`` (tpgresource.SetLabelsDiff).
LABELS_VIA = "effective_labels is ForceNew"


def _schema_node(block: dict, dotted: str) -> str | None:
    """"block" (a nested block, or a list/set of objects), "attr" or None (not in the schema)
    for a dotted path inside a schema dump's block."""
    kind, value = "block", block
    for part in dotted.split("."):
        if kind == "block":
            if part in value.get("block_types", {}):
                value = value["block_types"][part]["block"]
            elif part in value.get("attributes", {}):
                kind, value = "type", value["attributes"][part].get("type")
            else:
                return None
            continue
        while isinstance(value, list) and value[0] in ("list", "set", "map"):
            value = value[1]  # SDKv2 ConfigModeAttr: a collection of objects
        if not (isinstance(value, list) and value[0] == "object" and part in value[1]):
            return None
        value = value[1][part]
    objects = isinstance(value, list) and value[0] in ("list", "set") and isinstance(value[1], list) and value[1][0] == "object"
    return "block" if kind == "block" or objects else "attr"


def _conditional(entry: dict) -> tuple[list[list[str]], list[str]]:
    decided, undecided = [], []
    for rule in entry.get("conditional_force_new", []):
        path, via = rule.get("attribute", ""), rule.get("via", "")
        if LABELS_VIA in via:
            decided.append([path, "labels"])
        elif rule.get("condition") in CONDITIONS:
            decided.append([path, CONDITIONS[rule["condition"]]])
        else:
            undecided.append(f"{path} ({rule.get('condition') or via})")
    return sorted(decided), sorted(undecided)


def derive(source: dict, schema_dump: dict, source_name: str, source_sha256: str) -> tuple[dict, list[str]]:
    """(the vendored document, paths of the source that the schema does not have)."""
    provider = source["provider"]
    resources = schema_dump["provider_schemas"][provider]["resource_schemas"]
    types, missing = {}, []
    for type_name, entry in sorted(source["resources"].items()):
        block = resources.get(type_name, {}).get("block")
        if block is None:
            missing.append(type_name)
            continue
        force_new, blocks = [], []
        for path in sorted(set(entry.get("force_new", [])) | set(entry.get("nested_force_new", []))):
            kind = _schema_node(block, path)
            if kind is None:
                missing.append(f"{type_name}.{path}")
                continue
            force_new.append(path)
            if kind == "block":
                blocks.append(path)
        conditional, undecided = _conditional(entry)
        conditional = [c for c in conditional if _schema_node(block, c[0]) or missing.append(f"{type_name}.{c[0]}")]
        if force_new or conditional or undecided:
            types[type_name] = {"force_new": force_new, "blocks": blocks, "conditional": conditional,
                                "undecided": undecided}
    document = {
        "format": FORMAT,
        "provider": provider,
        "version": source["version"],
        "source": {"file": source_name, "sha256": source_sha256, **source.get("source", {})},
        "generated_by": "python -m tools.tfdouble.force_new_data " + source_name,
        "types": types,
    }
    return document, missing


def dumps(document: dict) -> str:
    """The document as JSON with one resource type per line (reviewable diffs)."""
    header = {k: v for k, v in document.items() if k != "types"}
    lines = [json.dumps(header, sort_keys=True)[:-1] + ', "types": {']
    items = sorted(document["types"].items())
    lines += [f"{json.dumps(name)}: {json.dumps(body, sort_keys=True)}{',' if i < len(items) - 1 else ''}"
              for i, (name, body) in enumerate(items)]
    return "\n".join(lines + ["}}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tfdouble.force_new_data", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="<provider>-<version>.force-new.json.gz (the reference data)")
    parser.add_argument("--schema", help="schema dump of the same provider (default: the vendored one)")
    parser.add_argument("--out", help="where to write (default: the vendored file next to the schema)")
    args = parser.parse_args(argv)
    source_path = Path(args.source)
    try:
        raw = source_path.read_bytes()
        source = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        spec = catalog.get(source["provider"].rsplit("/", 1)[-1])
        schema_path = Path(args.schema) if args.schema else spec.schema_file
        schema_dump = json.loads(gzip.decompress(schema_path.read_bytes()))
    except (OSError, ValueError, KeyError) as error:
        print(f"force_new_data: {source_path}: {error}", file=sys.stderr)
        return 2
    document, missing = derive(source, schema_dump, source_path.name, hashlib.sha256(raw).hexdigest())
    out = Path(args.out) if args.out else spec.force_new_file
    out.write_text(dumps(document))
    print(f"{out}: {len(document['types'])} resource types"
          + (f"; {len(missing)} paths not in the schema, left out" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
