"""``ServingNetwork``: the VPC every serving deployment sits in.

A custom-mode VPC with one subnet per serving region (Private Google Access on, flow logs
configurable), a Cloud Router + Cloud NAT per region so VMs need no public IP, firewall
rules that admit only Google's health-check / proxy ranges to the serving port of the fleet,
optional IAP SSH and custom routes. Private services access (the reserved range and the
peering Memorystore needs) is created only when a consumer asks for it
(``enable_private_services()``): without a cache it would need the Service Networking API and
network-admin rights for nothing.

``NetworkReference`` is the same network seen from another stack of the app (a GKE
environment keeps the network with its cluster): deterministic ids instead of references, and
intent methods that act on the real network. Spec: ``constructs_lib.specs.network``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Sequence

from constructs import Construct

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
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import Naming
from constructs_lib.regions import check_region
from constructs_lib.specs.network import HEALTH_CHECK_RANGES, IAP_RANGE, FlowLogsSpec, NetworkSpec, plan_subnets
from constructs_lib.values import check_unique

__all__ = ["HEALTH_CHECK_RANGES", "NetworkReference", "ServingNetwork", "add_nat", "add_subnet", "check_served"]


def check_served(network: Any, regions: str | Sequence[str], field: str, *, why: str = "") -> None:
    """Fail unless every region in `regions` (one region, or a non-empty list) has a subnet of
    `network` (a ``ServingNetwork`` or ``NetworkReference``): the one error every construct that
    places resources in the network's regions gives, naming the regions it has and those it lacks."""
    single = isinstance(regions, str)
    wanted = [regions] if single else list(regions)
    outside = [region for region in wanted if region not in network.regions]
    if wanted and not outside:
        return
    message = f"must be among the network's regions ({', '.join(network.regions)})"
    if outside and not single:
        message += f"; not served: {', '.join(outside)}"
    raise ConfigurationError(field, regions if single else wanted, message + (f": {why}" if why else ""))


def add_subnet(
    scope: Construct, id_: str, *, name: str, region: str, network_id: str, cidr: str, flow_logs: FlowLogsSpec,
    secondary_ranges: dict[str, str] | None = None,
) -> compute_subnetwork.ComputeSubnetwork:
    """A subnet with Private Google Access and the network's flow-log settings (and secondary
    ranges, for a VPC-native GKE cluster)."""
    sn = compute_subnetwork
    return sn.ComputeSubnetwork(
        scope, id_,
        name=name,
        region=region,
        network=network_id,
        ip_cidr_range=cidr,
        private_ip_google_access=True,
        secondary_ip_range=[
            sn.ComputeSubnetworkSecondaryIpRange(range_name=range_name, ip_cidr_range=range_cidr)
            for range_name, range_cidr in secondary_ranges.items()
        ] if secondary_ranges else None,
        log_config=sn.ComputeSubnetworkLogConfig(
            aggregation_interval=flow_logs.aggregation_interval, flow_sampling=flow_logs.flow_sampling, metadata=flow_logs.metadata,
        ) if flow_logs.enabled else None,
    )


def add_nat(
    scope: Construct, id_: str, *, name: str, region: str, router: str, subnet_id: str, spec: NetworkSpec,
) -> compute_router_nat.ComputeRouterNat:
    """Cloud NAT on ``router`` for every range of one subnet: private VMs and nodes reach the
    internet (image registries) without public IPs."""
    nat = compute_router_nat
    return nat.ComputeRouterNat(
        scope, id_,
        name=name,
        region=region,
        router=router,
        nat_ip_allocate_option="AUTO_ONLY",
        source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
        subnetwork=[nat.ComputeRouterNatSubnetwork(name=subnet_id, source_ip_ranges_to_nat=["ALL_IP_RANGES"])],
        min_ports_per_vm=spec.nat_min_ports_per_vm,
        log_config=nat.ComputeRouterNatLogConfig(enable=True, filter=spec.nat_log_filter) if spec.nat_log_filter else None,
    )


class ServingNetwork(Construct):
    """Custom-mode VPC for model serving, with subnets, NAT and firewall.

    Exposes ``network``, ``network_id``, ``subnets[region]``, ``routers[region]``, ``nats[region]``,
    ``firewall_rules[name]``, ``fleet_tag`` and, once enabled, ``private_services_range`` and
    ``private_services_connection``. Intent methods: ``subnet_self_link(region)``,
    ``enable_private_services()`` (idempotent), ``allow_health_checks(port=..., ...)`` for a fleet
    that serves on another port; ``admits_health_checks(port, ...)`` answers the load balancer's
    cross-check.
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
        spec = spec or NetworkSpec()
        regions = list(regions)
        if not regions:
            raise ConfigurationError("regions", regions, "at least one serving region is required")
        for index, region in enumerate(regions):
            check_region(region, f"regions[{index}]")
        check_unique(regions, "regions", "region")
        cidrs = plan_subnets(regions, spec)
        # Every check (the stack's naming too) runs before the construct exists: a failed call
        # leaves nothing behind, and the id can be used again.
        apply_common_labels(scope, naming)
        super().__init__(scope, id_)

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
        for region in regions:
            self.subnets[region] = add_subnet(
                self, f"subnet-{region}", name=naming.name("serving", region), region=region,
                network_id=self.network.id, cidr=cidrs[region], flow_logs=spec.flow_logs,
            )
            self.routers[region] = compute_router.ComputeRouter(
                self, f"router-{region}",
                name=naming.name("router", region),
                region=region,
                network=self.network.id,
            )
            self.nats[region] = add_nat(
                self, f"nat-{region}", name=naming.name("nat", region), region=region,
                router=self.routers[region].name, subnet_id=self.subnets[region].id, spec=spec,
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

        self.private_services_range: compute_global_address.ComputeGlobalAddress | None = None
        self.private_services_connection: service_networking_connection.ServiceNetworkingConnection | None = None

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

    @property
    def network_id(self) -> str:
        """The VPC's id (what subnets, firewall rules and Memorystore's authorized_network take)."""
        return self.network.id

    def subnet_self_link(self, region: str) -> str:
        """Self link of the serving subnet of ``region``."""
        check_served(self, region, "region")
        return self.subnets[region].self_link

    def subnet_id(self, region: str) -> str:
        """Id of the serving subnet of ``region`` (``projects/<p>/regions/<r>/subnetworks/<name>``)."""
        self.subnet_self_link(region)
        return self.subnets[region].id

    @property
    def private_services_range_name(self) -> str:
        """Name of the range reserved for private services access (``<app>-<env>-psa``): a reference
        to the range once ``enable_private_services()`` created it."""
        if self.private_services_range is not None:
            return self.private_services_range.name
        return self.naming.name("psa")

    def enable_private_services(self) -> Any:
        """The reserved range and the Service Networking peering that Memorystore (private services
        access) needs, created on first call; returns the connection (what a consumer depends on).
        A pinned ``private_services_address`` must not overlap a serving subnet (the peering would
        fail at apply)."""
        if self.private_services_connection is None:
            address = self.spec.private_services_address
            if address is not None:
                reserved = ipaddress.ip_network(f"{address}/{self.spec.private_services_prefix_length}", strict=False)
                for region, cidr in self.subnet_cidrs.items():
                    if reserved.overlaps(ipaddress.ip_network(cidr)):
                        raise ConfigurationError(
                            "network.private_services_address", f"{address}/{self.spec.private_services_prefix_length}",
                            f"overlaps the subnet of {region} ({cidr}); pick a range outside the serving subnets",
                        )
            self.private_services_range = compute_global_address.ComputeGlobalAddress(
                self, "private-services-range",
                name=self.naming.name("psa"),
                description="Reserved for private services access (Memorystore)",
                purpose="VPC_PEERING",
                address_type="INTERNAL",
                prefix_length=self.spec.private_services_prefix_length,
                address=self.spec.private_services_address,
                network=self.network.id,
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
        return self.private_services_connection

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


@dataclass
class NetworkReference:
    """A ``ServingNetwork`` of another stack of the same app, as the stacks that use it see it:
    ids built from the deterministic names (``projects/<p>/global/networks/<app>-<env>-vpc``)
    instead of references, so no state is read across stacks. Intent methods act on the network
    itself (a firewall rule or a peering belongs with its network); the stack that uses the
    reference must ``add_dependency`` on the network's stack."""

    network: ServingNetwork
    project_id: str

    @property
    def naming(self) -> Naming:
        return self.network.naming

    @property
    def spec(self) -> NetworkSpec:
        return self.network.spec

    @property
    def regions(self) -> tuple[str, ...]:
        return self.network.regions

    @property
    def fleet_tag(self) -> str:
        return self.network.fleet_tag

    @property
    def network_id(self) -> str:
        return f"projects/{self.project_id}/global/networks/{self.naming.name('vpc')}"

    def subnet_self_link(self, region: str) -> str:
        self.network.subnet_self_link(region)
        return f"projects/{self.project_id}/regions/{region}/subnetworks/{self.naming.name('serving', region)}"

    def subnet_id(self, region: str) -> str:
        return self.subnet_self_link(region)

    @property
    def private_services_range_name(self) -> str:
        return self.naming.name("psa")

    def enable_private_services(self) -> None:
        """Private services access on the network's own stack; nothing to depend on here (the
        stack dependency orders it)."""
        self.network.enable_private_services()

    def admits_health_checks(self, port: int, *, tag: str | None = None, service_account: str | None = None) -> bool:
        return self.network.admits_health_checks(port, tag=tag, service_account=service_account)

    def allow_health_checks(self, **options: Any) -> Any:
        return self.network.allow_health_checks(**options)
