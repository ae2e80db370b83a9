"""One finding per intended change: findings that one removal (or addition) causes are folded into one.

* **Grants of a service account deleted or created in the same change**: removing the grants
  of an account that goes away revokes nothing anyone else relies on, and the grants of a new
  account come with it; they become part of the account's finding (a new account's ordinary
  grants are one ``iam-change`` finding; a high-risk grant keeps its own row).
* **A removed or renamed model**: every finding on a resource of model ``<name>`` (a construct
  path with a ``model-<name>`` (VM runtime) or ``workload-<name>`` (GKE runtime) segment, such as
  ``Default/model-<name>/fleet-<region>/group``; else a logical id ``model-<name>_...``) when every change under it is a
  delete becomes one ``model-removed`` finding at the worst severity among them; a model
  removed while exactly one model of the same stack is added is ``model-renamed``, and the new
  model's findings fold into it too. What is deleted outside the model's subtree but named after
  it (its backend ``lb/backend-<model>``, its SLOs and alerts ``observability/slo-<model>-...``,
  the grants ``cache/connect-<model>-auth``: offline plans cannot tell whose account a member
  is, they hold fake e-mails) is counted in the model's message and its findings fold in too.
* **Secret versions re-written because their cache is replaced**: the cache keeps its host, AUTH
  string and CA in Secret Manager versions next to it (``cache/auth-secret-version-<region>``);
  a replaced instance replaces them (``secret_data`` is the new instance's). They become part of
  the cache's finding, which says what that means for running servers.

Folding only merges rows: the details still list every resource.
"""

from __future__ import annotations

import re
from collections import Counter

from .changes import ResourceChange
from .risk import DESTROYING, IAM_TYPE, MEDIUM, SEVERITIES, Finding, sort_findings

SERVICE_ACCOUNT = "google_service_account"
MODEL_PATH = re.compile(r"(?:^|/)(?:model|workload)-([a-z0-9-]+?)(?:/|$)")
"""A model's subtree in a construct path: ``ModelServing`` (``Default`` in the environment stacks)
puts each model at ``model-<name>`` (VM runtime) or ``workload-<name>`` (GKE runtime)."""
MODEL_ID = re.compile(r"^(?:model|workload)-([a-z0-9-]+?)(?:_|$)")
"""The same in a logical id (cdktf leaves ``Default`` out): ``model-<name>_fleet-..._<hash>``."""
#: How a folded resource is counted in the model's message.
KINDS = {
    "google_service_account": "service account", "google_compute_region_instance_group_manager": "instance group",
    "google_compute_instance_group_manager": "instance group", "google_compute_region_autoscaler": "autoscaler",
    "google_compute_autoscaler": "autoscaler", "google_compute_instance_template": "instance template",
    "google_compute_region_instance_template": "instance template",
    "google_monitoring_alert_policy": "alert policy", "google_monitoring_slo": "SLO",
    "google_monitoring_custom_service": "monitoring service", "google_monitoring_uptime_check_config": "uptime check",
}


def _side(change: ResourceChange) -> dict:
    value = change.after if change.action == "create" else change.before
    return value if isinstance(value, dict) else {}


def _names_account(grant: ResourceChange, account: ResourceChange) -> bool:
    """Whether a grant's member is `account`: a reference to it (synth) or its e-mail (plan)."""
    side = _side(grant)
    members = [m for m in [side.get("member"), *(side.get("members") or [])] if isinstance(m, str)]
    email = _side(account).get("email")
    refs = [f"${{{account.address}."] + ([f"serviceAccount:{email}"] if isinstance(email, str) and email else [])
    return any(m.startswith(ref) for m in members for ref in refs)


def _worst(findings: list[Finding]) -> str:
    return min((f.severity for f in findings), key=SEVERITIES.index)


def _roles(findings: list[Finding]) -> str:
    return ", ".join(sorted({str(_side(f.change).get("role")) for f in findings}))


def _fold_grants(findings: list[Finding], changes: list[ResourceChange]) -> list[Finding]:
    accounts = [c for c in changes if c.type == SERVICE_ACCOUNT and (c.action in DESTROYING or c.action == "create")]
    grants: dict[int, list[Finding]] = {}
    kept = []
    for f in findings:
        together = (lambda a: (a.action == f.change.action == "create" and f.rule == "iam-change")
                    or (a.action in DESTROYING and f.change.action in DESTROYING))
        owner = next((a for a in accounts if a.stack == f.change.stack and IAM_TYPE.search(f.change.type)
                      and together(a) and _names_account(f.change, a)), None)
        (grants.setdefault(id(owner), []) if owner else kept).append(f)
    for account in accounts:
        mine = grants.get(id(account), [])
        if not mine:
            continue
        count = len({id(g.change) for g in mine})
        own = next((f for f in kept if f.change is account and f.rule == "stateful-destroyed"), None)
        if own is not None:
            kept[kept.index(own)] = Finding(own.severity, own.rule, account,
                                            f"{own.message}; its {count} grant(s) go with it ({_roles(mine)})",
                                            (*own.folded, *mine))
        else:
            kept.append(Finding(MEDIUM, "iam-change", account,
                                f"new service account with {count} grant(s): {_roles(mine)}", tuple(mine)))
    return kept


def model_of(change: ResourceChange) -> str | None:
    """The model a resource belongs to, from its construct path or else its logical id."""
    if change.construct_path:
        match = MODEL_PATH.search(change.construct_path)
    else:
        match = MODEL_ID.match(change.address.split(".", 1)[-1])
    return match[1] if match else None


def _named_after(change: ResourceChange, model: str) -> bool:
    """A resource whose construct path (or logical id) names the model (``cache/connect-<model>-auth``,
    ``lb/backend-<model>/default``, ``observability/slo-<model>-latency``)."""
    where = change.construct_path or change.address.split(".", 1)[-1]
    return re.search(rf"(?:^|[-_/]){re.escape(model)}(?:[-_/]|$)", where) is not None


def _removed_with(change: ResourceChange, removed: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The removed model a resource outside every model's subtree is named after, when it is
    deleted (a grant also when replaced); the longest name wins (``llm-next`` over ``llm``). A
    resource of a model that stays, whose name starts with a removed one's and a dash, deleted in
    the same change, is counted with the removed one: the details list every resource either way."""
    gone = change.action == "delete" or (IAM_TYPE.search(change.type) is not None and change.action in DESTROYING)
    if not gone or model_of(change) is not None:
        return None
    named = [k for k in removed if k[0] == change.stack and _named_after(change, k[1])]
    return max(named, key=lambda k: len(k[1]), default=None)


def _kind(change: ResourceChange) -> str:
    if IAM_TYPE.search(change.type):
        return "grant"
    return KINDS.get(change.type) or change.type.removeprefix("google_").removeprefix("compute_").replace("_", " ")


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return kind
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def _summary(model_changes: list[ResourceChange], findings: list[Finding]) -> str:
    """``3 grants, 1 autoscaler, ...``: the model's resources, those named after it and the grants
    folded into its account."""
    found = {id(c): c for c in model_changes}
    found |= {id(g.change): g.change for f in findings for g in f.with_folded()
              if g.change.type != "model" and g.change.action in DESTROYING}
    counts = Counter(_kind(c) for c in found.values())
    return ", ".join(f"{n} {_plural(kind, n)}" for kind, n in sorted(counts.items(), key=lambda item: item[0].lower()))


def _fold_models(findings: list[Finding], changes: list[ResourceChange]) -> list[Finding]:
    members: dict[tuple[str, str], list[ResourceChange]] = {}
    for c in changes:
        if (model := model_of(c)) is not None:
            members.setdefault((c.stack, model), []).append(c)
    only = lambda key, action: {c.action for c in members[key]} == {action}  # noqa: E731
    removed = sorted(k for k in members if only(k, "delete"))
    added = sorted(k for k in members if only(k, "create"))
    renames = {}
    for stack in {s for s, _ in removed}:
        gone, new = [k for k in removed if k[0] == stack], [k for k in added if k[0] == stack]
        if len(gone) == len(new) == 1:
            renames[gone[0]] = new[0]
    folded: dict[tuple[str, str], list[Finding]] = {}
    kept = []
    for f in findings:
        key = (f.change.stack, model_of(f.change) or "")
        key = next((old for old, new in renames.items() if new == key), key)
        if key not in removed:
            key = _removed_with(f.change, removed) or key
        (folded.setdefault(key, []) if key in removed else kept).append(f)
    around: dict[tuple[str, str], list[ResourceChange]] = {}
    for c in changes:
        if (owner := _removed_with(c, removed)) is not None:
            around.setdefault(owner, []).append(c)
    for key in removed:
        stack, model = key
        mine = folded.get(key, [])
        if not mine:
            continue
        if key in renames:
            what = (f"model `{model}` renamed to `{renames[key][1]}`: every resource of the model is destroyed and "
                    "created under the new name")
        else:
            what = f"model `{model}` removed: its serving capacity and identity go"
        change = ResourceChange(stack, f"model-{model}", "model", "replace" if key in renames else "delete")
        kept.append(Finding(_worst(mine), "model-renamed" if key in renames else "model-removed", change,
                            f"{what}; destroys {_summary(members[key] + around.get(key, []), mine)}", tuple(mine)))
    return kept


CACHES = frozenset({"google_redis_instance", "google_redis_cluster"})
SECRET_VERSION = "google_secret_manager_secret_version"
_HASH = re.compile(r"_[0-9A-F]{8}$")


def _scope_and_leaf(change: ResourceChange) -> tuple[str, str]:
    """``("Default/cache", "redis-us-central1")`` from the construct path, else from the logical id
    (``cache_redis-us-central1_9DF011E6``: the hash dropped, the last segment split off)."""
    path = change.construct_path or _HASH.sub("", change.address.split(".", 1)[-1]).replace("_", "/")
    scope, _, leaf = path.rpartition("/")
    return scope, leaf


def _fold_cache_secrets(findings: list[Finding]) -> list[Finding]:
    # A replaced cache by (stack, construct scope, region): "redis-us-central1" -> "us-central1".
    caches = {(f.change.stack, scope, leaf.split("-", 1)[-1]): f
              for f in findings if f.change.type in CACHES and f.change.action == "replace"
              for scope, leaf in [_scope_and_leaf(f.change)]}
    secrets: dict[int, list[Finding]] = {}
    kept = []
    for f in findings:
        owner = None
        if f.change.type == SECRET_VERSION and f.change.action == "replace" and "secret_data" in f.change.forced_by:
            scope, leaf = _scope_and_leaf(f.change)
            owner = next((cache for (stack, where, region), cache in caches.items()
                          if stack == f.change.stack and where == scope and leaf.endswith("-" + region)), None)
        (secrets.setdefault(id(owner), []) if owner else kept).append(f)
    for i, cache in enumerate(kept):
        mine = secrets.get(id(cache))
        if mine:
            kept[i] = Finding(cache.severity, cache.rule, cache.change,
                              f"{cache.message}; its {len(mine)} secret version(s) in Secret Manager are replaced with the "
                              "new instance's values, which model servers read at start: restart them (roll the fleets or "
                              "Deployments) once it is applied", (*cache.folded, *mine))
    return kept


def fold(findings: list[Finding], changes: list[ResourceChange]) -> list[Finding]:
    """`findings` with grants folded into their service account, a removed (renamed) model's
    findings folded into one and a replaced cache's secret versions into the cache's; sorted like
    :func:`risk.assess_all`."""
    return sort_findings(_fold_cache_secrets(_fold_models(_fold_grants(findings, changes), changes)))
