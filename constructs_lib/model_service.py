"""``ModelService``: one model served from every region it runs in, behind the load balancer.

The composition a serving stack repeats for each model: one service account for the model,
read access to its files in the model store and to the regional cache's secrets, a fleet +
autoscaler per region, and one backend service over the regional instance groups. Routes are
left to the caller (``route()`` for the usual case) because a canary split spans two models.
"""

from __future__ import annotations

from typing import Sequence

from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib.autoscaling import AutoscalingSpec, FleetAutoscaler
from constructs_lib.backends import BackendServiceSpec, ModelBackend
from constructs_lib.cache import InferenceCache
from constructs_lib.compute import FleetIdentity, FleetSpec, ModelServerFleet
from constructs_lib.errors import ConfigurationError
from constructs_lib.load_balancer import GlobalLoadBalancer
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import NamePart
from constructs_lib.network import ServingNetwork
from constructs_lib.regions import Region
from constructs_lib.security import CloudArmorPolicy
from constructs_lib.url_map import RoutePath

MAX_MODEL_NAME = 20
"""Model names end up inside VM, MIG, health-check and backend names next to <app>-<env>- and
the region: 20 characters keep every derived name inside GCP's 63."""


class ModelServiceSpec(BaseModel):
    """One served model: what it runs, where, how it scales and how it is reached.

    Only ``name`` and ``fleet`` (with a container or a startup script) have no default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(description=f"Model name: part of every resource name and of the default route. At most {MAX_MODEL_NAME} characters.")
    model_path: str | None = Field(default=None, description="Object prefix of the model files in the model store. Defaults to the model name.")
    regions: tuple[Region, ...] = Field(default=(), description="Regions serving this model. Defaults to every region of the deployment.")
    routes: tuple[RoutePath, ...] = Field(default=(), description="URL paths routed to the model. Defaults to /v1/models/<name> and /v1/models/<name>/*.")
    fleet: FleetSpec = Field(description="Machine, image or startup script, GPUs and rollout of the model's VMs.")
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec, description="Defaults to 1..10 VMs per region on CPU 0.6.")
    backend: BackendServiceSpec = Field(default_factory=BackendServiceSpec, description="Backend service: timeout, CDN, affinity, logging.")
    use_cache: bool = Field(default=True, description="Give the servers the regional cache's address and secrets. Defaults to on when the deployment has a cache.")
    cloud_armor: bool = Field(default=True, description="Attach the deployment's Cloud Armor policy, when it has one. Defaults to on.")
    canary_of: str | None = Field(default=None, description="Serve this model as a canary of another model: it takes canary_weight % of that model's routes and has no routes of its own.")
    canary_weight: int = Field(default=10, ge=1, le=99, description="Percent of the stable model's traffic for the canary, 1..99. Defaults to 10.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > MAX_MODEL_NAME:
            raise ValueError(f"must be at most {MAX_MODEL_NAME} characters (has {len(value)}): it is part of every resource name")
        return value

    @field_validator("model_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip("/") or value.startswith("/") or ".." in value.split("/")):
            raise ValueError("must be a relative object prefix such as resnet/v3 (no leading /, no ..)")
        return value

    @model_validator(mode="after")
    def _canary_has_no_routes(self) -> "ModelServiceSpec":
        if self.canary_of is not None and self.routes:
            raise ValueError(f"model {self.name!r} is a canary of {self.canary_of!r}: it shares that model's routes, so leave routes empty")
        if self.canary_of == self.name:
            raise ValueError(f"model {self.name!r} cannot be a canary of itself")
        return self

    @property
    def route_paths(self) -> tuple[str, ...]:
        """``routes`` or the default ``/v1/models/<name>`` and ``/v1/models/<name>/*``."""
        return self.routes or (f"/v1/models/{self.name}", f"/v1/models/{self.name}/*")


class ModelService(Construct):
    """A model's identity, regional fleets with autoscalers, and its backend service.

    Exposes ``identity``, ``fleets[region]``, ``autoscalers[region]``, ``backend`` (the load
    balancer's ``ModelBackend``) and ``service_account_email``. Construct ids below it are
    ``identity``, ``fleet-<region>``, ``autoscaler-<region>``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: ServingNetwork,
        load_balancer: GlobalLoadBalancer,
        spec: ModelServiceSpec,
        model_store: ModelStore | None = None,
        cache: InferenceCache | None = None,
        security_policy: CloudArmorPolicy | None = None,
    ) -> None:
        super().__init__(scope, id_)
        naming = network.naming
        regions = self._regions(spec, network)
        self.spec = spec
        self.identity = FleetIdentity(
            self, "identity", naming=naming, model=spec.name, roles=spec.fleet.roles, account_id=spec.fleet.account_id,
        )
        self.service_account_email = self.identity.email
        use_cache = cache is not None and spec.use_cache
        source = None
        if model_store is not None:
            model_store.grant_read(self.identity.member, id_=f"read-{spec.name}")
            source = model_store.model_uri(spec.model_path or spec.name)
        if use_cache:
            cache.grant_connect(self.identity.member, id_=spec.name)

        self.fleets: dict[str, ModelServerFleet] = {}
        self.autoscalers: dict[str, FleetAutoscaler] = {}
        for region in regions:
            fleet = ModelServerFleet(
                self, f"fleet-{region}",
                network=network, naming=naming, region=region, model=spec.name, spec=spec.fleet,
                model_source=source, cache=cache.connection(region) if use_cache else None,
                service_account=self.identity,
            )
            self.fleets[region] = fleet
            if spec.fleet.target_size is None:
                self.autoscalers[region] = FleetAutoscaler(
                    self, f"autoscaler-{region}", fleet=fleet, naming=naming, spec=spec.autoscaling,
                )
        self.backend: ModelBackend = load_balancer.add_backend_service(
            spec.name,
            targets=list(self.fleets.values()),
            spec=spec.backend,
            security_policy=security_policy if spec.cloud_armor else None,
        )
        self._load_balancer = load_balancer

    @staticmethod
    def _regions(spec: ModelServiceSpec, network: ServingNetwork) -> Sequence[str]:
        regions = spec.regions or network.regions
        outside = [r for r in regions if r not in network.regions]
        if outside:
            raise ConfigurationError(
                f"models[{spec.name}].regions", list(regions),
                f"must be regions of the network ({', '.join(network.regions)}); not served: {', '.join(outside)}",
            )
        return regions

    def route(self) -> None:
        """Route the model's paths (``spec.route_paths``) to its backend service."""
        self._load_balancer.add_model_route(list(self.spec.route_paths), self.backend)
