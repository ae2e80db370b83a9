"""Security and hygiene invariants of synthesized Terraform JSON, one function per invariant.

Each ``check_*`` takes a synthesized stack (``conftest.SynthStack``: name, config, parsed
JSON) and returns one message per violation (``"<stack>: <type>.<id>: <problem>"``), so a
failing test lists every offender at once. The rules are written here independently of the
library's own validators (their own regexes), so they also catch what a validator lets through.

Explicit opt-outs. Some protections have a documented switch an environment file may turn off
(``prevent_destroy = false`` on the bucket, cache and load balancer addresses, ``secure_boot =
false`` on a fleet, ``http_redirect = false``). An opt-out is accepted only when the file sets
the key itself (a default never weakens anything) and the environment is not production-like
(``prod``, ``production``, ``prd`` as a hyphen-separated part of its name). A Python-authored
stack has no file and gets no opt-outs.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
GOOGLE_SCHEMA = ROOT / "tools" / "tfdouble" / "schemas" / "google-6.50.0.schema.json.gz"

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
COMMON_LABELS = ("app", "env", "managed-by")
PROD_LIKE = re.compile(r"(^|-)(prod|production|prd)(-|$)")

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
DEFAULT_SA = re.compile(r"^([0-9]+-compute@developer|[a-z][-a-z0-9:.]*@appspot)\.gserviceaccount\.com$")
REFERENCE = re.compile(r"^\$\{[^{}]+\}$")
_EXPRESSION = re.compile(r"^\$\{(.+)\}$", re.S)
_OBJECT_KEY = re.compile(r'"[A-Za-z_][A-Za-z0-9_]*"\s*=')


def from_references(value: str) -> bool:
    """Whether ``value`` is one Terraform expression whose data all comes from references: a bare
    reference (``${google_redis_instance.x.auth_string}``) or one built of them, such as
    ``${jsonencode({"host" = <ref>.host, "port" = <ref>.port})}``, where the only string literals
    are object keys. A quoted value anywhere else is literal data and fails."""
    if REFERENCE.fullmatch(value):
        return True
    match = _EXPRESSION.fullmatch(value)
    return match is not None and '"' not in _OBJECT_KEY.sub("", match.group(1))

NAME_LIMITS = {
    "google_redis_instance": 40,
    "google_container_cluster": 40,
    "google_container_node_pool": 40,
}
"""Types whose ``name`` is RFC 1035 but shorter than 63 characters."""

OWN_NAME_RULES: dict[str, str] = {
    "google_storage_bucket": "bucket",
    "google_storage_bucket_object": "object",
    "google_storage_managed_folder": "object",
    "google_project_iam_custom_role": "role",
}
"""Types whose ``name`` is not an RFC 1035 resource name (checked by their own rule or not at all)."""

SENSITIVE_ATTRIBUTES = re.compile(
    r"\.(auth_string|server_ca_certs|secret_data|private_key|client_key|client_certificate|password|access_token"
    r"|master_auth|cluster_ca_certificate|id_token|hmac_key)\b"
)
"""Attribute references that make an output sensitive."""

CREDENTIAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "PEM private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "Google API key": re.compile(r"AIza[0-9A-Za-z_-]{35}"),
    "OAuth access token": re.compile(r"ya29\.[0-9A-Za-z_-]{20,}"),
    "service account key file": re.compile(r'\\?"private_key_id\\?"\s*:'),
    "AWS access key id": re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    "GitHub token": re.compile(r"gh[pousr]_[0-9A-Za-z]{36}"),
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"]+:[^/\s@\"]+@"),
}
SECRET_KEYS = re.compile(
    r"^(secret_data|secret_data_wo|password|.*_password|passwd|auth_string|private_key|client_key|access_token"
    r"|api_key|.*_token|token)$"
)
"""Attribute names whose value must never be a literal (only a reference to where it lives)."""

_SECRET_VAR = r"[A-Za-z0-9_]*(?:PASSWORD|PASSWD|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|SECRET_KEY|ACCESS_KEY|CREDENTIALS)[A-Za-z0-9_]*"
_NOT_A_POINTER = r"(?![\"']?(?:\$\{|projects/|$))"
SECRET_VARIABLES = (
    re.compile(rf"(?m)^\s*(?:export\s+)?({_SECRET_VAR})={_NOT_A_POINTER}"),
    re.compile(rf"name:\s*[\"']?({_SECRET_VAR})[\"']?\s*\n\s*value:\s*{_NOT_A_POINTER}"),
)
"""A secret-named environment variable with a literal value (KEY=value lines, container YAML);
a Secret Manager resource name or a Terraform reference is fine."""


# ----------------------------------------------------------------------------------- helpers


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf or container) below ``value``."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "//":
                yield from walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as a list of dicts (cdktf writes single blocks as objects, repeated ones as lists)."""
    if value is None:
        return []
    return [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, dict)]


def first(value: Any) -> dict[str, Any]:
    found = blocks(value)
    return found[0] if found else {}


def literal(value: Any) -> bool:
    """A plain string written into the JSON (not a ``${...}`` Terraform expression)."""
    return isinstance(value, str) and "${" not in value


def is_prod_like(stack) -> bool:  # noqa: ANN001
    return bool(PROD_LIKE.search(stack.config.name if stack.config else stack.name))


def opted_out(stack, section: str, key: str, *, model: str | None = None) -> bool:  # noqa: ANN001
    """Whether the stack's environment file explicitly turns ``[section] key`` off (see module docstring)."""
    if stack.config is None or is_prod_like(stack):
        return False
    if model is not None:
        spec = next((m for m in stack.config.models if m.name == model), None)
        part = getattr(spec, section, None) if spec else None
    else:
        part = getattr(stack.config, section, None)
    return part is not None and key in part.model_fields_set and getattr(part, key) is False


def where(stack, resource_type: str, logical_id: str) -> str:  # noqa: ANN001
    return f"{stack.name}: {resource_type}.{logical_id}"


@lru_cache(maxsize=1)
def label_attributes() -> dict[str, str]:
    """Resource type -> its user-settable GCP labels attribute, from the provider schema."""
    data = json.load(gzip.open(GOOGLE_SCHEMA))
    schemas = data["provider_schemas"]["registry.terraform.io/hashicorp/google"]["resource_schemas"]
    found = {}
    for resource_type, schema in schemas.items():
        attributes = schema["block"].get("attributes", {})
        for name in ("labels", "resource_labels", "user_labels"):
            if name not in NOT_GCP_LABELS.get(resource_type, ()) and attributes.get(name, {}).get("optional"):
                found[resource_type] = name
                break
    return found


NOT_GCP_LABELS = {"google_monitoring_notification_channel": ("labels",)}
"""Attributes named like labels that configure the resource (a channel's ``email_address``)."""

NOT_GCP_LABEL_BLOCKS = ("monitored_resource.labels",)
"""Nested ``labels`` that name a monitored resource (an uptime check's ``host``), not GCP labels."""


# -------------------------------------------------------------------------------- invariants


def check_no_primitive_roles(stack) -> list[str]:  # noqa: ANN001
    """No owner/editor/viewer role and no public member anywhere (resources and data sources)."""
    problems = []
    for section in ("resource", "data"):
        for path, value in walk(stack.json.get(section, {})):
            if isinstance(value, str) and value in PRIMITIVE_ROLES:
                problems.append(f"{stack.name}: {section}.{path} = {value!r}: primitive role")
            if isinstance(value, str) and value in PUBLIC_MEMBERS:
                problems.append(f"{stack.name}: {section}.{path} = {value!r}: public IAM member")
    return problems


def check_no_external_ips(stack) -> list[str]:  # noqa: ANN001
    """No VM, template or GKE node with a public IP."""
    problems = []
    for resource_type in ("google_compute_instance_template", "google_compute_region_instance_template", "google_compute_instance"):
        for logical_id, body in stack.resources(resource_type).items():
            for index, nic in enumerate(blocks(body.get("network_interface"))):
                for key in ("access_config", "ipv6_access_config"):
                    if blocks(nic.get(key)) or nic.get(key):
                        problems.append(f"{where(stack, resource_type, logical_id)}: network_interface[{index}].{key} gives the VM a public IP")
            if not blocks(body.get("network_interface")):
                problems.append(f"{where(stack, resource_type, logical_id)}: no network_interface")
    for logical_id, body in stack.resources("google_container_cluster").items():
        private = first(body.get("private_cluster_config"))
        if private.get("enable_private_nodes") is not True:
            problems.append(f"{where(stack, 'google_container_cluster', logical_id)}: private_cluster_config.enable_private_nodes is not true")
    for logical_id, body in stack.resources("google_container_node_pool").items():
        if first(body.get("network_config")).get("enable_private_nodes") is False:
            problems.append(f"{where(stack, 'google_container_node_pool', logical_id)}: network_config.enable_private_nodes = false")
    return problems


def check_vm_hardening(stack) -> list[str]:  # noqa: ANN001
    """Every template: Shielded VM, a dedicated service account, OS Login, no project SSH keys,
    no serial port; every GKE node pool: shielded nodes and a dedicated service account."""
    problems = []
    for resource_type in ("google_compute_instance_template", "google_compute_region_instance_template", "google_compute_instance"):
        for logical_id, body in stack.resources(resource_type).items():
            at = where(stack, resource_type, logical_id)
            shielded = first(body.get("shielded_instance_config"))
            model = (body.get("labels") or {}).get("model")
            for key in ("enable_vtpm", "enable_integrity_monitoring", "enable_secure_boot"):
                if shielded.get(key) is not True:
                    if key == "enable_secure_boot" and model and opted_out(stack, "vm", "secure_boot", model=model):
                        continue
                    problems.append(f"{at}: shielded_instance_config.{key} is {shielded.get(key)!r}, not true")
            problems += _service_account(at, first(body.get("service_account")).get("email"))
            metadata = body.get("metadata") or {}
            expected = {"enable-oslogin": "true", "block-project-ssh-keys": "true"}
            for key, value in expected.items():
                if str(metadata.get(key, "")).lower() != value:
                    problems.append(f"{at}: metadata.{key} is {metadata.get(key)!r}, not {value!r}")
            if str(metadata.get("serial-port-enable", "false")).lower() in {"true", "1"}:
                problems.append(f"{at}: metadata.serial-port-enable is on")
            for key in ("ssh-keys", "sshKeys"):
                if key in metadata:
                    problems.append(f"{at}: metadata.{key} puts SSH keys on the VMs")
    for logical_id, body in stack.resources("google_container_node_pool").items():
        at = where(stack, "google_container_node_pool", logical_id)
        node = first(body.get("node_config"))
        if first(node.get("shielded_instance_config")).get("enable_integrity_monitoring") is False:
            problems.append(f"{at}: node_config.shielded_instance_config.enable_integrity_monitoring = false")
        problems += _service_account(at, node.get("service_account"))
    return problems


def _service_account(at: str, email: Any) -> list[str]:
    if email is None or email == "default":
        return [f"{at}: no dedicated service account (runs as the default compute service account)"]
    if literal(email) and DEFAULT_SA.fullmatch(email):
        return [f"{at}: service account {email!r} is a default service account"]
    if not literal(email) and "google_service_account." not in email:
        return [f"{at}: service account {email!r} is not a service account this stack creates"]
    return []


def check_redis_auth_and_tls(stack) -> list[str]:  # noqa: ANN001
    """Every Redis: AUTH (instance) or IAM auth (cluster), and TLS with server authentication."""
    problems = []
    for logical_id, body in stack.resources("google_redis_instance").items():
        at = where(stack, "google_redis_instance", logical_id)
        if body.get("auth_enabled") is not True:
            problems.append(f"{at}: auth_enabled is {body.get('auth_enabled')!r}, not true")
        if body.get("transit_encryption_mode") != "SERVER_AUTHENTICATION":
            problems.append(f"{at}: transit_encryption_mode is {body.get('transit_encryption_mode')!r}, not SERVER_AUTHENTICATION")
    for logical_id, body in stack.resources("google_redis_cluster").items():
        at = where(stack, "google_redis_cluster", logical_id)
        if body.get("authorization_mode") != "AUTH_MODE_IAM_AUTH":
            problems.append(f"{at}: authorization_mode is {body.get('authorization_mode')!r}, not AUTH_MODE_IAM_AUTH")
        if body.get("transit_encryption_mode") != "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION":
            problems.append(f"{at}: transit_encryption_mode is {body.get('transit_encryption_mode')!r}, not TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION")
    return problems


def check_buckets_private(stack) -> list[str]:  # noqa: ANN001
    """Every bucket: public access prevention enforced, uniform bucket-level access, no force_destroy."""
    problems = []
    for logical_id, body in stack.resources("google_storage_bucket").items():
        at = where(stack, "google_storage_bucket", logical_id)
        if body.get("public_access_prevention") != "enforced":
            problems.append(f"{at}: public_access_prevention is {body.get('public_access_prevention')!r}, not 'enforced'")
        if body.get("uniform_bucket_level_access") is not True:
            problems.append(f"{at}: uniform_bucket_level_access is not true")
        if body.get("force_destroy") is True:
            problems.append(f"{at}: force_destroy = true deletes every object on destroy")
    return problems


PROTECTED: dict[str, tuple[str, str] | None] = {
    "google_redis_instance": ("cache", "prevent_destroy"),
    "google_redis_cluster": ("cache", "prevent_destroy"),
    "google_storage_bucket": ("model_store", "prevent_destroy"),
    "google_compute_global_address": ("load_balancer", "prevent_destroy"),
    "google_compute_address": None,
    "google_container_cluster": None,
}
"""Stateful or address-bearing types -> the environment-file switch that may turn protection off."""


def check_destroy_protection(stack) -> list[str]:  # noqa: ANN001
    """Stateful/address-bearing resources are protected from destroy; replacements that must not
    leave a gap (managed certificates, instance templates) are created before the old one goes."""
    problems = []
    for resource_type, switch in PROTECTED.items():
        for logical_id, body in stack.resources(resource_type).items():
            if resource_type.endswith("_address") and body.get("address_type", "EXTERNAL") != "EXTERNAL":
                continue  # internal ranges (private services access) hold no public identity
            protected = (body.get("lifecycle") or {}).get("prevent_destroy") is True
            if resource_type == "google_redis_cluster":
                protected = protected or body.get("deletion_protection_enabled") is True
            if resource_type == "google_container_cluster":
                protected = protected or body.get("deletion_protection", True) is True
            if protected or (switch and opted_out(stack, *switch)):
                continue
            problems.append(f"{where(stack, resource_type, logical_id)}: not protected from destroy (lifecycle.prevent_destroy / deletion protection)")
    for resource_type in ("google_compute_managed_ssl_certificate", "google_compute_instance_template",
                          "google_compute_region_instance_template"):
        for logical_id, body in stack.resources(resource_type).items():
            if (body.get("lifecycle") or {}).get("create_before_destroy") is not True:
                problems.append(f"{where(stack, resource_type, logical_id)}: lifecycle.create_before_destroy is not true")
    return problems


def check_https_redirects_http(stack) -> list[str]:  # noqa: ANN001
    """Every address that serves HTTPS answers HTTP :80 only with a redirect to HTTPS."""
    problems = []
    rules = {**stack.resources("google_compute_global_forwarding_rule"), **stack.resources("google_compute_forwarding_rule")}
    url_maps = stack.resources("google_compute_url_map")
    http_proxies = stack.resources("google_compute_target_http_proxy")
    https_ips = {body.get("ip_address") for body in rules.values() if "target_https_proxy" in str(body.get("target"))}
    redirected: set[Any] = set()
    for logical_id, body in rules.items():
        target = str(body.get("target"))
        if "target_http_proxy" not in target or body.get("ip_address") not in https_ips:
            continue
        proxy = http_proxies.get(_ref_id(target), {})
        url_map = url_maps.get(_ref_id(str(proxy.get("url_map"))), {})
        redirect = first(url_map.get("default_url_redirect"))
        if redirect.get("https_redirect") is True and not url_map.get("path_matcher") and not url_map.get("host_rule"):
            redirected.add(body.get("ip_address"))
        else:
            problems.append(f"{where(stack, 'google_compute_global_forwarding_rule', logical_id)}: serves plain HTTP on an address that serves HTTPS")
    opt_out = opted_out(stack, "load_balancer", "http_redirect")
    for ip in sorted(https_ips - redirected, key=str):
        if not opt_out:
            problems.append(f"{stack.name}: HTTPS on {ip} has no HTTP :80 -> HTTPS redirect")
    return problems


def _ref_id(reference: str) -> str:
    """``${google_x.<id>.attr}`` -> ``<id>``."""
    match = re.search(r"\$\{[a-z0-9_]+\.([^.}]+)\.", reference)
    return match.group(1) if match else ""


def check_names(stack) -> list[str]:  # noqa: ANN001
    """Literal names obey GCP's rules: RFC 1035 resource names (shorter for some types), bucket
    names, service account ids, secret ids, instance-template name prefixes."""
    problems = []
    for resource_type, logical_id, body in stack.all_resources():
        if not resource_type.startswith("google_"):
            continue
        at = where(stack, resource_type, logical_id)
        name = body.get("name")
        if literal(name):
            rule = OWN_NAME_RULES.get(resource_type)
            if rule == "bucket":
                if not BUCKET.fullmatch(name) or ".." in name or name.startswith("goog") or "google" in name:
                    problems.append(f"{at}: bucket name {name!r} breaks Cloud Storage's rules")
            elif rule is None:
                limit = NAME_LIMITS.get(resource_type, 63)
                if not RFC1035.fullmatch(name) or len(name) > limit:
                    problems.append(f"{at}: name {name!r} is not an RFC 1035 name of at most {limit} characters")
        prefix = body.get("name_prefix")
        if literal(prefix) and not (re.fullmatch(r"[a-z][-a-z0-9]*", prefix) and len(prefix) <= 54):
            problems.append(f"{at}: name_prefix {prefix!r} must start with a letter, use [-a-z0-9] and be at most 54 characters")
        account = body.get("account_id") if resource_type == "google_service_account" else None
        if literal(account) and not ACCOUNT_ID.fullmatch(account):
            problems.append(f"{at}: account_id {account!r} is not 6-30 characters of ^[a-z][-a-z0-9]*[a-z0-9]$")
        secret = body.get("secret_id") if resource_type == "google_secret_manager_secret" else None
        if literal(secret) and not SECRET_ID.fullmatch(secret):
            problems.append(f"{at}: secret_id {secret!r} breaks Secret Manager's rule")
    return problems


def check_labels(stack) -> list[str]:  # noqa: ANN001
    """Every label obeys GCP's label rules, and every resource that takes labels has the common ones."""
    problems = []
    supported = label_attributes()
    for resource_type, logical_id, body in stack.all_resources():
        if not resource_type.startswith("google_"):
            continue  # Kubernetes labels (app.kubernetes.io/name) have their own rules
        at = where(stack, resource_type, logical_id)
        for path, value in walk(body):
            leaf = path.rsplit(".", 1)[-1]
            if leaf not in ("labels", "resource_labels", "user_labels") or not isinstance(value, dict):
                continue
            if ".node_config." in f".{path}." and leaf == "labels":
                continue  # GKE node labels are Kubernetes labels, with their own rules
            if path in NOT_GCP_LABELS.get(resource_type, ()) or path.endswith(NOT_GCP_LABEL_BLOCKS):
                continue
            if len(value) > 64:
                problems.append(f"{at}: {path} has {len(value)} labels (at most 64)")
            for key, item in value.items():
                if not LABEL_KEY.fullmatch(key):
                    problems.append(f"{at}: {path} key {key!r} breaks the label key rule")
                if literal(item) and not LABEL_VALUE.fullmatch(item):
                    problems.append(f"{at}: {path}.{key} = {item!r} breaks the label value rule")
        attribute = supported.get(resource_type)
        if attribute:
            labels = body.get(attribute)
            missing = [k for k in COMMON_LABELS if not isinstance(labels, dict) or k not in labels]
            if missing:
                problems.append(f"{at}: {attribute} lacks the common labels {', '.join(missing)}")
    return problems


def check_sensitive_outputs(stack) -> list[str]:  # noqa: ANN001
    """Outputs whose value reads a secret attribute are marked sensitive."""
    problems = []
    for name, output in (stack.json.get("output") or {}).items():
        value = json.dumps(output.get("value"))
        if SENSITIVE_ATTRIBUTES.search(value) and output.get("sensitive") is not True:
            problems.append(f"{stack.name}: output.{name} reads {SENSITIVE_ATTRIBUTES.search(value).group(1)} but is not sensitive")
    return problems


def check_no_credentials(stack) -> list[str]:  # noqa: ANN001
    """No credential material written into the JSON: key/token patterns anywhere, and attributes
    that hold secrets only ever reference where the secret lives."""
    problems = []
    text = json.dumps(stack.json)
    for what, pattern in CREDENTIAL_PATTERNS.items():
        match = pattern.search(text)
        if match:
            problems.append(f"{stack.name}: {what} in the synthesized JSON: {match.group(0)[:24]}...")
    for section in ("resource", "data", "provider", "output", "variable", "locals"):
        for path, value in walk(stack.json.get(section, {})):
            key = path.rsplit(".", 1)[-1].split("[", 1)[0]
            if SECRET_KEYS.fullmatch(key) and isinstance(value, str) and value and not from_references(value):
                problems.append(f"{stack.name}: {section}.{path} is a literal secret ({value[:8]}...), not a reference")
            if isinstance(value, str):
                for pattern in SECRET_VARIABLES:
                    for match in pattern.finditer(value):
                        problems.append(f"{stack.name}: {section}.{path} sets {match.group(1)} to a literal value")
            if isinstance(value, dict) and isinstance(value.get("name"), str) and re.fullmatch(_SECRET_VAR, value["name"]):
                literal_value = value.get("value")
                if isinstance(literal_value, str) and literal_value and not REFERENCE.fullmatch(literal_value):
                    problems.append(f"{stack.name}: {section}.{path} sets {value['name']} to a literal value")
    return problems


def check_gke_network_policy(stack) -> list[str]:  # noqa: ANN001
    """Every GKE cluster enforces Kubernetes NetworkPolicy: Dataplane V2 (which always does) or the
    network-policy add-on. checkov's CKV_GCP_12 only knows the add-on, so this replaces it."""
    problems = []
    for logical_id, body in stack.resources("google_container_cluster").items():
        dataplane_v2 = body.get("datapath_provider") == "ADVANCED_DATAPATH"
        add_on = first(body.get("network_policy")).get("enabled") is True
        if not (dataplane_v2 or add_on):
            problems.append(f"{where(stack, 'google_container_cluster', logical_id)}: NetworkPolicy is not enforced "
                            "(neither datapath_provider ADVANCED_DATAPATH nor network_policy.enabled)")
    return problems


INVARIANTS: dict[str, Callable[[Any], list[str]]] = {
    "no primitive roles or public members": check_no_primitive_roles,
    "no external IPs": check_no_external_ips,
    "shielded VMs with dedicated service accounts": check_vm_hardening,
    "Redis AUTH and TLS": check_redis_auth_and_tls,
    "private buckets": check_buckets_private,
    "destroy protection": check_destroy_protection,
    "HTTP redirects to HTTPS": check_https_redirects_http,
    "GCP names": check_names,
    "GCP labels": check_labels,
    "sensitive outputs": check_sensitive_outputs,
    "no credentials": check_no_credentials,
    "GKE enforces NetworkPolicy": check_gke_network_policy,
}


def violations(stack) -> list[str]:  # noqa: ANN001
    """Every invariant's violations for one stack."""
    return [problem for check in INVARIANTS.values() for problem in check(stack)]
