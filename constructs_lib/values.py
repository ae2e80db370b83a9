"""Rules for plain values that several specs share, written once: Terraform tokens, request and
object paths, HTTP header names, CIDR blocks, environment variable names, container images and
lists whose items must be unique.

Pure Python (no cdktf, no jsii): environment files validate without starting Node. Each rule
is a ``check_*`` function that raises ``ConfigurationError(field, value, allowed)`` and, where
specs need it, an ``Annotated`` field type built with ``errors.rule`` (pydantic then names the
key path and the message is the rule's ``allowed`` text).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from typing import Annotated, Any, Callable, Iterable, Mapping, Sequence

from constructs_lib.errors import ConfigurationError, rule

TOKEN_MARKERS = ("${TfToken[", "#{TfToken[", "&{TfToken[")
"""How cdktf encodes unresolved values in strings, list elements and map keys (``${TfToken[TOKEN.12]}``)."""

NUMBER_TOKEN_MARKERS = (0xFDFF, 0xFBFF)
"""The top 16 bits of the doubles cdktf encodes number tokens (and number-list elements) as."""


def matching(pattern: re.Pattern[str], allowed: str, *, field: str, doc: str) -> Callable[..., str]:
    """A ``check_*`` rule: the value itself when it is a string ``pattern`` matches whole, else
    ``ConfigurationError(field, value, allowed)``. The one shape of every pattern rule."""
    def check(value: str, field: str = field) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ConfigurationError(field, value, allowed)
        return value

    check.__doc__ = doc
    return check


def pattern_type(pattern: re.Pattern[str], allowed: str) -> Any:
    """A spec field type for strings ``pattern`` matches whole; the message is ``allowed``."""
    return Annotated[str, rule(matching(pattern, allowed, field="value", doc=allowed))]


def one_of(allowed: Sequence[str], what: str) -> Any:
    """A spec field type for one of ``allowed`` (kept in their order, which may mean something,
    such as versions); the message says it is an unknown ``what`` and lists them."""
    message = f"unknown {what}; allowed: {', '.join(allowed)}"

    def check(value: str, field: str = "value") -> str:
        if value not in allowed:
            raise ConfigurationError(field, value, message)
        return value

    return Annotated[str, rule(check)]


MetricType = pattern_type(
    re.compile(r"^[a-z][a-z0-9.-]*\.[a-z]{2,}/[A-Za-z0-9_./-]+$"),
    "must be a Cloud Monitoring metric type such as agent.googleapis.com/gpu/utilization or custom.googleapis.com/queue_depth",
)
"""Spec field type: a Cloud Monitoring metric type (autoscaler metrics, alert and dashboard metrics)."""


def is_token(value: Any) -> bool:
    """Whether ``value`` is (or contains) an unresolved cdktf token: a reference that Terraform
    resolves at plan time (``service_account.email``), so it cannot be checked here. Strings,
    numbers (``Token.as_number``), lists and maps (``Token.as_string_map``: the token is a key) are
    looked into."""
    if isinstance(value, str):
        return any(marker in value for marker in TOKEN_MARKERS)
    if isinstance(value, float):
        return struct.unpack(">H", struct.pack(">d", value)[:2])[0] in NUMBER_TOKEN_MARKERS
    if isinstance(value, (list, tuple)):
        return any(is_token(item) for item in value)
    if isinstance(value, Mapping):
        return any(is_token(key) or is_token(item) for key, item in value.items())
    return False


# -- unique items -------------------------------------------------------------------------------

def repeated(items: Iterable[Any]) -> list[Any]:
    """The items that occur more than once, sorted, each once."""
    seen: set[Any] = set()
    twice: set[Any] = set()
    for item in items:
        (twice if item in seen else seen).add(item)
    return sorted(twice)


def check_unique(items: Sequence[Any], field: str, what: str = "item") -> Sequence[Any]:
    """``items`` if no item occurs twice, else ``<field> = [...]: each <what> may be listed once``."""
    twice = repeated(items)
    if twice:
        raise ConfigurationError(field, list(items), f"each {what} may be listed once; repeated: {', '.join(map(str, twice))}")
    return items


def unique(what: str, key: Callable[[Any], Any] | None = None) -> Any:
    """A spec field validator (``Annotated[tuple[...], unique("zone")]``): each item, or each
    ``key(item)`` (a name, a lowercased address), may occur once; else ``each <what> may be listed
    once; repeated: ...``. The same rule as ``check_unique``, for spec lists."""
    return rule(lambda items, field: check_unique([key(item) for item in items] if key else items, field, what))


# -- paths --------------------------------------------------------------------------------------

MAX_REQUEST_PATH = 1024


def check_request_path(value: str, field: str = "path") -> str:
    """An absolute HTTP request path for probes and health checks: ``/healthz`` (no query,
    fragment or spaces: probes send the path as is)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > MAX_REQUEST_PATH \
            or any(c in value for c in " ?#") or any(c.isspace() for c in value):
        raise ConfigurationError(field, value, "must be an absolute request path such as /healthz (no spaces, ? or #, at most 1024 characters)")
    return value


def check_object_path(value: str, field: str = "model_path") -> str:
    """A relative Cloud Storage object prefix: ``resnet/v3`` or ``llm/v2/`` (no leading ``/``, no ``..``,
    no ``//``)."""
    if (not isinstance(value, str) or not value.strip("/") or value.startswith("/") or "//" in value
            or ".." in value.split("/") or any(c in value for c in "\n\r")):
        raise ConfigurationError(field, value, "must be a relative object prefix such as resnet/v3 (no leading /, no .., no //)")
    return value


RequestPath = Annotated[str, rule(check_request_path)]
"""Spec field type: a probe / health-check request path."""

ObjectPath = Annotated[str, rule(check_object_path)]
"""Spec field type: a relative object prefix in the model bucket."""


# -- HTTP headers -------------------------------------------------------------------------------

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_HEADER_LINE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+:\s?.*$")


check_header_name = matching(
    _HEADER_NAME, "must be an HTTP header name (letters, digits and -)", field="header",
    doc="An HTTP header name (RFC 9110 token characters).",
)
check_header_line = matching(
    _HEADER_LINE, "must look like 'Header-Name: value'", field="header",
    doc="A custom header as the load balancer takes it: ``Header-Name: value``.",
)


HeaderName = Annotated[str, rule(check_header_name)]
HeaderLine = Annotated[str, rule(check_header_line)]


# -- CIDR blocks and addresses ------------------------------------------------------------------

PRIVATE_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""RFC 1918 ranges plus the shared address space GCP accepts for subnets."""


def parse_cidr(value: str, field: str = "cidr", *, ipv6: bool = False) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``value`` as a network (host bits must be zero); IPv6 only when ``ipv6``."""
    example = "203.0.113.0/24" if ipv6 else "10.20.0.0/20"
    try:
        network = ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError):
        raise ConfigurationError(field, value, f"must be a CIDR block such as {example}") from None
    if not ipv6 and not isinstance(network, ipaddress.IPv4Network):
        raise ConfigurationError(field, value, f"must be an IPv4 CIDR block such as {example}")
    return network


def check_cidr(value: str, field: str = "cidr") -> str:
    """An IPv4 CIDR block."""
    parse_cidr(value, field)
    return value


def check_any_cidr(value: str, field: str = "cidr") -> str:
    """An IPv4 or IPv6 CIDR block (source ranges of security rules)."""
    parse_cidr(value, field, ipv6=True)
    return value


def check_private_cidr(value: str, field: str = "cidr") -> str:
    """An IPv4 CIDR block inside the private ranges (``PRIVATE_RANGES``)."""
    network = parse_cidr(value, field)
    if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
        raise ConfigurationError(
            field, value, "must be a private range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10",
        )
    return value


def check_ipv4_address(value: str, field: str = "address") -> str:
    """A dotted-quad IPv4 address."""
    try:
        ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise ConfigurationError(field, value, "must be an IPv4 address such as 10.30.0.0") from None
    return value


def check_disjoint(ranges: dict[str, str], field_prefix: str = "") -> None:
    """Fail when two of the named CIDR blocks overlap (the later one is named); a value that is
    not a CIDR block fails like ``check_any_cidr`` (IPv4 and IPv6 blocks never overlap)."""
    items = [(name, parse_cidr(cidr, f"{field_prefix}{name}", ipv6=True)) for name, cidr in ranges.items()]
    for index, (name_a, net_a) in enumerate(items):
        for name_b, net_b in items[index + 1:]:
            if net_a.overlaps(net_b):
                raise ConfigurationError(f"{field_prefix}{name_b}", str(net_b), f"overlaps {name_a} ({net_a}); the ranges must be disjoint")


Cidr = Annotated[str, rule(check_cidr)]
AnyCidr = Annotated[str, rule(check_any_cidr)]
PrivateCidr = Annotated[str, rule(check_private_cidr)]
Ipv4Address = Annotated[str, rule(check_ipv4_address)]


# -- process environment and images -------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


check_env_name = matching(
    _ENV_NAME, "must be an environment variable name matching ^[A-Za-z_][A-Za-z0-9_]*$", field="env",
    doc="An environment variable name: ``^[A-Za-z_][A-Za-z0-9_]*$``.",
)
check_image = matching(
    _IMAGE, "must be a container image reference such as us-docker.pkg.dev/project/repo/server:1.2", field="image",
    doc="A container image reference: ``registry/path/name[:tag][@sha256:digest]`` (lowercase path).",
)


Image = Annotated[str, rule(check_image)]
"""Spec field type: a container image reference."""
