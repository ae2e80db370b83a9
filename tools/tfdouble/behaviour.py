"""What the double *does*: plan, apply, read, import, data sources — on decoded cty values.

Model (close to what SDKv2 providers such as hashicorp/google do, minus any API semantics):

* **plan**: start from Terraform's proposed new state (config merged with prior state). Every
  computed attribute that is still null becomes unknown ("known after apply"), except top-level
  ``project``/``region``/``zone`` which are taken from the provider block, as the real google
  provider does. Write-only attributes are planned null. Output-only nested blocks (list/set,
  max 1, every attribute computed-only, e.g. ``google_container_cluster.master_auth``) are
  planned with one element of unknowns — or kept from prior state — so ``master_auth[0]``
  references resolve, again like the real provider. On update, computed attributes keep their
  prior values (Terraform's proposal already carries them); nothing forces replacement.
* **apply**: unknowns are replaced by deterministic fake values derived from the resource type,
  its ``name`` (or a hash of its config) and the attribute path: ``fake-<hash>`` strings, ``0``,
  ``false``, one-element lists, empty maps; ``id``/``self_link``/e-mails/IPs look plausible.
* **read** returns state unchanged (no drift); **import** yields a state holding only ``id``.
* **data sources / ephemeral resources**: computed attributes left null are filled like apply.
"""

from __future__ import annotations

import base64

import hashlib
import json
from typing import Any

from . import cty, force_new
from .cty import UNKNOWN, Unknown
from .schema import COMPUTED, OPTIONAL, WRITE_ONLY

Block = tuple  # (attrs, blocks), see schema.compact_block

#: Top-level attributes filled from the provider block when left unset (google provider behaviour).
PROVIDER_DEFAULTS = ("project", "region", "zone")


def _is_output_only_block(nesting: str, min_items: int, max_items: int, block: Block) -> bool:
    attrs = block[0]
    return (nesting in ("list", "set") and max_items == 1 and min_items == 0 and bool(attrs)
            and all(f & COMPUTED and not f & OPTIONAL for _, f in attrs.values()))


# ---------------------------------------------------------------------------------------------
# plan


def _unknown_block_element(block: Block) -> dict:
    """A planned element for an output-only block: computed attributes unknown, others null."""
    attrs, blocks = block
    out: dict[str, Any] = {n: (UNKNOWN if f & COMPUTED else None) for n, (_, f) in attrs.items()}
    for name, (nesting, min_items, max_items, sub) in blocks.items():
        if nesting in ("list", "set"):
            out[name] = [_unknown_block_element(sub) for _ in range(min_items)]
        elif nesting == "map":
            out[name] = {}
        else:
            out[name] = None if nesting == "single" else _unknown_block_element(sub)
    return out


def plan_block(block: Block, proposed: dict, prior: Any, defaults: dict[str, Any]) -> dict:
    """Planned object for `proposed` (see module doc). `defaults` applies to this level only."""
    attrs, blocks = block
    out = dict(proposed)
    for name, (_, flags) in attrs.items():
        if flags & WRITE_ONLY:
            out[name] = None
        elif out.get(name) is None and flags & COMPUTED:
            out[name] = defaults[name] if defaults.get(name) is not None else UNKNOWN
    prior = prior if isinstance(prior, dict) else {}
    for name, (nesting, min_items, max_items, sub) in blocks.items():
        value, prior_value = out.get(name), prior.get(name)
        if isinstance(value, Unknown) or value is None:
            continue
        if nesting in ("list", "set"):
            if not value and _is_output_only_block(nesting, min_items, max_items, sub):
                out[name] = prior_value if prior_value else [_unknown_block_element(sub)]
                continue
            prior_list = prior_value if nesting == "list" and isinstance(prior_value, list) else []
            out[name] = [e if not isinstance(e, dict) else
                         plan_block(sub, e, prior_list[i] if i < len(prior_list) else None, {})
                         for i, e in enumerate(value)]
        elif nesting == "map":
            prior_map = prior_value if isinstance(prior_value, dict) else {}
            out[name] = {k: plan_block(sub, e, prior_map.get(k), {}) if isinstance(e, dict) else e
                         for k, e in value.items()}
        elif isinstance(value, dict):
            out[name] = plan_block(sub, value, prior_value, {})
    return out


# ---------------------------------------------------------------------------------------------
# fake values


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "sh", "ch")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


class Faker:
    """Deterministic fake values for one resource instance.

    `obj` is the planned state (config plus provider defaults; unknowns allowed). `seed`
    identifies the instance (its name, else a hash of `obj`), so the same configuration always
    yields the same values across runs and processes.
    """

    def __init__(self, type_name: str, obj: dict, defaults: dict[str, Any]):
        self.type_name = type_name
        self.obj = obj
        self.defaults = defaults
        name = obj.get("name")
        if not isinstance(name, str):
            name = _metadata(obj).get("name")
        self.name = name if isinstance(name, str) else None
        self.seed = self.name or _stable_hash(obj)

    def _hash(self, path: tuple, n: int = 8) -> str:
        text = "|".join((self.type_name, self.seed) + tuple(path))
        return hashlib.sha256(text.encode()).hexdigest()[:n]

    def _known_str(self, key: str) -> str | None:
        v = self.obj.get(key)
        if isinstance(v, str) and v:
            return v
        v = self.defaults.get(key)
        return v if isinstance(v, str) and v else None

    def resource_id(self) -> str:
        """A plausible id: `projects/<p>/<regions|zones|locations>/<x>/<plural>/<name>` for google,
        `<namespace>/<name>` for kubernetes; otherwise `<type>/<name>`."""
        name = self.name or f"fake-{self._hash(('id',))}"
        if self.type_name.startswith("kubernetes_"):
            ns = _metadata(self.obj).get("namespace")
            return f"{ns}/{name}" if isinstance(ns, str) and ns else name
        if not self.type_name.startswith("google_"):
            return f"{self.type_name}/{name}"
        kind = _plural(self.type_name.rsplit("_", 1)[-1])
        parts = []
        project = self._known_str("project") if "project" in self.obj else None
        if project:
            parts += ["projects", project]
        for key, collection in (("location", "locations"), ("region", "regions"), ("zone", "zones")):
            value = self.obj.get(key)
            if isinstance(value, str) and value:
                parts += [collection, value]
                break
        else:
            if self.type_name.startswith("google_compute_") and project:
                parts.append("global")
        return "/".join(parts + [kind, name])

    def string(self, path: tuple) -> str:
        """Fake string for attribute `path` (tuple of attribute names, outermost first)."""
        leaf = path[-1] if path else ""
        tokens = leaf.split("_")
        h = self._hash(path)
        if path == ("id",):
            return self.resource_id()
        if leaf in ("self_link", "self_link_unique"):
            return f"https://www.googleapis.com/compute/v1/{self.resource_id()}"
        if "email" in tokens:
            project = self._known_str("project") or "fake-project"
            return f"fake-{h}@{project}.iam.gserviceaccount.com"
        if ("ip" in tokens or "ipv4" in tokens or leaf in ("address", "gateway_address", "endpoint")):
            n = int(h, 16)
            return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{(n & 255) or 1}"
        if "timestamp" in tokens or leaf in ("create_time", "update_time"):
            return "2024-01-01T00:00:00Z"
        if "number" in tokens:
            return str(int(self._hash(path, 10), 16) % 10**12).zfill(12)
        if leaf in ("project", "region", "zone") and self.defaults.get(leaf):
            return self.defaults[leaf]
        if "certificate" in tokens or leaf in ("client_key", "ca_cert", "cert"):
            # Certificates come base64-encoded (master_auth.cluster_ca_certificate...): configs
            # pass them through base64decode(), which must succeed on the fake too.
            pem = f"-----BEGIN CERTIFICATE-----\nfake-{h}\n-----END CERTIFICATE-----\n"
            return base64.b64encode(pem.encode()).decode()
        return f"fake-{h}"

    def value(self, ty: Any, path: tuple) -> Any:
        return cty.zero_value(ty, path, self.string)


def _metadata(obj: dict) -> dict:
    meta = obj.get("metadata")
    if isinstance(meta, list) and meta and isinstance(meta[0], dict):
        return meta[0]
    return meta if isinstance(meta, dict) else {}


def _stable_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# filling unknowns (apply) / nulls (data sources)


def _fill_value(ty: Any, value: Any, path: tuple, faker: Faker) -> Any:
    """Replace unknowns inside a value of type `ty` by fake values."""
    if isinstance(value, Unknown):
        return faker.value(ty, path)
    if value is None or isinstance(ty, str):
        return value  # primitives and dynamic values pass through
    kind = ty[0]
    if kind in ("list", "set") and isinstance(value, list):
        return [_fill_value(ty[1], v, path, faker) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _fill_value(ty[1], v, path + (k,), faker) for k, v in value.items()}
    if kind == "object" and isinstance(value, dict):
        return {k: _fill_value(ty[1].get(k, "dynamic"), v, path + (k,), faker) for k, v in value.items()}
    if kind == "tuple" and isinstance(value, list):
        return [_fill_value(t, v, path + (str(i),), faker) for i, (t, v) in enumerate(zip(ty[1], value))]
    return value


def fill_block(block: Block, obj: dict, faker: Faker, path: tuple = (), *, fill_nulls: bool = False,
               defaults: dict[str, Any] | None = None) -> dict:
    """Copy of `obj` with unknowns (and, if `fill_nulls`, null computed attributes) made known."""
    attrs, blocks = block
    out = dict(obj)
    for name, (ty, flags) in attrs.items():
        value = out.get(name)
        if flags & WRITE_ONLY:
            out[name] = None
        elif value is None and fill_nulls and flags & COMPUTED:
            default = (defaults or {}).get(name)
            out[name] = default if default is not None else faker.value(ty, path + (name,))
        else:
            out[name] = _fill_value(ty, value, path + (name,), faker)
    for name, (nesting, _min, _max, sub) in blocks.items():
        value = out.get(name)
        sub_path = path + (name,)
        if isinstance(value, Unknown):
            out[name] = [] if nesting in ("list", "set") else ({} if nesting == "map" else None)
        elif isinstance(value, list):
            out[name] = [fill_block(sub, e, faker, sub_path, fill_nulls=fill_nulls) if isinstance(e, dict) else e
                         for e in value]
        elif isinstance(value, dict) and nesting == "map":
            out[name] = {k: fill_block(sub, e, faker, sub_path + (k,), fill_nulls=fill_nulls)
                         for k, e in value.items()}
        elif isinstance(value, dict):
            out[name] = fill_block(sub, value, faker, sub_path, fill_nulls=fill_nulls)
    return out


# ---------------------------------------------------------------------------------------------
# entry points used by the gRPC servicer


def provider_defaults(provider_config: dict | None, attrs: dict) -> dict[str, Any]:
    """Provider-block values for the PROVIDER_DEFAULTS attributes this schema has."""
    cfg = provider_config or {}
    return {k: cfg.get(k) for k in PROVIDER_DEFAULTS
            if k in attrs and isinstance(cfg.get(k), str) and cfg.get(k)}


def plan(block: Block, prior: Any, proposed: Any, provider_config: dict | None) -> Any:
    """PlanResourceChange: destroy plans null; create/update plan per module doc."""
    if proposed is None or isinstance(proposed, Unknown):
        return proposed
    return plan_block(block, proposed, prior, provider_defaults(provider_config, block[0]))


def requires_replace(type_name: str, block: Block, prior: Any, planned: Any) -> list[force_new.Path]:
    """PlanResourceChange's RequiresReplace: force-new paths that change (only for an update)."""
    rules = force_new.rules_for(type_name)
    if rules is None or not isinstance(prior, dict) or not isinstance(planned, dict):
        return []
    paths = force_new.replace_paths(rules, prior, planned, is_set=force_new.schema_sets(block))
    return paths + [("id",)] if paths and "id" in block[0] else paths


def apply(type_name: str, block: Block, planned: Any, provider_config: dict | None) -> Any:
    """ApplyResourceChange: destroy yields null; otherwise the planned state with unknowns filled."""
    if planned is None:
        return None
    faker = Faker(type_name, planned, provider_defaults(provider_config, block[0]))
    return fill_block(block, planned, faker)


def read_data(type_name: str, block: Block, config: dict, provider_config: dict | None) -> dict:
    """ReadDataSource / OpenEphemeralResource: config with null computed attributes filled."""
    defaults = provider_defaults(provider_config, block[0])
    faker = Faker(type_name, config, defaults)
    return fill_block(block, config, faker, fill_nulls=True, defaults=defaults)


def import_state(block: Block, resource_id: str) -> dict:
    """ImportResourceState: every attribute null except `id`; blocks empty."""
    attrs, blocks = block
    state: dict[str, Any] = {name: None for name in attrs}
    state["id"] = resource_id
    for name, (nesting, _min, _max, _sub) in blocks.items():
        state[name] = [] if nesting in ("list", "set") else ({} if nesting == "map" else None)
    return state


__all__ = ["plan", "requires_replace", "apply", "read_data", "import_state", "Faker", "plan_block", "fill_block",
           "provider_defaults"]
