"""Validate and plan many synthesized stacks with a few Terraform runs instead of one per stack.

The test suite synthesizes a few hundred small stacks; ``init`` + ``validate`` + ``plan`` costs
about a second each, mostly Terraform and plugin start-up. Here the stacks are

1. **deduplicated** by a hash of their canonical JSON (``"//"`` comment keys dropped, keys sorted);
2. **prefixed**: unique stack *n* gets ``s<n>_`` in front of every resource / data source logical
   id, output, local and variable name. References are rewritten only for the exact addresses
   the stack declares (``type.id``, ``data.type.id``, ``var.x``, ``local.x``; whole words, so
   ``type.id2`` or ``data.type.id`` are never hit by ``type.id``), in every string of the stack
   (interpolations, ``depends_on``, ``replace_triggered_by``, provider blocks);
3. **merged** into one working dir, one file per stack (``s<n>.tf.json``), so every diagnostic
   Terraform reports names the file (and usually the prefixed address) of the stack it concerns;
4. **shared** (``dedupe_blocks``): a resource / data source equal to one of an earlier stack of the
   same configuration is left out, and the later stack's references name the earlier one's
   address. Equal means equal closure hash (:class:`_Closure`): kind, type, body, the provider
   configuration it resolves to and, for every address of the stack it refers to, that one's
   hash. Shared blocks go to ``shared<k>.tf.json``, one file per set of sharing stacks, so an
   error in one is reported for each of them. Every round merges afresh: a stack taken out
   hands its blocks to the next sharer;
5. checked with one ``terraform plan -json`` per chunk of about :data:`MAX_BLOCKS_PER_CHUNK`
   resources (``plan`` first runs the same validate walk ``terraform validate`` does: it calls
   ValidateResourceConfig for every resource twice, so a separate ``validate`` run only costs
   time; ``validate_first=True`` adds it). Stacks named by an error are taken out and reported;
   the rest is checked again, so one broken stack never hides or fails the others.

Providers: every provider configuration becomes an aliased block ``<name>.p<k>`` and every
resource / data source gets an explicit ``provider``. Stacks whose configuration of a provider
is identical (after prefixing and sharing: a kubernetes provider built from a stack's own
cluster is only when that cluster is shared) share one alias, because Terraform starts one
plugin process per provider configuration; an error in a shared provider block is reported for
every stack that uses it.

Stacks that cannot be merged faithfully (``module``, ``moved``, ``import``, ``removed``,
``check`` or other top-level blocks this module does not rewrite, or an unexpected shape) are
checked one by one (``init`` + ``validate`` + ``plan``, like :func:`harness.check_stack`), and so
is every stack of a chunk whose error Terraform does not attribute to a file or address.

Variables without a default get placeholder values (``offline-<name>``, ``0``, ``false``, ``[]``,
``{}`` by type) so the plan can run, as CI would pass real ones; variables of other types are
left unset and their stack fails with Terraform's "No value for required variable".

Entry point: :func:`check_synthesized`. Nothing here imports cdktf.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import harness

#: Top-level keys a stack may have to be merged; anything else is checked on its own.
MERGEABLE_KEYS = frozenset({"//", "terraform", "provider", "resource", "data", "output", "locals", "variable"})
#: Providers built into Terraform (``terraform_remote_state``, ``terraform_data``): no alias.
BUILTIN_PROVIDERS = frozenset({"terraform"})
#: Keys of the ``terraform`` block that differ per stack and are dropped or merged.
_PER_STACK_TERRAFORM_KEYS = ("backend", "cloud", "required_providers")
#: Default size of one merged configuration (resources + data sources).
MAX_BLOCKS_PER_CHUNK = 1000
#: Rounds of "take the reported stacks out, check the rest again" before going one by one.
MAX_ROUNDS = 4

_PREFIXED = re.compile(r"(?<![\w-])s(\d+)_")
_PREFIXED_ADDRESS = re.compile(r"(?<![\w.-])(?:data\.)?[A-Za-z_][\w-]*\.s\d+_[\w-]*")
_STACK_FILE = re.compile(r"^s(\d+)\.tf\.json$")


# ---------------------------------------------------------------------------------------------
# dedupe


@dataclass
class UniqueStack:
    """One distinct stack and every test that synthesized it."""

    digest: str
    config: dict[str, Any]
    test_ids: list[str] = field(default_factory=list)


def canonical(value: Any) -> Any:
    """`value` without ``"//"`` comment keys (cdktf metadata: construct paths, versions)."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def digest(stack: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of a stack."""
    return hashlib.sha256(json.dumps(canonical(stack), sort_keys=True).encode()).hexdigest()


class DistinctStacks:
    """Distinct stacks in first-seen order (``stacks``), each with the ids of the tests that
    produced it; stacks can keep coming (:mod:`.stream`)."""

    def __init__(self) -> None:
        self.stacks: list[UniqueStack] = []
        self._by_digest: dict[str, UniqueStack] = {}

    def add(self, test_id: str, stack: dict[str, Any]) -> UniqueStack | None:
        """The new distinct stack, or None when an equal one was there (it gets the test id)."""
        key = digest(stack)
        known = self._by_digest.get(key)
        if known is not None:
            if test_id not in known.test_ids:
                known.test_ids.append(test_id)
            return None
        unique = self._by_digest[key] = UniqueStack(key, canonical(stack), [test_id])
        self.stacks.append(unique)
        return unique


def dedupe(synthesized: Iterable[tuple[str, dict[str, Any]]]) -> list[UniqueStack]:
    """Distinct stacks in first-seen order, each with the ids of the tests that produced it."""
    distinct = DistinctStacks()
    for test_id, stack in synthesized:
        distinct.add(test_id, stack)
    return distinct.stacks


# ---------------------------------------------------------------------------------------------
# prefixing


def merge_blocker(config: dict[str, Any]) -> str | None:
    """Why `config` cannot be merged (checked on its own instead), or None if it can."""
    extra = sorted(set(config) - MERGEABLE_KEYS)
    if extra:
        return f"top-level {', '.join(extra)} not rewritten by the merge"
    for kind in ("resource", "data"):
        blocks = config.get(kind) or {}
        if not isinstance(blocks, dict) or not all(isinstance(v, dict) for v in blocks.values()):
            return f"unexpected shape of {kind}"
        for by_id in blocks.values():
            if not all(isinstance(body, dict) for body in by_id.values()):
                return f"unexpected shape of {kind}"
    for key in ("output", "locals", "variable"):
        if not isinstance(config.get(key) or {}, dict):
            return f"unexpected shape of {key}"
    providers = config.get("provider") or {}
    if not isinstance(providers, dict):
        return "unexpected shape of provider"
    for blocks in providers.values():
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if not isinstance(block, dict):
                return "unexpected shape of provider"
    terraform = config.get("terraform") or {}
    if not isinstance(terraform, dict) or not isinstance(terraform.get("required_providers") or {}, dict):
        return "unexpected shape of terraform"
    return None


def address_map(config: dict[str, Any], prefix: str) -> dict[str, str]:
    """Every address the stack declares -> its prefixed form (``type.id`` -> ``type.<prefix>id``)."""
    renames: dict[str, str] = {}
    for rtype, by_id in (config.get("resource") or {}).items():
        for rid in by_id:
            renames[f"{rtype}.{rid}"] = f"{rtype}.{prefix}{rid}"
    for dtype, by_id in (config.get("data") or {}).items():
        for did in by_id:
            renames[f"data.{dtype}.{did}"] = f"data.{dtype}.{prefix}{did}"
    for name in config.get("variable") or {}:
        renames[f"var.{name}"] = f"var.{prefix}{name}"
    for name in config.get("locals") or {}:
        renames[f"local.{name}"] = f"local.{prefix}{name}"
    return renames


def reference_pattern(addresses: Iterable[str]) -> re.Pattern[str]:
    """A regex matching exactly `addresses` where they stand as whole references: not preceded
    by a name character or ``.``, not followed by a name character."""
    alternatives = "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True))
    return re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])")


def map_strings(value: Any, rewrite_string: Callable[[str], str]) -> Any:
    """`value` with `rewrite_string` applied to every string in it, and to object keys that hold
    an interpolation (``${``)."""
    if isinstance(value, str):
        return rewrite_string(value)
    if isinstance(value, list):
        return [map_strings(v, rewrite_string) for v in value]
    if isinstance(value, dict):
        return {(rewrite_string(k) if "${" in k else k): map_strings(v, rewrite_string) for k, v in value.items()}
    return value


def reference_rewriter(renames: dict[str, str]) -> Callable[[Any], Any]:
    """A function that rewrites every string in a JSON value, replacing exactly the addresses in
    `renames` where they stand as whole references (:func:`reference_pattern`), and leaves
    everything else untouched."""
    if not renames:
        return lambda value: value
    pattern = reference_pattern(renames)
    firsts = {a.split(".", 1)[0] for a in renames}

    def rewrite_string(text: str) -> str:
        if "." not in text or not any(f in text for f in firsts):
            return text
        return pattern.sub(lambda m: renames[m.group(0)], text)

    return lambda value: map_strings(value, rewrite_string)


def _provider_blocks(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, blocks in (config.get("provider") or {}).items():
        for block in blocks if isinstance(blocks, list) else [blocks]:
            found.append((name, block))
    return found


def _provider_ref(value: str) -> tuple[str, str | None]:
    ref = value.strip()
    if ref.startswith("${") and ref.endswith("}"):
        ref = ref[2:-1].strip()
    name, _, alias = ref.partition(".")
    return name, alias or None


def _provider_of(rtype: str, body: dict[str, Any]) -> tuple[str, str | None]:
    """(provider name, alias or None) a resource / data source uses: its ``provider``
    meta-argument, else the default configuration of the provider its type is named after."""
    return _provider_ref(str(body["provider"])) if "provider" in body else (rtype.split("_", 1)[0], None)


@dataclass
class PrefixedStack:
    """A stack rewritten for merging: its own file content plus the provider configurations it
    needs, keyed by (provider name, original alias or None) -> config body without alias."""

    index: int
    prefix: str
    body: dict[str, Any]
    providers: dict[tuple[str, str | None], dict[str, Any]]
    #: placeholder values for variables without default (prefixed name -> value as HCL text)
    variables: dict[str, str]
    types: set[str]
    required_providers: dict[str, Any]
    terraform_rest: dict[str, Any]
    blocks: int
    #: closure hash of every resource / data source (prefixed address -> hash, None: never shared)
    block_hashes: dict[str, str | None] = field(default_factory=dict)


def _placeholder(name: str, declared_type: Any) -> str | None:
    """Value (as Terraform parses -var / TF_VAR_) for a variable with no default, or None."""
    kind = str(declared_type or "string").replace("${", "").replace("}", "").strip()
    if kind in ("string", "any"):
        return f"offline-{name}"
    if kind == "number":
        return "0"
    if kind == "bool":
        return "false"
    if re.fullmatch(r"(list|set)\(.*\)", kind):
        return "[]"
    if re.fullmatch(r"map\(.*\)", kind):
        return "{}"
    return None


def _variable_value(name: str, declaration: Any) -> str | None:
    """The placeholder a variable gets in the plan (None: it has a default, or no placeholder)."""
    if isinstance(declaration, dict) and "default" not in declaration:
        return _placeholder(name, declaration.get("type"))
    return None


def prefix_stack(config: dict[str, Any], index: int) -> PrefixedStack:
    """Rewrite a mergeable stack (see :func:`merge_blocker`) with prefix ``s<index>_``."""
    prefix = f"s{index}_"
    config = harness.offline_config(config)  # no backend; remote states served from defaults
    renames = address_map(config, prefix)
    rewrite = reference_rewriter(renames)
    body: dict[str, Any] = {}
    types: set[str] = set()
    blocks = 0
    for kind in ("resource", "data"):
        for rtype, by_id in (config.get(kind) or {}).items():
            types.add(rtype if kind == "resource" else f"data.{rtype}")
            out = body.setdefault(kind, {}).setdefault(rtype, {})
            for rid, rbody in by_id.items():
                new = rewrite(rbody)
                out[f"{prefix}{rid}"] = new
                blocks += 1
    for key in ("output", "variable"):
        if config.get(key):
            body[key] = {f"{prefix}{name}": rewrite(value) for name, value in config[key].items()}
    if config.get("locals"):
        body["locals"] = {f"{prefix}{name}": rewrite(value) for name, value in config["locals"].items()}
    providers: dict[tuple[str, str | None], dict[str, Any]] = {}
    for name, block in _provider_blocks(config):
        alias = block.get("alias")
        providers[(name, alias)] = {k: v for k, v in rewrite(block).items() if k != "alias"}
    variables = {}
    for name, decl in (config.get("variable") or {}).items():
        value = _variable_value(name, decl)
        if value is not None:
            variables[f"{prefix}{name}"] = value
    terraform = config.get("terraform") or {}
    return PrefixedStack(
        index=index, prefix=prefix, body=body, providers=providers, variables=variables,
        types=types, required_providers=dict(terraform.get("required_providers") or {}),
        terraform_rest={k: v for k, v in terraform.items() if k not in _PER_STACK_TERRAFORM_KEYS},
        blocks=blocks, block_hashes={renames[a]: h for a, h in block_hashes(config).items()})


# ---------------------------------------------------------------------------------------------
# block identity: which resources / data sources of different stacks are the same


class _NotShareable(Exception):
    """A block whose closure has a reference cycle or an undeclared provider alias."""


class _Closure:
    """Merkle-style hashes of what one (unprefixed) stack declares.

    A resource / data source hashes its kind, type, body (``"//"`` comments dropped, keys
    sorted, ``count`` / ``for_each`` and every other meta-argument included) and the provider
    configuration it resolves to (name and body, not the alias), with every reference to an
    address the stack declares replaced by that address's own hash: a variable hashes its
    declaration and placeholder value, a local its value. Equal hashes in two stacks therefore
    mean Terraform sees the same block, whatever each stack calls it and its dependencies.
    """

    def __init__(self, config: dict[str, Any]):
        self.nodes: dict[str, tuple[str, str, Any]] = {}  # address -> (kind, type or name, definition)
        for kind in ("resource", "data"):
            for rtype, by_id in (config.get(kind) or {}).items():
                for rid, body in by_id.items():
                    self.nodes[f"{'data.' if kind == 'data' else ''}{rtype}.{rid}"] = (kind, rtype, body)
        for name, declaration in (config.get("variable") or {}).items():
            self.nodes[f"var.{name}"] = ("variable", name, declaration)
        for name, value in (config.get("locals") or {}).items():
            self.nodes[f"local.{name}"] = ("local", name, value)
        self.pattern = reference_pattern(self.nodes) if self.nodes else None
        self.providers = {(name, block.get("alias")): block for name, block in _provider_blocks(config)}
        self.memo: dict[str, str | None] = {}
        self.visiting: set[str] = set()

    def blocks(self) -> dict[str, str | None]:
        """Hash of every resource / data source (None: must not be shared)."""
        found: dict[str, str | None] = {}
        for address, (kind, _, _) in self.nodes.items():
            if kind in ("resource", "data"):
                try:
                    found[address] = self.hash_of(address)
                except _NotShareable:
                    found[address] = None
        return found

    def hash_of(self, key: str) -> str:
        """Hash of a declared address or a provider key, computed once; _NotShareable if its
        closure is (or reaches) a cycle or an undeclared provider alias."""
        if key in self.memo:
            known = self.memo[key]
            if known is None:
                raise _NotShareable(key)
            return known
        if key in self.visiting:
            raise _NotShareable(f"reference cycle through {key}")
        self.visiting.add(key)
        try:
            parts = self.provider_parts(key) if key.startswith("provider ") else self.parts(key)
        except _NotShareable:
            self.memo[key] = None
            raise
        finally:
            self.visiting.discard(key)
        self.memo[key] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return self.memo[key]

    def parts(self, address: str) -> list[Any]:
        kind, name, definition = self.nodes[address]
        if kind == "variable":  # taken literally: a validation may name the variable itself
            return [kind, canonical(definition), _variable_value(name, definition)]
        if kind == "local":
            return [kind, self.substitute(definition)]
        provider = self.provider_hash(name, definition)
        if provider is not None:  # the alias name gives way to the configuration it names
            definition = {k: v for k, v in definition.items() if k != "provider"}
        return [kind, name, self.substitute(definition), provider]

    def provider_hash(self, rtype: str, body: dict[str, Any]) -> str | None:
        """Hash of the provider configuration a block uses (None: built into Terraform)."""
        name, alias = _provider_of(rtype, body)
        if name in BUILTIN_PROVIDERS:
            return None
        if alias is not None and (name, alias) not in self.providers:
            raise _NotShareable(f"undeclared provider {name}.{alias}")
        return self.hash_of(f"provider {name} {alias or ''}")

    def provider_parts(self, key: str) -> list[Any]:
        _, name, alias = key.split(" ")
        block = self.providers.get((name, alias or None)) or {}  # undeclared default: empty config
        return ["provider", name, self.substitute({k: v for k, v in block.items() if k != "alias"})]

    def substitute(self, value: Any) -> Any:
        """`value` without comments, each reference to a declared address replaced by its hash."""
        value = canonical(value)
        if self.pattern is None:
            return value
        pattern = self.pattern
        return map_strings(value, lambda text: pattern.sub(lambda m: "#" + self.hash_of(m.group(0)), text))


def block_hashes(config: dict[str, Any]) -> dict[str, str | None]:
    """Closure hash (see :class:`_Closure`) of every resource / data source of a stack, by
    unprefixed address; None for a block that must never be shared."""
    return _Closure(config).blocks()


# ---------------------------------------------------------------------------------------------
# merging


@dataclass
class MergedConfig:
    """Files of one merged working dir and what is needed to attribute Terraform's messages."""

    files: dict[str, dict[str, Any]]
    stacks: dict[int, PrefixedStack]
    #: provider file name (``p<k>.tf.json``) -> indexes of the stacks using it
    provider_users: dict[str, list[int]]
    variables: dict[str, str]
    types: set[str]
    #: shared block file (``shared<k>.tf.json``) -> indexes of the stacks sharing its blocks
    block_users: dict[str, list[int]] = field(default_factory=dict)
    #: address of every shared block -> its shared block file
    shared_addresses: dict[str, str] = field(default_factory=dict)
    #: resources + data sources of the stacks, and how many of them were left out as shared
    blocks: int = 0
    shared: int = 0

    def sharing_note(self, diagnostics: list["Diagnostic"]) -> str:
        """For a stack failing in blocks it shares: which stacks share them, under whose names
        (Terraform names the keeper's addresses, not the failing stack's own)."""
        files = set()
        for d in diagnostics:
            if d.filename and Path(d.filename).name in self.block_users:
                files.add(Path(d.filename).name)
            address = d.address.split("[")[0]  # without an instance key
            if address in self.shared_addresses:
                files.add(self.shared_addresses[address])
        notes = []
        for name in sorted(files):
            sharers = self.block_users[name]
            notes.append(f"Note: {name} holds resources / data sources that the stacks merged as "
                         f"{', '.join(f's{i}' for i in sharers)} declare identically; Terraform checked "
                         f"them once, under the addresses of s{sharers[0]}.")
        return "".join(f"\n\n{note}" for note in notes)

    def write(self, workdir: Path) -> None:
        """Replace the ``*.tf.json`` files in `workdir` by this configuration."""
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.tf.json"):
            old.unlink()
        for name, content in self.files.items():
            (workdir / name).write_text(json.dumps(content, indent=1, sort_keys=True))


def compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True if two ``required_providers`` maps agree on every local name they share."""
    return all(a[name] == b[name] for name in a.keys() & b.keys())


def merge(stacks: list[PrefixedStack], *, dedupe_blocks: bool = True) -> MergedConfig:
    """One configuration from compatible prefixed stacks (same other ``terraform`` settings,
    compatible required providers); a provider configuration shared by identical blocks, and
    with `dedupe_blocks` a resource / data source shared by stacks with an identical one
    (:func:`share_blocks`)."""
    required: dict[str, Any] = {}
    terraform_rest: dict[str, Any] = {}
    for stack in stacks:
        required.update(stack.required_providers)
        terraform_rest = stack.terraform_rest
    sharing = share_blocks(stacks) if dedupe_blocks else BlockSharing()
    files: dict[str, dict[str, Any]] = {}
    aliases: dict[str, str] = {}  # canonical provider body -> alias
    provider_users: dict[str, list[int]] = {}
    variables: dict[str, str] = {}
    types: set[str] = set()
    for stack in stacks:
        body, providers = sharing.own_part(stack)  # a copy: provider attributes are set per merge
        uses = _uses_in(body)
        needed = set(uses) | set(providers)
        for name, alias in sorted(needed, key=lambda k: (k[0], k[1] or "")):
            config = providers.get((name, alias))
            if config is None and alias is not None:
                # reference to a provider alias the stack never declared: keep it undeclared
                target = f"{name}.{stack.prefix}{alias}"
            else:
                config = config or {}
                key = json.dumps([name, config], sort_keys=True)
                if key not in aliases:
                    aliases[key] = f"p{len(aliases)}"
                    files[f"{aliases[key]}.tf.json"] = {"provider": {name: [{**config, "alias": aliases[key]}]}}
                provider_users.setdefault(f"{aliases[key]}.tf.json", []).append(stack.index)
                target = f"{name}.{aliases[key]}"
            for block in uses.get((name, alias), []):
                block["provider"] = target
        files[f"s{stack.index}.tf.json"] = body
        variables.update(stack.variables)
        types |= stack.types
    block_users, shared_addresses = _move_shared(files, sharing.users)
    _add_sharers_to_provider_users(files, block_users, provider_users)
    terraform = dict(terraform_rest)
    if required:
        terraform["required_providers"] = required
    files["main.tf.json"] = {"terraform": terraform} if terraform else {}
    return MergedConfig(files, {s.index: s for s in stacks}, provider_users, variables, types,
                        block_users=block_users, shared_addresses=shared_addresses,
                        blocks=sum(s.blocks for s in stacks), shared=sharing.left_out())


@dataclass
class BlockSharing:
    """Which resources / data sources the stacks of one merge share (:func:`share_blocks`)."""

    #: stack index -> {own prefixed address of a block it leaves out: the kept block's address}
    renames: dict[int, dict[str, str]] = field(default_factory=dict)
    #: kept block's address -> indexes of the stacks sharing it, its keeper first
    users: dict[str, list[int]] = field(default_factory=dict)

    def own_part(self, stack: PrefixedStack) -> tuple[dict[str, Any], dict[tuple[str, str | None], dict[str, Any]]]:
        """Copies of the stack's file body and provider configurations without the blocks it
        leaves out, every reference to those (in resources, data sources, outputs, locals,
        provider blocks) pointing at the kept ones."""
        renames = self.renames.get(stack.index, {})
        body = copy.deepcopy(stack.body)
        if not renames:
            return body, stack.providers
        for address in renames:
            _pop_block(body, address)
        rewrite = reference_rewriter(renames)
        return rewrite(body), {key: rewrite(config) for key, config in stack.providers.items()}

    def left_out(self) -> int:
        return sum(len(renames) for renames in self.renames.values())


def share_blocks(stacks: list[PrefixedStack]) -> BlockSharing:
    """The first stack (in merge order) with a block of a given closure hash keeps it; every
    later stack with a block of that hash leaves its own out and refers to the kept one. Blocks
    are not shared within one stack: two equal blocks there are two resources to Terraform."""
    kept: dict[str, tuple[int, str]] = {}  # closure hash -> (keeper's index, kept address)
    sharing = BlockSharing()
    for stack in stacks:
        for address, closure in stack.block_hashes.items():
            if closure is None:
                continue
            keeper, kept_address = kept.setdefault(closure, (stack.index, address))
            if keeper == stack.index:
                continue
            sharing.renames.setdefault(stack.index, {})[address] = kept_address
            users = sharing.users.setdefault(kept_address, [keeper])
            if stack.index not in users:
                users.append(stack.index)
    return sharing


def _split_address(address: str) -> tuple[str, str, str]:
    """``type.id`` -> ("resource", type, id); ``data.type.id`` -> ("data", type, id)."""
    parts = address.split(".")
    return ("data", parts[1], parts[2]) if parts[0] == "data" else ("resource", parts[0], parts[1])


def _pop_block(body: dict[str, Any], address: str) -> dict[str, Any]:
    """Remove a resource / data source from a file body (and the maps it leaves empty)."""
    kind, rtype, rid = _split_address(address)
    block = body[kind][rtype].pop(rid)
    if not body[kind][rtype]:
        del body[kind][rtype]
        if not body[kind]:
            del body[kind]
    return block


def _move_shared(files: dict[str, dict[str, Any]], users: dict[str, list[int]]) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Move every shared block from its keeper's file into ``shared<k>.tf.json``, one file per
    set of sharers, so that an error Terraform reports in it is attributed to every stack
    sharing it, as one in a shared provider block is. Returns (file -> indexes of its sharers,
    shared block's address -> file)."""
    block_users: dict[str, list[int]] = {}
    shared_addresses: dict[str, str] = {}
    by_sharers: dict[tuple[int, ...], str] = {}
    for address, sharers in users.items():
        key = tuple(sharers)  # in merge order: the same set of stacks gives the same tuple
        name = by_sharers.setdefault(key, f"shared{len(by_sharers)}.tf.json")
        block_users[name] = list(key)
        shared_addresses[address] = name
        kind, rtype, rid = _split_address(address)
        block = _pop_block(files[f"s{sharers[0]}.tf.json"], address)
        files.setdefault(name, {}).setdefault(kind, {}).setdefault(rtype, {})[rid] = block
    return block_users, shared_addresses


def _add_sharers_to_provider_users(files: dict[str, dict[str, Any]], block_users: dict[str, list[int]],
                                    provider_users: dict[str, list[int]]) -> None:
    """A stack sharing a block uses the provider configuration of the kept block too (its own
    equal one was left out), so an error in that provider block concerns it as well."""
    for name, sharers in block_users.items():
        for kind in ("resource", "data"):
            for by_id in (files[name].get(kind) or {}).values():
                for block in by_id.values():
                    alias = str(block.get("provider", "")).rpartition(".")[2]
                    users = provider_users.get(f"{alias}.tf.json")
                    if users is not None:
                        users.extend(i for i in sharers if i not in users)


def _uses_in(body: dict[str, Any]) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    """Resource / data bodies in `body` grouped by the provider (name, alias) they use."""
    uses: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for kind in ("resource", "data"):
        for rtype, by_id in (body.get(kind) or {}).items():
            for rbody in by_id.values():
                key = _provider_of(rtype, rbody)
                if key[0] not in BUILTIN_PROVIDERS:
                    uses.setdefault(key, []).append(rbody)
    return uses


def chunk(stacks: list[PrefixedStack], max_blocks: int = MAX_BLOCKS_PER_CHUNK) -> list[list[PrefixedStack]]:
    """Split into groups that can share one configuration: equal ``terraform`` settings,
    compatible required providers, at most `max_blocks` resources + data sources each."""
    groups: list[tuple[str, dict[str, Any], int, list[PrefixedStack]]] = []
    for stack in stacks:
        rest = json.dumps(stack.terraform_rest, sort_keys=True)
        for i, (g_rest, g_required, g_blocks, members) in enumerate(groups):
            if g_rest == rest and compatible(g_required, stack.required_providers) \
                    and (not members or g_blocks + stack.blocks <= max_blocks):
                members.append(stack)
                groups[i] = (g_rest, {**g_required, **stack.required_providers}, g_blocks + stack.blocks, members)
                break
        else:
            groups.append((rest, dict(stack.required_providers), stack.blocks, [stack]))
    return [members for *_, members in groups]


# ---------------------------------------------------------------------------------------------
# running Terraform and attributing its messages


@dataclass
class Diagnostic:
    """One Terraform diagnostic (from ``validate -json`` / ``plan -json``)."""

    severity: str
    summary: str
    detail: str = ""
    address: str = ""
    filename: str = ""
    line: int | None = None
    context: str = ""
    code: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Diagnostic":
        where = d.get("range") or {}
        snippet = d.get("snippet") or {}
        return cls(severity=d.get("severity", "error"), summary=d.get("summary", ""), detail=d.get("detail", ""),
                   address=d.get("address", ""), filename=where.get("filename", ""),
                   line=(where.get("start") or {}).get("line"), context=snippet.get("context") or "",
                   code=(snippet.get("code") or "").strip())

    def render(self) -> str:
        """Like Terraform's human output (``-no-color``)."""
        lines = [f"{self.severity.capitalize()}: {self.summary}"]
        if self.address:
            lines.append(f"  with {self.address},")
        if self.filename:
            where = f"  on {self.filename} line {self.line}"
            lines.append(where + (f", in {self.context}:" if self.context else ":"))
            if self.code:
                lines.append(f"  {self.line}: {self.code}")
        if self.detail:
            lines += ["", self.detail]
        return "\n".join(lines)


@dataclass
class StackFailure:
    """A stack Terraform rejected: the tests that synthesized it and Terraform's messages."""

    test_ids: list[str]
    stage: str  # "validate" | "plan" | "init"
    message: str
    prefix: str = ""
    workdir: Path | None = None

    def render(self) -> str:
        head = f"{self.stage} failed for the stack synthesized by {', '.join(self.test_ids)}"
        if self.prefix:
            head += f" (merged as {self.prefix.rstrip('_')}: its addresses carry the prefix {self.prefix})"
        if self.workdir is not None:
            head += f"\n  working dir: {self.workdir}"
        return head + "\n" + indent(self.message.strip())


@dataclass
class LoopReport:
    """What :func:`check_synthesized` did."""

    synthesized: int = 0
    unique: int = 0
    merged_configs: int = 0
    merged_stacks: int = 0
    single_stacks: int = 0
    failures: list[StackFailure] = field(default_factory=list)
    #: distinct stack index -> (ids of the tests that synthesized it, Terraform's warnings for it);
    #: the id list is the stack's own, so a test that synthesizes it later is named too
    stack_warnings: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    terraform_runs: int = 0
    seconds: float = 0.0
    planned: dict[str, int] = field(default_factory=dict)
    #: resources + data sources of the merged configurations Terraform planned, and how many of
    #: them were left out because an identical one of another stack stood in (planned once)
    blocks: int = 0
    shared: int = 0
    #: configurations started before the last stack came (:class:`stream.StreamingCheck`), and
    #: the seconds from the last stack to the end of the check
    started_early: int = 0
    seconds_after_finish: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def warnings(self) -> dict[str, list[str]]:
        """Stack test ids (comma-separated) -> warning texts (Terraform warnings do not fail the check)."""
        by_tests: dict[str, list[str]] = {}
        for test_ids, texts in self.stack_warnings.values():
            bucket = by_tests.setdefault(", ".join(test_ids), [])
            bucket.extend(text for text in texts if text not in bucket)
        return by_tests

    def summary(self) -> str:
        if not self.synthesized:
            return "terraform loop: no stacks were synthesized by the selected tests; nothing to check"
        counts = ", ".join(f"{v} to {k}" for k, v in self.planned.items() if v) or "no changes"
        text = (f"terraform loop: {self.synthesized} synthesized stacks, {self.unique} distinct; "
                f"{self.merged_stacks} in {self.merged_configs} merged configuration(s), {self.single_stacks} one by one; ")
        if self.blocks:
            text += (f"{self.blocks} resources + data sources merged, {self.shared} of them shared "
                     f"with an identical one of another stack (planned once); ")
        text += f"{self.terraform_runs} terraform runs in {self.seconds:.1f}s"
        if self.started_early:
            text += (f" ({self.started_early} configuration(s) started while stacks were still coming in; "
                     f"{self.seconds_after_finish:.1f}s after the last one)")
        text += f"; plan: {counts}"
        if self.failures:
            text += f"; {len(self.failures)} stack(s) FAILED"
        if self.warnings:
            text += f"; warnings for {len(self.warnings)} stack(s)"
        return text

    def failure_text(self) -> str:
        return "\n\n".join(f.render() for f in self.failures)

    def absorb(self, other: "LoopReport") -> None:
        """Add what another checker found (a parallel share of the same loop) to this report."""
        self.merged_configs += other.merged_configs
        self.merged_stacks += other.merged_stacks
        self.single_stacks += other.single_stacks
        self.terraform_runs += other.terraform_runs
        self.blocks += other.blocks
        self.shared += other.shared
        self.failures.extend(other.failures)
        for index, (test_ids, texts) in other.stack_warnings.items():
            bucket = self.stack_warnings.setdefault(index, (test_ids, []))[1]
            bucket.extend(text for text in texts if text not in bucket)
        for key, value in other.planned.items():
            self.planned[key] = self.planned.get(key, 0) + value


def indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line if line else line for line in text.splitlines())


def _diagnostics_from_validate(result: harness.Result) -> list[Diagnostic] | None:
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return None
    return [Diagnostic.from_json(d) for d in report.get("diagnostics", [])]


def _plan_stream(result: harness.Result) -> tuple[list[Diagnostic], dict[str, int]] | None:
    diagnostics, counts, parsed = [], {}, False
    for line in result.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        parsed = True
        if message.get("type") == "diagnostic":
            diagnostics.append(Diagnostic.from_json(message.get("diagnostic") or {}))
        elif message.get("type") == "change_summary":
            changes = message.get("changes") or {}
            counts = {k: v for k, v in changes.items() if isinstance(v, int)}
    if not parsed:
        return None
    return diagnostics, counts


def attribute(diagnostic: Diagnostic, merged: MergedConfig) -> set[int]:
    """Indexes of the stacks a diagnostic concerns (empty if it names none of them)."""
    name = Path(diagnostic.filename).name if diagnostic.filename else ""
    found = _STACK_FILE.match(name)
    if found and int(found.group(1)) in merged.stacks:
        return {int(found.group(1))}
    for users in (merged.provider_users, merged.block_users):
        if name in users:
            return set(users[name])
    for text in (diagnostic.address, diagnostic.context, diagnostic.summary, diagnostic.detail):
        hits = _stacks_named(text or "", merged)
        if hits:
            return hits
    return set()


def _stacks_named(text: str, merged: MergedConfig) -> set[int]:
    """Stacks whose prefix appears in `text`, and every sharer of a shared block it names."""
    hits = {int(m.group(1)) for m in _PREFIXED.finditer(text) if int(m.group(1)) in merged.stacks}
    for m in _PREFIXED_ADDRESS.finditer(text):
        shared_file = merged.shared_addresses.get(m.group(0))
        if shared_file is not None:
            hits.update(merged.block_users[shared_file])
    return hits


@dataclass
class Checker:
    workdir_root: Path
    report: LoopReport
    #: the distinct stacks by index (``DistinctStacks.stacks``)
    unique: Sequence[UniqueStack]
    #: run `terraform validate` before `plan` (plan runs the same validate walk itself)
    validate_first: bool = False
    #: share identical resources / data sources between the stacks of a merged configuration
    dedupe_blocks: bool = True
    #: working-dir numbers, shared by the checkers of one loop that run side by side
    dir_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    #: Terraform's CPU priority (``harness.OfflineTerraform.niceness``)
    niceness: int = 0
    _single_dir: Path | None = None

    def new_workdir(self, name: str) -> Path:
        with _DIR_LOCK:
            number = next(self.dir_numbers)
        path = self.workdir_root / f"{number:03d}-{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fail(self, index: int, stage: str, message: str, prefix: str = "", workdir: Path | None = None) -> None:
        # the stack's own id list: a test that synthesizes the same stack later is named too
        self.report.failures.append(StackFailure(self.unique[index].test_ids, stage, message, prefix, workdir))

    def warn(self, index: int, diagnostic: Diagnostic) -> None:
        bucket = self.report.stack_warnings.setdefault(index, (self.unique[index].test_ids, []))[1]
        text = diagnostic.render()
        if text not in bucket:
            bucket.append(text)

    def count_plan(self, counts: dict[str, int]) -> None:
        for key, value in counts.items():
            if value:
                self.report.planned[key] = self.report.planned.get(key, 0) + value

    # -- merged -------------------------------------------------------------------------------

    def check_group(self, stacks: list[PrefixedStack], *, bisecting: bool = False) -> None:
        """Check stacks merged; where Terraform's answer cannot be attributed, split in halves
        and check each half the same way, down to single stacks checked as synthesized."""
        if bisecting and len(stacks) == 1:
            self.check_single(stacks[0].index)
            return
        self.report.merged_configs += 1
        unresolved = set(self.check_merged(stacks))
        self.report.merged_stacks += len(stacks) - len(unresolved)
        rest = [s for s in stacks if s.index in unresolved]
        if len(rest) > 1:
            half = len(rest) // 2
            self.check_group(rest[:half], bisecting=True)
            self.check_group(rest[half:], bisecting=True)
        elif rest:
            self.check_single(rest[0].index)

    def check_merged(self, stacks: list[PrefixedStack]) -> list[int]:
        """Check a group in one working dir; return the stacks Terraform's messages did not
        settle (unattributed errors, unparseable output, too many rounds)."""
        workdir = self.new_workdir("merged")
        pending = list(stacks)
        stages = ("validate", "plan") if self.validate_first else ("validate+plan",)
        for stage in stages:
            for _round in range(MAX_ROUNDS):
                if not pending:
                    return []
                merged = merge(pending, dedupe_blocks=self.dedupe_blocks)
                merged.write(workdir)
                tf = harness.OfflineTerraform(workdir, env=_tf_env(merged), niceness=self.niceness)
                try:
                    if tf.init() is not None:  # only when the required providers changed
                        self.report.terraform_runs += 1
                except harness.TerraformError:
                    return [s.index for s in pending]  # each stack's init error is its own
                self.report.terraform_runs += 1
                if stage == "validate":
                    result = tf.run("validate", "-json", "-no-color", check=False)
                    diagnostics, counts = _diagnostics_from_validate(result), {}
                else:
                    result = tf.run("plan", "-input=false", "-no-color", "-lock=false", "-json", check=False)
                    diagnostics, counts = _plan_stream(result) or (None, {})
                if diagnostics is None:
                    return [s.index for s in pending]  # nothing we can parse
                failed: dict[int, list[Diagnostic]] = {}
                for d in diagnostics:
                    owners = attribute(d, merged)
                    if d.severity == "warning":
                        for index in owners:
                            self.warn(index, d)
                    elif not owners:
                        return [s.index for s in pending]
                    else:
                        for index in owners:
                            failed.setdefault(index, []).append(d)
                if not failed:
                    if result.returncode != 0:  # failed without saying why
                        return [s.index for s in pending]
                    if stage != "validate":
                        self.count_plan(counts)
                        self.report.blocks += merged.blocks
                        self.report.shared += merged.shared
                    break
                for index, found in failed.items():
                    stack = merged.stacks[index]
                    self._keep_failed(workdir, stack)
                    message = "\n\n".join(d.render() for d in found) + merged.sharing_note(found)
                    self.fail(index, stage, message, stack.prefix, workdir)
                pending = [s for s in pending if s.index not in failed]
            else:
                return [s.index for s in pending]
        return []

    def _keep_failed(self, workdir: Path, stack: PrefixedStack) -> None:
        """Keep the failed stack's merged file and original JSON (it leaves the next round)."""
        target = workdir / "failed"
        target.mkdir(exist_ok=True)
        (target / f"s{stack.index}.tf.json").write_text(json.dumps(stack.body, indent=1, sort_keys=True))
        (target / f"s{stack.index}.original.json").write_text(
            json.dumps(self.unique[stack.index].config, indent=1, sort_keys=True))

    # -- one by one ---------------------------------------------------------------------------

    def check_single(self, index: int) -> None:
        """init + validate + plan of one stack as synthesized (like harness.check_stack)."""
        self.report.single_stacks += 1
        stack = self.unique[index]
        if self._single_dir is None:  # one dir for all: init is skipped while providers stay the same
            self._single_dir = self.new_workdir("one-by-one")
        workdir = self._single_dir
        variables = {}
        for name, decl in (stack.config.get("variable") or {}).items():
            if isinstance(decl, dict) and "default" not in decl:
                value = _placeholder(name, decl.get("type"))
                if value is not None:
                    variables[f"TF_VAR_{name}"] = value
        tf = harness.OfflineTerraform(workdir, env=variables, niceness=self.niceness)
        tf.write_config(stack.config)
        stage = "init"
        try:
            self.report.terraform_runs += 1
            tf.init()
            stage = "validate"
            self.report.terraform_runs += 1
            tf.validate()
            stage = "plan"
            self.report.terraform_runs += 2
            plan_json = tf.plan()
        except harness.TerraformError as error:
            kept = workdir / "failed" / f"s{index}.main.tf.json"
            kept.parent.mkdir(exist_ok=True)
            shutil.copyfile(tf.config_path, kept)
            self.fail(index, stage, f"{error}\n(configuration kept as {kept})")
            return
        counts = harness.summarize(plan_json)
        self.count_plan({"add": counts["add"], "change": counts["change"], "remove": counts["destroy"],
                         "import": counts["import"]})


def _tf_env(merged: MergedConfig) -> dict[str, str]:
    env = {f"TF_VAR_{name}": value for name, value in merged.variables.items()}
    env["TFDOUBLE_SCHEMA_TYPES"] = ",".join(sorted(merged.types))
    return env


_DIR_LOCK = threading.Lock()


def check_synthesized(synthesized: Iterable[tuple[str, dict[str, Any]]], workdir: Path | str, *,
                      merge_stacks: bool = True, max_blocks: int = MAX_BLOCKS_PER_CHUNK,
                      validate_first: bool = False, dedupe_blocks: bool = True, jobs: int = 1,
                      niceness: int = 0) -> LoopReport:
    """Validate and plan every stack in `synthesized` ((test id, stack dict) pairs).

    Distinct stacks are merged (module doc) into configurations of at most `max_blocks`
    resources + data sources and checked with one ``terraform plan -json`` each; ``plan`` runs
    Terraform's validate walk itself, so a separate ``validate`` (`validate_first=True`) only
    costs time. `dedupe_blocks=False` plans every stack's own copy of a resource / data source
    another stack of the same configuration has identically. `merge_stacks=False` checks every
    distinct stack on its own (init, validate, plan: the slow reference path). `workdir` receives one sub-directory per Terraform working
    dir, kept for inspection. `jobs` > 1 checks that many merged configurations at once (each has
    its own working dir and Terraform process; stacks checked one by one stay one sequence in one
    dir). `niceness` > 0 runs Terraform under ``nice``. Stacks are grouped by provider
    configuration first (:mod:`.stream`). Returns a :class:`LoopReport`: ``report.failures`` lists every
    rejected stack with the ids of the tests that synthesized it and Terraform's own messages.
    """
    from .stream import StreamingCheck  # it schedules the checks this module defines

    stream = StreamingCheck(workdir, merge_stacks=merge_stacks, max_blocks=max_blocks, validate_first=validate_first,
                            dedupe_blocks=dedupe_blocks, jobs=jobs, niceness=niceness)
    stream.add(synthesized, start=False)
    return stream.finish()
