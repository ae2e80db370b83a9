"""Small fake backends for the edge tests: ``interfaces.BackendTarget`` implementations that render
their blocks with the library's own ``instance_group_backend`` / ``endpoint_group_backends`` (the
tests never import the VM fleet or GKE modules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs_lib.edge.backends import endpoint_group_backends, instance_group_backend
from constructs_lib.interfaces import BackendKind
from constructs_lib.network import ServingNetwork

PROJECT = "test-project-123"


def group_url(name: str, region: str = "europe-west1") -> str:
    """The self link of a regional managed instance group called ``name``."""
    return f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/{region}/instanceGroups/{name}"


@dataclass(frozen=True, eq=False)
class FakeInstanceGroup:
    """A regional MIG as a ``BackendTarget``: its URL, named port and network tag. With a
    ``network`` the health-check cross-check asks that network whether a firewall rule admits the
    probes to its tag; without one it admits every port (no firewall to check)."""

    instance_group: str = group_url("ml-test-fleet")
    port_name: str = "http"
    port: int = 8080
    region: str = "europe-west1"
    network_tag: str = "model-server"
    network: ServingNetwork | None = None
    backend_kind: BackendKind = "instance-group"
    dependencies: tuple[Any, ...] = ()

    @property
    def location(self) -> str:
        return self.region

    def backend_blocks(self, spec: Any, field: str) -> list[Any]:
        return [instance_group_backend(self.instance_group, spec, field)]

    def admits_health_checks(self, port: int) -> bool:
        return self.network is None or self.network.admits_health_checks(port, tag=self.network_tag)


DEFAULT_NEG_RATE = 10.0
"""Requests/s per endpoint the fake NEGs fall back to (like a GKE workload's default)."""


@dataclass(eq=False)
class FakeNegs:
    """Zonal NEGs of a GKE Service as a ``BackendTarget``: RATE balancing at ``default_rate`` unless
    the spec sets ``max_rate_per_endpoint``; ``dependencies`` (what the backend service must wait
    for) can be set; ``admitted_ports`` None admits health checks on every port."""

    network_endpoint_groups: tuple[str, ...] = (
        f"projects/{PROJECT}/zones/europe-west1-b/networkEndpointGroups/model",
        f"projects/{PROJECT}/zones/europe-west1-c/networkEndpointGroups/model",
    )
    port: int = 8080
    port_name: str = "http"
    default_rate: float = DEFAULT_NEG_RATE
    dependencies: tuple[Any, ...] = ()
    admitted_ports: tuple[int, ...] | None = None
    backend_kind: BackendKind = "network-endpoint-group"

    @property
    def location(self) -> str:
        return "cluster ml-test-gke"

    def backend_blocks(self, spec: Any, field: str) -> list[Any]:
        return endpoint_group_backends(self.network_endpoint_groups, spec, field, self.default_rate)

    def admits_health_checks(self, port: int) -> bool:
        return self.admitted_ports is None or port in self.admitted_ports


def group(name: str, region: str = "europe-west1", **kwargs: Any) -> FakeInstanceGroup:
    """A fake MIG called ``name`` in ``region``."""
    return FakeInstanceGroup(instance_group=group_url(name, region), region=region, **kwargs)
