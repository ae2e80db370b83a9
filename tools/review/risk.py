"""The risk rules: one table (:data:`RULES`), each row a severity, the resource types and a check.

A check takes a :class:`~tools.review.changes.ResourceChange` (from a plan or from a synth diff)
and returns the reasons it fires (empty: it does not). Severities:

* ``high``   — data, addresses, access or exposure can be lost or opened: needs an explicit
  approval (``--fail-on high`` exits 3; CI requires the ``risk-approved`` label).
* ``medium`` — changes serving behaviour (capacity, rollout, routing, grants): read it.

Rules look at values the plan or the synthesized JSON already has; a value that is unknown until
apply (or a ``${...}`` reference in a synth diff) is never guessed at.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .changes import UNKNOWN, ResourceChange, get_path

HIGH, MEDIUM = "high", "medium"
SEVERITIES = (HIGH, MEDIUM)

#: Stateful or address-bearing types, and what a delete or replace loses.
STATEFUL: dict[str, str] = {
    "google_redis_instance": "the cache's data, host IP and AUTH string",
    "google_redis_cluster": "the cluster's data and endpoints",
    "google_storage_bucket": "the bucket and (with force_destroy) its objects; the name may not be reusable at once",
    "google_compute_global_address": "the reserved IP address (DNS records point at it)",
    "google_compute_address": "the reserved IP address",
    "google_compute_managed_ssl_certificate": "the certificate: HTTPS fails until a new one is provisioned (up to an hour)",
    "google_compute_ssl_certificate": "the certificate served to clients",
    "google_certificate_manager_certificate": "the certificate served to clients",
    "google_compute_global_forwarding_rule": "the load balancer frontend: traffic stops",
    "google_compute_forwarding_rule": "the frontend: traffic stops",
    "google_secret_manager_secret": "the secret and every version of it",
    "google_secret_manager_secret_version": "the secret value",
    "google_sql_database_instance": "the database",
    "google_compute_disk": "the disk's data",
    "google_compute_region_disk": "the disk's data",
    "google_filestore_instance": "the file share's data",
    "google_kms_crypto_key": "the key: data encrypted with it becomes unreadable",
    "google_bigquery_dataset": "the dataset's tables",
    "google_artifact_registry_repository": "the repository's images",
    "google_service_account": "the identity: a re-created account has a new unique id and loses its grants",
    "google_service_networking_connection": "private services access (Redis and other private services lose connectivity)",
    "google_container_cluster": "the cluster and everything running on it",
}

IAM_TYPE = re.compile(r"_iam_(member|binding|policy)$|^google_project_iam_")
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
AUTHORITATIVE_IAM = ("_iam_policy", "_iam_binding")

AUTOSCALERS = frozenset({"google_compute_autoscaler", "google_compute_region_autoscaler"})
TEMPLATES = frozenset({"google_compute_instance_template", "google_compute_region_instance_template"})
GROUP_MANAGERS = frozenset({"google_compute_instance_group_manager", "google_compute_region_instance_group_manager"})
URL_MAPS = frozenset({"google_compute_url_map", "google_compute_region_url_map"})
INTERNET = ("0.0.0.0/0", "::/0")

CHANGING = ("create", "update", "replace")
DESTROYING = ("delete", "replace")


@dataclass(frozen=True)
class Rule:
    """One row of the risk table."""

    id: str
    severity: str
    applies_to: str
    when: str
    check: Callable[[ResourceChange], list[str]]


@dataclass(frozen=True)
class Finding:
    """A rule that fired on a change; `folded`: the findings merged into this one (fold.py)."""

    severity: str
    rule: str
    change: ResourceChange
    message: str
    folded: tuple[Finding, ...] = ()

    def with_folded(self) -> Iterator[Finding]:
        """This finding and every finding folded into it, at any depth."""
        yield self
        for f in self.folded:
            yield from f.with_folded()


# ---------------------------------------------------------------------------------------------
# checks


#: What a create-before-destroy replacement costs, where that differs from losing the old object.
CREATED_FIRST: dict[str, str] = {
    "google_compute_managed_ssl_certificate": (
        "the proxy switches to the new certificate as soon as it exists, but Google provisions it only once "
        "every domain resolves to the load balancer (often 15-60 min): HTTPS fails until it is ACTIVE. To avoid "
        "the gap, serve a new certificate next to the old one first and remove the old one once it is ACTIVE"),
}


def replaced(c: ResourceChange) -> str:
    """``replaced (destroyed, then created; forced by tier)`` / ``(created first, ...)``."""
    order = "new one created first, then the old one destroyed" if c.create_first else "destroyed, then created"
    return f"replaced ({order}" + (f"; forced by {', '.join(c.forced_by)})" if c.forced_by else ")")


def _stateful_destroyed(c: ResourceChange) -> list[str]:
    if c.type not in STATEFUL or c.action not in DESTROYING:
        return []
    if c.action == "delete":
        return [f"destroyed: loses {STATEFUL[c.type]}"]
    cost = CREATED_FIRST.get(c.type) if c.create_first else None
    return [f"{replaced(c)}: {cost or 'loses ' + STATEFUL[c.type]}"]


def _stack_removed(c: ResourceChange) -> list[str]:
    if c.type == "stack" and c.action == "delete":
        kept = sorted({t for t in (c.before or {}).get("types", []) if t in STATEFUL})
        return ["stack removed from the app: its resources are no longer managed by this code (nothing is "
                "destroyed until someone runs destroy on it)" + (f"; it holds {', '.join(kept)}" if kept else "")]
    return []


def _renamed(c: ResourceChange) -> list[str]:
    if c.renamed and c.previous_address:
        return [f"logical id changed from `{c.previous_address}`: Terraform destroys and re-creates it "
                "(keep the construct id, or add a `moved` block)"]
    return []


def _backend_changed(c: ResourceChange) -> list[str]:
    if c.type == "terraform" and any(a.path.startswith("backend") for a in c.attributes):
        return ["state backend changed: Terraform starts from the new location's state (empty: it plans to "
                "create everything again) unless the state is migrated"]
    return []


def _same_name_created_first(c: ResourceChange) -> list[str]:
    name = (c.before or {}).get("name") if isinstance(c.before, dict) else None
    if (c.action == "replace" and c.create_first and isinstance(name, str) and name and "${" not in name
            and isinstance(c.after, dict) and c.after.get("name") == name):
        return [f"replaced create-before-destroy under the same name `{name}`: the API refuses a second one with "
                "that name while the old one exists, so the apply fails part-way (change the name with the "
                "replacement, or let Terraform destroy first)"]
    return []


def _iam_roles_members(value: Any) -> tuple[set[str], set[str]]:
    roles, members = set(), set()
    if not isinstance(value, dict):
        return roles, members
    if isinstance(value.get("role"), str):
        roles.add(value["role"])
    if isinstance(value.get("member"), str):
        members.add(value["member"])
    if isinstance(value.get("members"), list):
        members |= {m for m in value["members"] if isinstance(m, str)}
    policy = value.get("policy_data")
    if isinstance(policy, str):
        try:
            bindings = json.loads(policy).get("bindings", [])
        except (ValueError, AttributeError):
            bindings = []
        for binding in bindings if isinstance(bindings, list) else []:
            if isinstance(binding, dict):
                roles.add(str(binding.get("role", "")))
                members |= {str(m) for m in binding.get("members", []) or []}
    return roles, members


def _iam_high(c: ResourceChange) -> list[str]:
    if not IAM_TYPE.search(c.type):
        return []
    reasons = []
    roles_before, members_before = _iam_roles_members(c.before)
    roles_after, members_after = _iam_roles_members(c.after)
    primitive = sorted((roles_before | roles_after) & PRIMITIVE_ROLES)
    public = sorted(members_after & PUBLIC_MEMBERS - (members_before if c.action == "update" else set()))
    if primitive:
        reasons.append(f"primitive role {', '.join(primitive)}: grants (or held) broad project-wide access")
    if public and c.action in CHANGING:
        reasons.append(f"public member {', '.join(public)}: anyone can use this role")
    if c.action in DESTROYING:
        what = ", ".join(sorted(roles_before)) or "the grant"
        reasons.append(f"{'replaced' if c.action == 'replace' else 'removed'}: {what} is revoked"
                       f"{' while it is re-created' if c.action == 'replace' else ''}; whoever relies on it loses access")
    if c.type == "google_project_iam_policy" and c.action in CHANGING:
        reasons.append("authoritative project policy: every binding not listed here is removed from the project")
    return reasons


def _iam_medium(c: ResourceChange) -> list[str]:
    if not IAM_TYPE.search(c.type) or c.action not in CHANGING or _iam_high(c):
        return []
    roles, members = _iam_roles_members(c.after)
    what = ", ".join(sorted(roles)) or "IAM"
    who = ", ".join(sorted(members))
    if c.action == "create":
        text = f"grants {what}" + (f" to {who}" if who else "")
    else:
        text = f"changes {what}" + (f" for {who}" if who else "")
    if c.type.endswith(AUTHORITATIVE_IAM):
        text += " (authoritative: members not listed lose this role)"
    return [text]


def _firewall_entries(rule: Any) -> set[tuple[str, int, int]]:
    entries = set()
    for allow in (rule or {}).get("allow") or []:
        if not isinstance(allow, dict):
            continue
        protocol = str(allow.get("protocol", "")).lower()
        ports = allow.get("ports") or []
        if not ports:
            entries.add((protocol, 0, 65535))
        for port in ports:
            lo, _, hi = str(port).partition("-")
            try:
                entries.add((protocol, int(lo), int(hi or lo)))
            except ValueError:
                entries.add((f"{protocol}:{port}", 0, 0))
    return entries


def _port_text(entry: tuple[str, int, int]) -> str:
    protocol, lo, hi = entry
    if (lo, hi) == (0, 65535):
        return f"{protocol} (all ports)"
    return f"{protocol}:{lo}" + (f"-{hi}" if hi != lo else "")


def _covered(entry: tuple[str, int, int], old: set[tuple[str, int, int]]) -> bool:
    protocol, lo, hi = entry
    return any(op in ("all", protocol) and olo <= lo and hi <= ohi for op, olo, ohi in old)


def _range_covered(cidr: str, old: list[str]) -> bool:
    try:
        new_net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return cidr in old
    for other in old:
        try:
            old_net = ipaddress.ip_network(other, strict=False)
        except ValueError:
            continue
        if old_net.version == new_net.version and new_net.subnet_of(old_net):
            return True
    return False


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _allows_ingress(rule: Any) -> bool:
    return (isinstance(rule, dict) and (rule.get("direction") or "INGRESS") == "INGRESS"
            and bool(rule.get("allow")) and rule.get("disabled") is not True)


def _firewall_open(c: ResourceChange) -> list[str]:
    if c.type != "google_compute_firewall" or c.action not in CHANGING or not _allows_ingress(c.after):
        return []
    before_open = set(_strings((c.before or {}).get("source_ranges"))) & set(INTERNET) if _allows_ingress(c.before) else set()
    opened = sorted(set(_strings(c.after.get("source_ranges"))) & set(INTERNET) - before_open)
    if not opened:
        return []
    ports = ", ".join(_port_text(e) for e in sorted(_firewall_entries(c.after)))
    return [f"ingress open to the internet ({', '.join(opened)}) on {ports}"]


def _firewall_widened(c: ResourceChange) -> list[str]:
    if c.type != "google_compute_firewall" or c.action not in ("update", "replace") or not _allows_ingress(c.after):
        return []
    before, after = c.before or {}, c.after
    if not _allows_ingress(before):
        return ["now allows ingress (was disabled, egress or deny)"]
    reasons = []
    old_ranges = _strings(before.get("source_ranges"))
    new_ranges = [r for r in _strings(after.get("source_ranges")) if r not in INTERNET and not _range_covered(r, old_ranges)]
    if new_ranges:
        reasons.append(f"new source ranges {', '.join(sorted(new_ranges))}")
    for key in ("source_tags", "source_service_accounts"):
        added = sorted(set(_strings(after.get(key))) - set(_strings(before.get(key))))
        if added:
            reasons.append(f"new {key} {', '.join(added)}")
    old_entries = _firewall_entries(before)
    new_ports = sorted(e for e in _firewall_entries(after) if not _covered(e, old_entries))
    if new_ports:
        reasons.append(f"new ports {', '.join(_port_text(e) for e in new_ports)}")
    for key in ("target_tags", "target_service_accounts"):
        if _strings(before.get(key)) and not _strings(after.get(key)) and not _strings(
                after.get("target_service_accounts" if key == "target_tags" else "target_tags")):
            reasons.append(f"{key} removed: the rule now applies to every instance in the network")
    return ["ingress widened: " + "; ".join(reasons)] if reasons else []


def _firewall_new_ingress(c: ResourceChange) -> list[str]:
    if c.type != "google_compute_firewall" or c.action != "create" or not _allows_ingress(c.after) or _firewall_open(c):
        return []
    sources = (_strings(c.after.get("source_ranges")) + _strings(c.after.get("source_tags"))
               + _strings(c.after.get("source_service_accounts")))
    ports = ", ".join(_port_text(e) for e in sorted(_firewall_entries(c.after)))
    return [f"new ingress rule: {', '.join(sorted(sources)) or 'unknown sources'} -> {ports}"]


def _firewall_deny_removed(c: ResourceChange) -> list[str]:
    before = c.before or {}
    if (c.type == "google_compute_firewall" and c.action in DESTROYING and before.get("deny")
            and (before.get("direction") or "INGRESS") == "INGRESS" and before.get("disabled") is not True):
        return ["ingress deny rule removed: what it blocked may now be allowed by lower-priority rules"]
    return []


def _replicas(value: Any, key: str) -> int | None:
    found = get_path(value, "autoscaling_policy", 0, key)
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def _autoscaler_lowered(c: ResourceChange) -> list[str]:
    if c.type not in AUTOSCALERS:
        return []
    if c.action == "delete":
        return ["autoscaler removed: the group stops scaling and keeps its current size"]
    reasons = []
    for key in ("min_replicas", "max_replicas"):
        old, new = _replicas(c.before, key), _replicas(c.after, key)
        if old is not None and new is not None and new < old:
            reasons.append(f"{key} lowered {old} -> {new}")
    return ["capacity limit lowered: " + ", ".join(reasons)] if reasons else []


def _template_rollout(c: ResourceChange) -> list[str]:
    if c.type in TEMPLATES and c.action in ("update", "replace"):
        what = f"instance template {replaced(c)}" if c.action == "replace" else "instance template changes"
        return [f"{what}: the managed instance groups using it roll every VM "
                "(check the rolling update policy and that the new image/model loads)"]
    if c.type in GROUP_MANAGERS and c.action == "update" and any(
            a.path.startswith(("version", "instance_template")) for a in c.attributes):
        return ["instance group switches template version: every VM is rolled"]
    if c.type in GROUP_MANAGERS and c.action in DESTROYING:
        return ["managed instance group destroyed: its serving capacity goes away"]
    return []


#: node_config arguments GKE changes on the running nodes; any other node_config change (and a
#: version change) re-creates every node of the pool through a surge upgrade.
NODE_CONFIG_IN_PLACE = re.compile(r"^node_config(\[0\])?\.(labels|resource_labels|taint|tags|resource_manager_tags)\b")
"""Paths as a plan writes them (``node_config[0].labels``) or a synth diff (``node_config.labels``)."""


def _node_pool_recreated(c: ResourceChange) -> list[str]:
    if c.type != "google_container_node_pool":
        return []
    if c.action == "replace":
        return [f"node pool {replaced(c)}: every node is deleted and re-created; its pods have nowhere to run "
                "until the new nodes are ready"]
    if c.action == "delete":
        return ["node pool deleted: its pods lose their nodes"]
    changed = sorted({a.path for a in c.attributes if a.new is not UNKNOWN and (
        a.path == "version" or (a.path.startswith("node_config") and not NODE_CONFIG_IN_PLACE.match(a.path)))})
    if c.action == "update" and changed:
        return [f"nodes re-created (surge upgrade, pods evicted node by node): {', '.join(changed[:6])}"
                + (" ..." if len(changed) > 6 else "")]
    return []


_ROUTING_KEYS = re.compile(r"(^|\.|\])(default_service|service|backend_service|weight)(\[|\.|$)")


_MATCHER_DEFAULT = re.compile(r"^path_matcher\[(\d+)\]\.default_service$")


def _answers_unmatched(scope: Any) -> bool:
    """Whether a URL map or path matcher answers every request none of its rules match itself (a
    100 % fault-injection abort, the library's 404): its default service never gets traffic."""
    return get_path(scope, "default_route_action", 0, "fault_injection_policy", 0, "abort", 0, "percentage") == 100


def _nominal_default(c: ResourceChange, path: str) -> bool:
    """A ``default_service`` change where both sides answer unmatched requests themselves."""
    if path == "default_service":
        scopes = [c.before, c.after]
    elif match := _MATCHER_DEFAULT.match(path):
        scopes = [get_path(side, "path_matcher", int(match[1])) for side in (c.before, c.after)]
    else:
        return False
    return all(_answers_unmatched(scope) for scope in scopes)


def _url_map_traffic(c: ResourceChange) -> list[str]:
    if c.type not in URL_MAPS or c.action not in ("update", "replace"):
        return []
    paths = sorted({a.path for a in c.attributes if _ROUTING_KEYS.search(a.path) and not _nominal_default(c, a.path)})
    if paths:
        return [f"traffic routing changes: {', '.join(paths[:6])}{' ...' if len(paths) > 6 else ''}"]
    return []


def _protection_lowered(c: ResourceChange) -> list[str]:
    if c.action not in ("update", "replace"):
        return []
    reasons = []
    for a in c.attributes:
        if a.path == "lifecycle.prevent_destroy" and a.old is True and a.new is not True:
            reasons.append("lifecycle.prevent_destroy removed")
        elif a.path.endswith("deletion_protection") and a.old is True and a.new is not True:
            reasons.append(f"{a.path} turned off")
        elif a.path == "force_destroy" and a.new is True and a.old is not True:
            reasons.append("force_destroy turned on (deleting the bucket deletes its objects)")
    return ["protection lowered: " + ", ".join(reasons)] if reasons else []


# ---------------------------------------------------------------------------------------------
# the table

RULES: tuple[Rule, ...] = (
    Rule("stateful-destroyed", HIGH, "stateful / address-bearing types (STATEFUL)", "delete or replace",
         _stateful_destroyed),
    Rule("iam-high", HIGH, "*_iam_member/_binding/_policy, google_project_iam_*",
         "primitive role (owner/editor/viewer), allUsers/allAuthenticatedUsers, delete or replace, "
         "authoritative project policy", _iam_high),
    Rule("firewall-open", HIGH, "google_compute_firewall", "an ingress allow rule gains 0.0.0.0/0 or ::/0",
         _firewall_open),
    Rule("firewall-widened", HIGH, "google_compute_firewall",
         "an existing ingress rule gains source ranges, source tags/SAs or ports, or loses its targets",
         _firewall_widened),
    Rule("firewall-deny-removed", HIGH, "google_compute_firewall", "an ingress deny rule is deleted",
         _firewall_deny_removed),
    Rule("backend-changed", HIGH, "terraform block (synth diff)", "the state backend changes", _backend_changed),
    Rule("name-collision", HIGH, "any named resource", "replaced create-before-destroy (its own lifecycle or a "
         "dependent's) while keeping its name", _same_name_created_first),
    Rule("stack-removed", MEDIUM, "whole stacks (synth diff)", "a stack disappears from the app", _stack_removed),
    Rule("renamed", MEDIUM, "any (synth diff)", "a logical id changes with the same body (= replace)", _renamed),
    Rule("protection-lowered", MEDIUM, "any", "prevent_destroy removed, deletion_protection off, force_destroy on",
         _protection_lowered),
    Rule("iam-change", MEDIUM, "IAM types", "any other grant created or changed", _iam_medium),
    Rule("firewall-new-ingress", MEDIUM, "google_compute_firewall",
         "a new ingress allow rule from specific sources (not the internet)", _firewall_new_ingress),
    Rule("autoscaler-lowered", MEDIUM, "google_compute_(region_)autoscaler",
         "min_replicas or max_replicas decrease, or the autoscaler is deleted", _autoscaler_lowered),
    Rule("template-rollout", MEDIUM, "instance templates, instance group managers",
         "template changed or replaced (rolls the MIG), version switch, group destroyed", _template_rollout),
    Rule("node-pool-recreated", MEDIUM, "google_container_node_pool",
         "replaced or deleted, or an update that re-creates the nodes (node_config except labels/taints/tags, version)",
         _node_pool_recreated),
    Rule("url-map-traffic", MEDIUM, "google_compute_(region_)url_map",
         "default service, path-rule service or weighted backend changes (not a default service that a 100 % abort "
         "keeps from getting traffic)", _url_map_traffic),
)


def assess(change: ResourceChange) -> list[Finding]:
    """Every finding of every rule on one change, high first, in table order."""
    found = [Finding(rule.severity, rule.id, change, reason) for rule in RULES for reason in rule.check(change)]
    return sorted(found, key=lambda f: SEVERITIES.index(f.severity))


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """High first, then by stack, address and table order (rules outside the table last)."""
    order = [r.id for r in RULES]
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.change.stack, f.change.address,
                                           order.index(f.rule) if f.rule in order else len(order)))


def assess_all(changes: list[ResourceChange]) -> list[Finding]:
    """Findings of many changes: high first, then by stack and address (deterministic)."""
    return sort_findings([f for c in changes for f in assess(c)])


def worst(findings: list[Finding]) -> str | None:
    """The highest severity among `findings`, or None."""
    for severity in SEVERITIES:
        if any(f.severity == severity for f in findings):
            return severity
    return None


def fails(findings: list[Finding], fail_on: str) -> bool:
    """True if a finding is at or above `fail_on` (``high``, ``medium``; ``none`` never fails)."""
    if fail_on == "none":
        return False
    limit = SEVERITIES.index(fail_on)
    return any(SEVERITIES.index(f.severity) <= limit for f in findings)
