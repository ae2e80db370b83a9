"""What constructs hand to each other, as small typed contracts.

The load balancer does not import the fleet or the GKE module; it accepts anything that has
the attributes of ``InstanceGroupTarget`` or ``NetworkEndpointGroupTarget``. The fleet accepts
any ``CacheConnection`` / ``ModelSource``. This keeps the modules one concern each and lets
users bring their own backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable


@runtime_checkable
class InstanceGroupTarget(Protocol):
    """A regional managed instance group that a backend service can send traffic to."""

    @property
    def instance_group(self) -> str:
        """The MIG's ``instance_group`` URL (a Terraform token)."""

    @property
    def port_name(self) -> str:
        """The named port the MIG exposes (the backend service's ``port_name``)."""

    @property
    def port(self) -> int:
        """The serving port behind ``port_name``."""

    @property
    def region(self) -> str: ...

    @property
    def network_tag(self) -> str:
        """Network tag on the group's VMs (what health-check firewall rules target)."""


@runtime_checkable
class NetworkEndpointGroupTarget(Protocol):
    """Zonal network endpoint groups (GKE container-native load balancing)."""

    @property
    def network_endpoint_groups(self) -> Sequence[str]:
        """NEG self links or ids (Terraform tokens), one per zone."""

    @property
    def port(self) -> int:
        """The container port the endpoints serve on (health checks go there)."""


@dataclass(frozen=True)
class CacheConnection:
    """How a model server reaches its regional inference cache.

    ``auth_secret`` is the Secret Manager secret *version* id holding the AUTH string (never
    the string itself: it would land in instance metadata); ``ca_secret`` likewise for the
    server CA when TLS is on.
    """

    host: str
    port: str
    auth_secret: str | None = None
    tls: bool = False
    ca_secret: str | None = None
    read_host: str | None = None


@dataclass(frozen=True)
class ModelSource:
    """Where a model server loads its model files from (``gs://bucket/path``)."""

    uri: str
    bucket: str
