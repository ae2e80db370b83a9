"""Spec of the serving network (``[network]``): subnets per region, flow logs, NAT, the serving
port the health-check firewall admits, IAP SSH, private services access and custom routes.
Construct: ``constructs_lib.network.ServingNetwork``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Sequence

from pydantic import Field, model_validator

from constructs_lib.errors import ConfigurationError, Spec
from constructs_lib.naming import NamePart
from constructs_lib.regions import Region
from constructs_lib.values import Cidr, Ipv4Address, PrivateCidr, unique


HEALTH_CHECK_RANGES: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22")
"""Google Front End health-check and proxy source ranges (global external Application LB)."""


IAP_RANGE = "35.235.240.0/20"
"""Source range of Identity-Aware Proxy TCP forwarding (IAP SSH)."""


class FlowLogsSpec(Spec):
    """VPC flow logs on every subnet. Defaults to on, 5 s aggregation, 50 % sampling, all metadata:
    enough to debug serving traffic (and what scanners expect) at a moderate logging cost."""

    enabled: bool = Field(default=True, description="Log flows on every subnet. Defaults to on: serving traffic can be debugged after the fact.")
    aggregation_interval: Literal[
        "INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN", "INTERVAL_10_MIN", "INTERVAL_15_MIN"
    ] = Field(default="INTERVAL_5_SEC", description="Aggregation window of a flow log entry. Defaults to 5 s, the finest.")
    flow_sampling: float = Field(default=0.5, gt=0, le=1, description="Share of flows logged, in (0, 1].")
    metadata: Literal["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"] = Field(
        default="INCLUDE_ALL_METADATA", description="Metadata in each entry (VM names, regions). Defaults to all: entries name their endpoints.",
    )


class RouteSpec(Spec):
    """A custom static route (``google_compute_route``). Exactly one next hop must be given."""

    name: NamePart = Field(description="Role part of the route's name: <app>-<env>-route-<name>.")
    dest_range: Cidr = Field(description="Destination CIDR, e.g. 10.50.0.0/16 or 0.0.0.0/0.")
    next_hop_gateway: Literal["default-internet-gateway"] | None = Field(default=None, description="Next hop: the internet gateway.")
    next_hop_ip: Ipv4Address | None = Field(default=None, description="Next hop: an instance's internal IP (an appliance).")
    next_hop_ilb: str | None = Field(default=None, description="Forwarding rule id or IP of an internal passthrough LB.")
    priority: int = Field(default=1000, ge=0, le=65535, description="Lower wins. Defaults to 1000, GCP's default.")
    tags: tuple[str, ...] = Field(default=(), description="Only instances with these network tags use the route.")

    @model_validator(mode="after")
    def _one_next_hop(self) -> "RouteSpec":
        hops = [h for h in (self.next_hop_gateway, self.next_hop_ip, self.next_hop_ilb) if h is not None]
        if len(hops) != 1:
            raise ValueError(
                f"route {self.name!r} must set exactly one of next_hop_gateway, next_hop_ip, next_hop_ilb (got {len(hops)})"
            )
        return self


class NetworkSpec(Spec):
    """Tunables of ``ServingNetwork``; the ``[network]`` section of an environment file."""

    subnet_cidr_base: PrivateCidr = Field(
        default="10.10.0.0/16",
        description="Range the per-region subnets are cut from, a /20 per region in region order. "
        "Defaults to 10.10.0.0/16 (16 regions); set subnet_cidrs to pin a region's range.",
    )
    subnet_prefix_length: int = Field(default=20, ge=8, le=29, description="Size of auto-allocated subnets. Defaults to /20 (4,096 addresses).")
    subnet_cidrs: dict[Region, PrivateCidr] = Field(default_factory=dict, description="Explicit subnet range per region; overrides the allocation.")
    serving_port: int = Field(default=8080, ge=1, le=65535, description="Port the model servers listen on; health checks and LB traffic are admitted to it only. Defaults to 8080.")
    fleet_tag: NamePart = Field(default="model-server", description="Network tag of serving VMs; firewall rules target it. Defaults to 'model-server'.")
    flow_logs: FlowLogsSpec = Field(default_factory=FlowLogsSpec, description="VPC flow logs of the subnets. Defaults to on, 5 s, 50 % sampling.")
    iap_ssh: bool = Field(default=False, description="Admit SSH from IAP (35.235.240.0/20) to the fleet tag. Off by default: OS Login + IAP is opt-in break-glass access.")
    nat_min_ports_per_vm: int = Field(default=64, ge=2, le=65536, description="Cloud NAT ports per VM. Defaults to 64, GCP's default.")
    nat_log_filter: Literal["ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"] | None = Field(default="ERRORS_ONLY", description="Cloud NAT logging; None turns it off. Defaults to ERRORS_ONLY.")
    private_services_prefix_length: int = Field(default=20, ge=8, le=29, description="Size of the range reserved for private services access (Memorystore). Defaults to /20.")
    private_services_address: Ipv4Address | None = Field(default=None, description="Start address of that range; None lets Google pick a free one.")
    routing_mode: Literal["REGIONAL", "GLOBAL"] = Field(default="REGIONAL", description="Cloud Router dynamic routing scope. Defaults to REGIONAL.")
    mtu: int = Field(default=1460, ge=1300, le=8896, description="VPC MTU. Defaults to 1460, GCP's default.")
    routes: Annotated[tuple[RouteSpec, ...], unique("route name", key=lambda route: route.name)] = Field(
        default=(), description="Custom static routes.",
    )


def plan_subnets(regions: Sequence[str], spec: NetworkSpec) -> dict[str, str]:
    """Subnet CIDR per region: explicit ``subnet_cidrs`` first, then /N blocks of the base range
    in region order, skipping blocks that overlap an explicit range. Fails on overlaps."""
    base = ipaddress.ip_network(spec.subnet_cidr_base)
    if spec.subnet_prefix_length < base.prefixlen:
        raise ConfigurationError(
            "network.subnet_prefix_length", spec.subnet_prefix_length,
            f"must be >= the prefix of subnet_cidr_base ({spec.subnet_cidr_base})",
        )
    explicit = {r: ipaddress.ip_network(c) for r, c in spec.subnet_cidrs.items()}
    unused = sorted(set(explicit) - set(regions))
    if unused:
        raise ConfigurationError("network.subnet_cidrs", unused, f"names regions that are not served; served regions: {', '.join(regions)}")
    free = (block for block in base.subnets(new_prefix=spec.subnet_prefix_length)
            if not any(block.overlaps(e) for e in explicit.values()))
    planned: dict[str, ipaddress.IPv4Network] = {}
    for region in regions:
        if region in explicit:
            planned[region] = explicit[region]
            continue
        block = next(free, None)
        if block is None:
            raise ConfigurationError("network.subnet_cidr_base", spec.subnet_cidr_base, f"has no free /{spec.subnet_prefix_length} left for region {region}; use a larger base range or subnet_cidrs")
        planned[region] = block
    items = list(planned.items())
    for i, (region_a, net_a) in enumerate(items):
        for region_b, net_b in items[i + 1:]:
            if net_a.overlaps(net_b):
                raise ConfigurationError(f"network.subnet_cidrs.{region_b}", str(net_b), f"overlaps the subnet of {region_a} ({net_a})")
    return {region: str(net) for region, net in planned.items()}

