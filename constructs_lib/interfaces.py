"""What constructs hand each other: small public protocols and value types.

Constructs collaborate through these, never through ``isinstance`` checks on each other's
classes or private attributes, so every module stays one concern and users can bring their own
pieces:

* ``Grantee``: an identity that can be granted access (a model's fleet or workload, a service
  identity). ``ModelStore.grant_read(grantee)`` and ``InferenceCache.grant_connect(grantee)``
  take one and return a ``Grant``.
* ``BackendTarget``: what a backend service sends traffic to (a region's instance group, a
  model's NEGs). It binds itself: it renders its own backend blocks, says which port the
  health checks probe and whether a firewall admits them, and what the backend service must
  wait for.
* ``ScalableTarget``: what an autoscaler sizes (a region's managed instance group).
* ``CacheConnection`` and ``ModelSource``: what a model server is told about the cache and
  its model files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

BackendKind = Literal["instance-group", "network-endpoint-group"]


@runtime_checkable
class Grantee(Protocol):
    """An identity that can be granted access: ``iam_member`` is ``serviceAccount:<email>`` (or a
    token resolving to it)."""

    @property
    def iam_member(self) -> str: ...


@dataclass(frozen=True)
class Grant:
    """What a ``grant_*`` call created: the ``member`` granted, the ``roles``, a short description
    of the ``target`` and the IAM ``resources`` (what a workload can ``depends_on``)."""

    member: str
    roles: tuple[str, ...]
    target: str
    resources: tuple[Any, ...]


@runtime_checkable
class BackendTarget(Protocol):
    """Something a backend service sends traffic to, which binds itself to the backend."""

    @property
    def backend_kind(self) -> BackendKind:
        """One backend service takes one kind (the API rejects a mix)."""

    @property
    def port(self) -> int:
        """The serving port (health checks with ``USE_SERVING_PORT`` probe it)."""

    @property
    def port_name(self) -> str:
        """The backend service's ``port_name`` (the instance groups' named port)."""

    @property
    def location(self) -> str:
        """Where the target is (a region or a cluster), for messages."""

    def backend_blocks(self, spec: Any, field: str) -> list[Any]:
        """The ``backend`` blocks of a backend service with ``spec`` (a ``BackendServiceSpec``);
        raises ``ConfigurationError`` naming ``field`` when the spec does not fit the target."""

    def admits_health_checks(self, port: int) -> bool:
        """Whether a firewall rule admits Google's health-check ranges to ``port`` on the target."""

    @property
    def dependencies(self) -> Sequence[Any]:
        """Resources the backend service must be created after (GKE: the Service and Deployment)."""


@runtime_checkable
class ScalableTarget(Protocol):
    """A managed instance group an autoscaler sizes."""

    @property
    def group_manager_id(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def name(self) -> str:
        """The group's name (the autoscaler is named ``<name>-as``)."""

    @property
    def startup_timeout_sec(self) -> int:
        """How long a new VM takes to serve (the autoscaler's default warm-up)."""

    def attach_autoscaler(self, autoscaler: Any) -> None:
        """Record the autoscaler (a group takes one; a second raises ``ConfigurationError``)."""


@dataclass(frozen=True)
class CacheConnection:
    """How a model server reaches its regional inference cache: Secret Manager references it
    reads at start, never the values (they would land in instance metadata or a pod spec).

    ``endpoint_secret`` names the latest version of a secret holding
    ``{"host": ..., "port": ..., "read_host": ...}`` (JSON), ``auth_secret`` the AUTH string,
    ``ca_secret`` the server CA bundle (``projects/<p>/secrets/<name>/versions/latest``). A server
    refers to secrets, not to the cache itself, so replacing the cache never has to replace an
    instance template first (create-before-destroy would reach the cache through such a
    reference and create a second cache under the same name, which the API refuses).
    """

    endpoint_secret: str
    tls: bool = False
    auth_secret: str | None = None
    ca_secret: str | None = None


@dataclass(frozen=True)
class ModelSource:
    """Where a model server loads its model files from (``gs://bucket/path``)."""

    uri: str
    bucket: str
