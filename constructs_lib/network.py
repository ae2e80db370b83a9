"""``ServingNetwork``: the VPC every serving deployment sits in.

A custom-mode VPC with one subnet per serving region (Private Google Access on, flow logs
configurable), a Cloud Router + Cloud NAT per region so VMs need no public IP, firewall
rules that admit only Google's health-check / proxy ranges to the serving port of the fleet,
optional IAP SSH, private services access for Memorystore, and optional custom routes.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Sequence

from constructs import Construct
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    compute_firewall,
    compute_global_address,
    compute_network,
    compute_route,
    compute_router,
    compute_router_nat,
    compute_subnetwork,
    service_networking_connection,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import NamePart, Naming
from constructs_lib.regions import check_region

HEALTH_CHECK_RANGES: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22")
"""Google Front End health-check and proxy source ranges (global external Application LB)."""

IAP_RANGE = "35.235.240.0/20"
"""Source range of Identity-Aware Proxy TCP forwarding (IAP SSH)."""

PRIVATE_RANGES = tuple(
    ipaddress.ip_network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _private_cidr(value: str, field: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 10.10.0.0/20") from None
    if not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(r) for r in PRIVATE_RANGES):
        raise ValueError(
            f"{value!r} must be a private IPv4 range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10"
        )
    return network


def _ipv4_value(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None
    return value


Ipv4Address = Annotated[str, AfterValidator(_ipv4_value)]
"""Spec field type: a dotted-quad IPv4 address, kept as the string Terraform takes."""


class FlowLogsSpec(BaseModel):
    """VPC flow logs on every subnet. Defaults to on, 5 s aggregation, 50 % sampling, all metadata:
    enough to debug serving traffic (and what scanners expect) at a moderate logging cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    aggregation_interval: Literal[
        "INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN", "INTERVAL_10_MIN", "INTERVAL_15_MIN"
    ] = "INTERVAL_5_SEC"
    flow_sampling: float = Field(default=0.5, gt=0, le=1, description="Share of flows logged, in (0, 1].")
    metadata: Literal["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"] = "INCLUDE_ALL_METADATA"


class RouteSpec(BaseModel):
    """A custom static route (``google_compute_route``). Exactly one next hop must be given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(description="Role part of the route's name: <app>-<env>-route-<name>.")
    dest_range: str = Field(description="Destination CIDR, e.g. 10.50.0.0/16 or 0.0.0.0/0.")
    next_hop_gateway: Literal["default-internet-gateway"] | None = None
    next_hop_ip: Ipv4Address | None = None
    next_hop_ilb: str | None = Field(default=None, description="Forwarding rule id or IP of an internal passthrough LB.")
    priority: int = Field(default=1000, ge=0, le=65535, description="Lower wins. Defaults to 1000, GCP's default.")
    tags: tuple[str, ...] = Field(default=(), description="Only instances with these network tags use the route.")

    @field_validator("dest_range")
    @classmethod
    def _dest(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 10.50.0.0/16") from None
        return value

    @model_validator(mode="after")
    def _one_next_hop(self) -> "RouteSpec":
        hops = [h for h in (self.next_hop_gateway, self.next_hop_ip, self.next_hop_ilb) if h is not None]
        if len(hops) != 1:
            raise ValueError(
                f"route {self.name!r} must set exactly one of next_hop_gateway, next_hop_ip, next_hop_ilb (got {len(hops)})"
            )
        return self


class NetworkSpec(BaseModel):
    """Tunables of ``ServingNetwork``; the ``[network]`` section of an environment file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subnet_cidr_base: str = Field(
        default="10.10.0.0/16",
        description="Range the per-region subnets are cut from, a /20 per region in region order. "
        "Defaults to 10.10.0.0/16 (16 regions); set subnet_cidrs to pin a region's range.",
    )
    subnet_prefix_length: int = Field(default=20, ge=8, le=29, description="Size of auto-allocated subnets. Defaults to /20 (4,096 addresses).")
    subnet_cidrs: dict[str, str] = Field(default_factory=dict, description="Explicit subnet range per region; overrides the allocation.")
    serving_port: int = Field(default=8080, ge=1, le=65535, description="Port the model servers listen on; health checks and LB traffic are admitted to it only. Defaults to 8080.")
    fleet_tag: NamePart = Field(default="model-server", description="Network tag of serving VMs; firewall rules target it. Defaults to 'model-server'.")
    flow_logs: FlowLogsSpec = Field(default_factory=FlowLogsSpec)
    iap_ssh: bool = Field(default=False, description="Admit SSH from IAP (35.235.240.0/20) to the fleet tag. Off by default: OS Login + IAP is opt-in break-glass access.")
    nat_min_ports_per_vm: int = Field(default=64, ge=2, le=65536, description="Cloud NAT ports per VM. Defaults to 64, GCP's default.")
    nat_log_filter: Literal["ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"] | None = Field(default="ERRORS_ONLY", description="Cloud NAT logging; None turns it off. Defaults to ERRORS_ONLY.")
    private_services_prefix_length: int = Field(default=20, ge=8, le=29, description="Size of the range reserved for private services access (Memorystore). Defaults to /20.")
    private_services_address: Ipv4Address | None = Field(default=None, description="Start address of that range; None lets Google pick a free one.")
    routing_mode: Literal["REGIONAL", "GLOBAL"] = Field(default="REGIONAL", description="Cloud Router dynamic routing scope. Defaults to REGIONAL.")
    mtu: int = Field(default=1460, ge=1300, le=8896, description="VPC MTU. Defaults to 1460, GCP's default.")
    routes: tuple[RouteSpec, ...] = Field(default=(), description="Custom static routes.")

    @field_validator("subnet_cidr_base")
    @classmethod
    def _base(cls, value: str) -> str:
        _private_cidr(value, "subnet_cidr_base")
        return value

    @field_validator("subnet_cidrs")
    @classmethod
    def _cidrs(cls, value: dict[str, str]) -> dict[str, str]:
        for region, cidr in value.items():
            check_region(region, f"subnet_cidrs.{region}")
            _private_cidr(cidr, f"subnet_cidrs.{region}")
        return value

    @model_validator(mode="after")
    def _unique_routes(self) -> "NetworkSpec":
        names = [route.name for route in self.routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique; repeated: {', '.join(duplicates)}")
        return self


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


class ServingNetwork(Construct):
    """Custom-mode VPC for model serving, with subnets, NAT, firewall and private services access.

    Exposes ``network``, ``subnets[region]``, ``routers[region]``, ``nats[region]``,
    ``private_services_range``, ``private_services_connection``, ``firewall_rules[name]`` and
    ``fleet_tag``. Intent method: ``allow_health_checks(port=..., ...)`` for a fleet that serves
    on another port; ``admits_health_checks(port, ...)`` answers the load balancer's cross-check.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        regions: Sequence[str],
        spec: NetworkSpec | None = None,
    ) -> None:
        super().__init__(scope, id_)
        spec = spec or NetworkSpec()
        regions = list(regions)
        if not regions:
            raise ConfigurationError("regions", regions, "at least one serving region is required")
        for index, region in enumerate(regions):
            check_region(region, f"regions[{index}]")
        repeated = sorted({r for r in regions if regions.count(r) > 1})
        if repeated:
            raise ConfigurationError("regions", regions, f"each region may be listed once; repeated: {', '.join(repeated)}")
        cidrs = plan_subnets(regions, spec)

        self.naming = naming
        self.spec = spec
        self.regions: tuple[str, ...] = tuple(regions)
        self.fleet_tag = spec.fleet_tag
        self.subnet_cidrs: dict[str, str] = cidrs
        self._health_check_rules: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []

        self.network = compute_network.ComputeNetwork(
            self, "default",
            name=naming.name("vpc"),
            description=f"Serving network of {naming.prefix} (managed by cdktf)",
            auto_create_subnetworks=False,
            routing_mode=spec.routing_mode,
            mtu=spec.mtu,
            delete_default_routes_on_create=False,
        )

        self.subnets: dict[str, compute_subnetwork.ComputeSubnetwork] = {}
        self.routers: dict[str, compute_router.ComputeRouter] = {}
        self.nats: dict[str, compute_router_nat.ComputeRouterNat] = {}
        flow = spec.flow_logs
        for region in regions:
            self.subnets[region] = compute_subnetwork.ComputeSubnetwork(
                self, f"subnet-{region}",
                name=naming.name("serving", region),
                region=region,
                network=self.network.id,
                ip_cidr_range=cidrs[region],
                private_ip_google_access=True,
                log_config=compute_subnetwork.ComputeSubnetworkLogConfig(
                    aggregation_interval=flow.aggregation_interval,
                    flow_sampling=flow.flow_sampling,
                    metadata=flow.metadata,
                ) if flow.enabled else None,
            )
            self.routers[region] = compute_router.ComputeRouter(
                self, f"router-{region}",
                name=naming.name("router", region),
                region=region,
                network=self.network.id,
            )
            self.nats[region] = compute_router_nat.ComputeRouterNat(
                self, f"nat-{region}",
                name=naming.name("nat", region),
                region=region,
                router=self.routers[region].name,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetwork=[compute_router_nat.ComputeRouterNatSubnetwork(
                    name=self.subnets[region].id,
                    source_ip_ranges_to_nat=["ALL_IP_RANGES"],
                )],
                min_ports_per_vm=spec.nat_min_ports_per_vm,
                log_config=compute_router_nat.ComputeRouterNatLogConfig(
                    enable=True, filter=spec.nat_log_filter,
                ) if spec.nat_log_filter else None,
            )

        self.firewall_rules: dict[str, compute_firewall.ComputeFirewall] = {}
        self.allow_health_checks(port=spec.serving_port, target_tags=(spec.fleet_tag,), id_="allow-health-checks")
        if spec.iap_ssh:
            self.firewall_rules["allow-iap-ssh"] = compute_firewall.ComputeFirewall(
                self, "allow-iap-ssh",
                name=naming.name("allow-iap-ssh"),
                network=self.network.id,
                description="SSH through Identity-Aware Proxy TCP forwarding only",
                direction="INGRESS",
                priority=1000,
                source_ranges=[IAP_RANGE],
                target_tags=[spec.fleet_tag],
                allow=[compute_firewall.ComputeFirewallAllow(protocol="tcp", ports=["22"])],
                log_config=compute_firewall.ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
            )

        self.private_services_range = compute_global_address.ComputeGlobalAddress(
            self, "private-services-range",
            name=naming.name("psa"),
            description="Reserved for private services access (Memorystore)",
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=spec.private_services_prefix_length,
            address=spec.private_services_address,
            network=self.network.id,
            labels=naming.common_labels(),
        )
        self.private_services_connection = service_networking_connection.ServiceNetworkingConnection(
            self, "private-services-connection",
            network=self.network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[self.private_services_range.name],
            # ABANDON: deleting the peering fails while Memorystore still uses it; on destroy the
            # peering is left for the service producer to clean up instead of blocking the run.
            deletion_policy="ABANDON",
        )

        self.routes: dict[str, compute_route.ComputeRoute] = {}
        for route in spec.routes:
            self.routes[route.name] = compute_route.ComputeRoute(
                self, f"route-{route.name}",
                name=naming.name("route", route.name),
                network=self.network.id,
                dest_range=route.dest_range,
                priority=route.priority,
                next_hop_gateway=route.next_hop_gateway,
                next_hop_ip=route.next_hop_ip,
                next_hop_ilb=route.next_hop_ilb,
                tags=list(route.tags) or None,
            )

    def allow_health_checks(
        self,
        *,
        port: int,
        target_tags: Sequence[str] = (),
        target_service_accounts: Sequence[str] = (),
        id_: str | None = None,
    ) -> compute_firewall.ComputeFirewall:
        """Admit Google's health-check and proxy ranges to ``port`` on the given targets only.

        Exactly one of ``target_tags`` / ``target_service_accounts`` must be given: a rule
        without targets would open the port on every VM of the network.
        """
        if not 1 <= port <= 65535:
            raise ConfigurationError("port", port, "must be a TCP port between 1 and 65535")
        if bool(target_tags) == bool(target_service_accounts):
            raise ConfigurationError(
                "target_tags/target_service_accounts", (tuple(target_tags), tuple(target_service_accounts)),
                "give exactly one of them, so the rule opens the port on the fleet only",
            )
        rule_id = id_ or f"allow-health-checks-{port}"
        if rule_id in self.firewall_rules:
            raise ConfigurationError("id_", rule_id, "a firewall rule with this id exists already; pass another id_")
        role = rule_id if rule_id.startswith("allow-") else f"allow-{rule_id}"
        rule = compute_firewall.ComputeFirewall(
            self, rule_id,
            name=self.naming.name(role),
            network=self.network.id,
            description=f"Google health checks and LB proxies to the serving port {port} only",
            direction="INGRESS",
            priority=1000,
            source_ranges=list(HEALTH_CHECK_RANGES),
            target_tags=list(target_tags) or None,
            target_service_accounts=list(target_service_accounts) or None,
            allow=[compute_firewall.ComputeFirewallAllow(protocol="tcp", ports=[str(port)])],
            log_config=compute_firewall.ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
        )
        self.firewall_rules[rule_id] = rule
        self._health_check_rules.append((port, tuple(target_tags), tuple(target_service_accounts)))
        return rule

    def admits_health_checks(self, port: int, *, tag: str | None = None, service_account: str | None = None) -> bool:
        """Whether a rule of this network admits the health-check ranges to ``port`` on a VM with
        ``tag`` or ``service_account`` (the load balancer's synth-time cross-check)."""
        for rule_port, tags, accounts in self._health_check_rules:
            if rule_port != port:
                continue
            if (tag is not None and tag in tags) or (service_account is not None and service_account in accounts):
                return True
        return False
