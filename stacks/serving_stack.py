"""``ServingStack``: one environment file's serving deployment, for every runtime.

provider + state backend -> ``ModelServing`` (network, model bucket, per-region inference cache,
Cloud Armor, global load balancer, one runtime per model: VM fleets or a GKE workload, routes,
outputs) -> static content. An environment with GKE models gets the companion stack
``<stack>-cluster`` (network and cluster), created by the GKE runtime with the same state
convention; ``cdktf deploy '*'`` applies it first.
"""

from __future__ import annotations

from cdktf import TerraformStack
from constructs import Construct

from constructs_lib.naming import Naming
from constructs_lib.providers import google_provider
from constructs_lib.serving import ModelServing
from stacks.config import EnvironmentConfig
from stacks.state import configure_state_backend

SERVING_ID = "Default"
"""``ModelServing`` is the stack's default child: cdktf leaves ``Default`` out of Terraform
addresses, so ``network``, ``lb``, ``model-<name>``... keep the addresses of deployed stacks."""


class ServingStack(TerraformStack):
    """The serving deployment of one environment file. Exposes ``config``, ``naming``,
    ``serving`` (the ``ModelServing``) and ``stacks`` (the cluster stack, if any, then this one,
    in deploy order)."""

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        self.naming = naming = Naming(app=config.app, env=config.name, labels=config.labels)
        google_provider(self, project_id=config.project_id, region=config.regions[0])
        self._state(self)
        self.serving = ModelServing(
            self, SERVING_ID,
            naming=naming, project_id=config.project_id, regions=config.regions, models=config.models,
            network=config.network, model_store=config.model_store,
            cache=config.cache.spec() if config.cache.enabled else None,
            cloud_armor=config.cloud_armor.spec() if config.cloud_armor.enabled else None,
            load_balancer=config.load_balancer, gke_cluster=config.gke.cluster, cluster_stack_setup=self._state,
            observability=config.effective_observability,
        )
        static = config.static_content
        if static is not None:
            self.serving.load_balancer.add_backend_bucket(
                "static", static.bucket_name, paths=list(static.paths), enable_cdn=static.enable_cdn, grant_reader=static.grant_reader,
            )
        self.stacks: tuple[TerraformStack, ...] = (*((self.serving.cluster_stack,) if self.serving.cluster_stack else ()), self)

    def _state(self, stack: TerraformStack) -> None:
        """Local state in ``state/<stack>.tfstate``, or Cloud Storage: the serving stack of a VM-only
        environment under ``prefix`` (default ``terraform/<stack>``); with a cluster stack, each
        stack under ``<prefix>/<stack>`` (default ``terraform/<stack>``), as deployed so far."""
        backend = self.config.backend
        prefix = getattr(backend, "prefix", None)
        if prefix and self.config.uses_gke:
            prefix = f"{prefix.rstrip('/')}/{stack.node.id}"
        configure_state_backend(stack, backend, gcs_prefix=prefix or f"terraform/{stack.node.id}")
