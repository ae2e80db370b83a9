"""``MlServingStack``: one environment's serving deployment as one cdktf stack.

network -> model store -> per-region inference cache -> Cloud Armor -> global load balancer
-> one ``ModelService`` per model (identity, fleet + autoscaler per region, backend service)
-> routes (a canary takes its share of the stable model's routes) -> outputs.
"""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib._google import provider as google_provider
from constructs_lib.cache import InferenceCache
from constructs_lib.load_balancer import GlobalLoadBalancer
from constructs_lib.model_service import ModelService
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from constructs_lib.security import CloudArmorPolicy
from stacks.config import EnvironmentConfig
from stacks.state import configure_state_backend


class MlServingStack(TerraformStack):
    """The serving deployment of one environment file.

    Construct IDs here are the Terraform addresses of a deployed environment: keep them stable
    (``network``, ``models``, ``cache``, ``cloud-armor``, ``lb``, ``model-<name>``).
    """

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        self.naming = naming = Naming(app=config.app, env=config.name, labels=config.labels)

        google_provider.GoogleProvider(
            self, "google",
            project=config.project_id,
            region=config.regions[0],
            # The provider's own attribution label would differ from our managed-by label.
            add_terraform_attribution_label=False,
        )
        configure_state_backend(
            self, config.backend, gcs_prefix=getattr(config.backend, "prefix", None) or f"terraform/{config.stack_name}",
        )

        self.network = ServingNetwork(self, "network", naming=naming, regions=config.regions, spec=config.network)
        self.model_store = ModelStore(self, "models", naming=naming, spec=config.model_store)
        self.cache = (
            InferenceCache(self, "cache", network=self.network, naming=naming, spec=config.cache.spec())
            if config.cache.enabled else None
        )
        self.cloud_armor = (
            CloudArmorPolicy(self, "cloud-armor", naming=naming, spec=config.cloud_armor.spec())
            if config.cloud_armor.enabled else None
        )
        self.load_balancer = GlobalLoadBalancer(
            self, "lb", naming=naming, network=self.network, spec=config.load_balancer,
        )
        self.models = {
            spec.name: ModelService(
                self, f"model-{spec.name}",
                network=self.network, load_balancer=self.load_balancer, spec=spec,
                model_store=self.model_store, cache=self.cache, security_policy=self.cloud_armor,
            )
            for spec in config.models
        }
        self._route_models()
        if config.static_content is not None:
            static = config.static_content
            self.load_balancer.add_backend_bucket(
                "static", static.bucket_name, paths=list(static.paths), enable_cdn=static.enable_cdn,
            )
        self._add_outputs()

    def _route_models(self) -> None:
        """Each stable model's paths go to its backend, split with its canaries when it has any."""
        for name, service in self.models.items():
            if service.spec.canary_of is not None:
                continue
            canaries = [m for m in self.models.values() if m.spec.canary_of == name]
            if not canaries:
                service.route()
                continue
            weights = {c.backend: c.spec.canary_weight for c in canaries}
            weights = {service.backend: 100 - sum(weights.values()), **weights}
            self.load_balancer.add_canary_route(list(service.spec.route_paths), weights)

    def _add_outputs(self) -> None:
        self.load_balancer.add_outputs()
        TerraformOutput(self, "model_bucket", value=self.model_store.url, description="Cloud Storage URL of the model bucket")
        TerraformOutput(
            self, "fleet_service_accounts", description="Service account email per model",
            value={name: service.service_account_email for name, service in self.models.items()},
        )
        TerraformOutput(self, "network_self_link", value=self.network.network.self_link, description="Self link of the serving VPC")
        if self.cache is not None:
            self.cache.add_outputs(self)
