"""Small fake backends for the load balancer tests (they satisfy the interfaces' protocols;
the tests never import the fleet or GKE modules)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FakeInstanceGroup:
    """An ``InstanceGroupTarget``: a regional MIG URL with its named port and network tag."""

    instance_group: str = "https://www.googleapis.com/compute/v1/projects/test-project-123/regions/europe-west1/instanceGroups/ml-test-fleet"
    port_name: str = "http"
    port: int = 8080
    region: str = "europe-west1"
    network_tag: str = "model-server"


@dataclass(frozen=True)
class FakeNegs:
    """A ``NetworkEndpointGroupTarget``: zonal NEGs of a GKE Service."""

    network_endpoint_groups: tuple[str, ...] = (
        "projects/test-project-123/zones/europe-west1-b/networkEndpointGroups/model",
        "projects/test-project-123/zones/europe-west1-c/networkEndpointGroups/model",
    )
    port: int = 8080


def group(name: str, region: str = "europe-west1", **kwargs) -> FakeInstanceGroup:  # noqa: ANN003
    """A fake MIG called ``name`` in ``region``."""
    url = f"https://www.googleapis.com/compute/v1/projects/test-project-123/regions/{region}/instanceGroups/{name}"
    return FakeInstanceGroup(instance_group=url, region=region, **kwargs)
