"""``ModelServing``: models behind one global load balancer, in one statement, whatever runs them.

The pattern construct of the library (aws-cdk's ApplicationLoadBalancedFargateService shape):

    ModelServing(stack, "Default", naming=Naming(app="ml", env="prod"), project_id="my-project",
                 regions=["us-central1"], models=[ModelSpec(name="resnet", image="...")])

stands up, per model, its runtime (``VmModel``: an identity and a fleet + autoscaler per region;
or ``ModelWorkload`` on the environment's GKE cluster), read access to its files, access to the
regional cache, a backend service with health check, and routes (``/v1/models/<name>[/*]``, a
canary's weighted share of its stable model's routes); and once per stack, when none is given,
the network, the model bucket and the load balancer (found in the stack if another
``ModelServing`` created them already). Pass a construct to share one, or a spec to tune the one
that is created. GKE models put the network and cluster into a companion stack
``<stack>-cluster`` that this stack depends on.

Construct ids below it are the Terraform addresses of deployed environments: ``network``,
``models``, ``cache``, ``cloud-armor``, ``lb``, ``kubernetes``, ``model-<name>`` (VM models),
``workload-<name>`` (GKE models), ``observability`` (SLOs, alerts, dashboard; with ``observability``). The environment stacks create it as ``"Default"``, an id cdktf
leaves out of addresses, so these are addresses at the stack's root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib.cache import InferenceCache
from constructs_lib.edge.backends import ModelBackend
from constructs_lib.edge.load_balancer import GlobalLoadBalancer
from constructs_lib.edge.security import CloudArmorPolicy
from constructs_lib.errors import ConfigurationError
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import Naming
from constructs_lib.network import NetworkReference, ServingNetwork
from constructs_lib.specs.cache import CacheSpec
from constructs_lib.specs.gke import GkeClusterSpec
from constructs_lib.specs.load_balancer import LoadBalancerSpec
from constructs_lib.specs.model import ModelSpec, check_models
from constructs_lib.specs.model_store import ModelStoreSpec
from constructs_lib.specs.network import NetworkSpec
from constructs_lib.specs.observability import ObservabilitySpec
from constructs_lib.specs.security import CloudArmorSpec
from constructs_lib.vm.model import VmModel

if TYPE_CHECKING:  # the GKE runtime loads the kubernetes bindings: imported only when a model runs on GKE
    from constructs_lib.gke.cluster_stack import GkeClusterStack, StackSetup
    from constructs_lib.gke.workload import ModelWorkload

T = TypeVar("T", bound=Construct)


def _find_or_create(stack: TerraformStack, kind: type[T], given: Any, create: Callable[[Any], T]) -> T:
    """``given`` when it is a construct of ``kind``; else the stack's existing one; else a new one
    from ``given`` (a spec or None)."""
    if isinstance(given, kind):
        return given
    existing = [c for c in stack.node.find_all() if isinstance(c, kind)]
    if existing and given is None:
        return existing[0]
    return create(given)


class ModelServing(Construct):
    """Models behind one global load balancer (see the module docstring).

    Public attributes: ``naming``, ``network`` (the ``ServingNetwork``, or a ``NetworkReference``
    when GKE models moved it into the cluster stack), ``model_store``, ``cache``, ``cloud_armor``,
    ``load_balancer``, ``cluster_stack`` and ``cluster`` (with GKE models), ``runtimes`` (model
    name -> ``VmModel`` / ``ModelWorkload``), ``backends`` (model name -> ``ModelBackend``),
    ``observability`` (``ServingObservability`` or None). Intent methods: ``add_outputs()`` (called
    unless ``add_outputs=False``), ``add_observability(spec)`` (called when given ``observability``).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        project_id: str,
        regions: Sequence[str],
        models: Sequence[ModelSpec],
        network: ServingNetwork | NetworkSpec | None = None,
        model_store: ModelStore | ModelStoreSpec | None = None,
        cache: InferenceCache | CacheSpec | None = None,
        cloud_armor: CloudArmorPolicy | CloudArmorSpec | None = None,
        load_balancer: GlobalLoadBalancer | LoadBalancerSpec | None = None,
        gke_cluster: GkeClusterSpec | None = None,
        cluster_stack_setup: StackSetup | None = None,
        observability: ObservabilitySpec | None = None,
        route: bool = True,
        add_outputs: bool = True,
    ) -> None:
        models = list(models)
        regions = list(regions)
        check_models(models, regions)
        has_gke = any(m.runtime == "gke" for m in models)
        if has_gke and isinstance(network, ServingNetwork):
            raise ConfigurationError(
                "network", network.node.path,
                "GKE models keep the network with their cluster in the <stack>-cluster stack: pass a NetworkSpec or nothing",
            )
        super().__init__(scope, id_)
        stack = TerraformStack.of(self)
        self.naming = naming
        self.project_id = project_id
        self.regions = tuple(regions)
        self.models = tuple(models)
        self.cluster_stack: GkeClusterStack | None = None
        self.cluster = None
        if has_gke:
            self._cluster_stack(stack, regions, network, gke_cluster, cluster_stack_setup)
        else:
            self.network = _find_or_create(
                stack, ServingNetwork, network,
                lambda spec: ServingNetwork(self, "network", naming=naming, regions=regions, spec=spec),
            )
        self.model_store = _find_or_create(
            stack, ModelStore, model_store,
            lambda spec: ModelStore(self, "models", naming=naming, project_id=project_id, spec=spec),
        )
        self.cache = cache if isinstance(cache, InferenceCache) or cache is None else InferenceCache(
            self, "cache", network=self.network, naming=naming, spec=cache,
        )
        self.cloud_armor = cloud_armor if isinstance(cloud_armor, CloudArmorPolicy) or cloud_armor is None else CloudArmorPolicy(
            self, "cloud-armor", naming=naming, spec=cloud_armor,
        )
        self.load_balancer = _find_or_create(
            stack, GlobalLoadBalancer, load_balancer, lambda spec: GlobalLoadBalancer(self, "lb", naming=naming, spec=spec),
        )
        self.runtimes: dict[str, VmModel | ModelWorkload] = {}
        self.backends: dict[str, ModelBackend] = {}
        namespaces: dict[str, Any] = {}
        for model in models:
            if model.runtime == "gke":
                runtime: VmModel | ModelWorkload = self._workload(model, namespaces)
            else:
                runtime = VmModel(
                    self, f"model-{model.name}", network=self.network, naming=naming, model=model,
                    regions=model.regions or regions, model_store=self.model_store, cache=self.cache,
                )
            self.runtimes[model.name] = runtime
            self.backends[model.name] = self.load_balancer.add_backend_service(
                model.name, targets=runtime.backend_targets, spec=model.backend, health_path=model.health_path,
                security_policy=self.cloud_armor if model.cloud_armor else None,
            )
            # /healthz/<model> -> the model's health path: what uptime checks through the load balancer probe.
            self.load_balancer.add_health_route(self.backends[model.name])
        if route:
            self.route_models()
        self.observability = None
        if observability is not None and observability.enabled is not False:
            self.add_observability(observability)
        if add_outputs:
            self.add_outputs()

    def add_observability(self, spec: ObservabilitySpec) -> Any:
        """SLOs, alerts, uptime checks through the health routes and the dashboard of every model
        and the cache (``ServingObservability`` at ``observability``). The constructor calls it
        when given an ``observability`` spec that is not disabled."""
        from constructs_lib.observability import ServingObservability, observed_models

        self.observability = ServingObservability(
            self, "observability", naming=self.naming, project_id=self.project_id, spec=spec,
            load_balancer=self.load_balancer, models=observed_models(self), cache=self.cache,
        )
        return self.observability

    # -- GKE runtime ----------------------------------------------------------------------------

    def _cluster_stack(
        self, stack: TerraformStack, regions: list[str], network: Any, spec: GkeClusterSpec | None, setup: StackSetup | None,
    ) -> None:
        from constructs_lib.gke.access import ClusterAccess
        from constructs_lib.gke.cluster_stack import GkeClusterStack

        region = regions[0]
        self.cluster_stack = GkeClusterStack(
            stack.node.scope, f"{stack.node.id}-cluster",  # type: ignore[arg-type]
            project_id=self.project_id, region=region, regions=regions, naming=self.naming,
            network=network, cluster=spec, setup=setup,
        )
        stack.add_dependency(self.cluster_stack)
        self.cluster = self.cluster_stack.cluster
        self.network = NetworkReference(self.cluster_stack.network, self.project_id)
        ClusterAccess(self, "kubernetes", cluster=self.cluster, source="data")

    def _workload(self, model: ModelSpec, namespaces: dict[str, Any]) -> ModelWorkload:
        from constructs_lib.gke.workload import ModelWorkload

        cluster = self.cluster
        assert cluster is not None
        field = f"models[{model.name}]"
        if model.regions and list(model.regions) != [cluster.region]:
            raise ConfigurationError(f"{field}.regions", list(model.regions), f"a GKE model runs in the cluster's region ({cluster.region})")
        pool = _node_pool(cluster, model, field)
        check = model.backend.health_check
        if check.request_path is not None and check.request_path != model.health_path and check.protocol != "GRPC":
            raise ConfigurationError(
                f"{field}.backend.health_check.request_path", check.request_path,
                f"must be the model's health_path ({model.health_path}): the load balancer probes the pods directly",
            )
        use_cache = self.cache is not None and model.use_cache
        workload = ModelWorkload(
            self, f"workload-{model.name}",
            cluster=cluster, pool=pool, naming=self.naming, model_store=self.model_store, model=model,
            cache=self.cache.connection(cluster.region) if use_cache else None,  # type: ignore[union-attr]
            # Models sharing a namespace: the first one creates it, the others reference it.
            namespace=namespaces.get(model.gke.namespace),
        )
        if check.port is not None and check.port != workload.port:
            raise ConfigurationError(
                f"{field}.backend.health_check.port", check.port,
                f"must be the model's port ({workload.port}) or None (the firewall admits probes to that port only)",
            )
        if use_cache:
            self.cache.grant_connect(workload, id_=model.name)  # type: ignore[union-attr]
        if workload.namespace_resource is not None:
            namespaces[model.gke.namespace] = workload.namespace_resource
        return workload

    # -- routes and outputs -----------------------------------------------------------------------

    def route_models(self) -> None:
        """Each stable model's paths go to its backend, split with its canaries when it has any."""
        for model in self.models:
            if model.canary_of is not None:
                continue
            canaries = [m for m in self.models if m.canary_of == model.name]
            backend = self.backends[model.name]
            if not canaries:
                self.load_balancer.add_model_route(list(model.route_paths), backend)
                continue
            weights = {self.backends[c.name]: c.canary_weight for c in canaries}
            weights = {backend: 100 - sum(weights.values()), **weights}
            self.load_balancer.add_canary_route(list(model.route_paths), weights)

    def add_outputs(self) -> None:
        """Stack outputs: the load balancer's addresses and URLs, the model bucket, the service
        account of every model, the NEG names of GKE models, the network (when it is in this stack)
        and the cache's endpoints and secrets."""
        scope = TerraformStack.of(self)
        self.load_balancer.add_outputs()
        TerraformOutput(scope, "model_bucket", value=self.model_store.url, description="Cloud Storage URL of the model bucket")
        vm = {name: r.service_account_email for name, r in self.runtimes.items() if isinstance(r, VmModel)}
        gke = {name: r for name, r in self.runtimes.items() if not isinstance(r, VmModel)}
        if vm:
            TerraformOutput(scope, "fleet_service_accounts", value=vm, description="Service account email per model")
        if gke:
            TerraformOutput(
                scope, "workload_service_accounts", description="Google service account (Workload Identity) per model",
                value={name: w.identity_email for name, w in gke.items()},
            )
            TerraformOutput(
                scope, "network_endpoint_groups", description="Standalone NEG name per model (one NEG per cluster zone)",
                value={name: w.neg_name for name, w in gke.items()},
            )
        if isinstance(self.network, ServingNetwork):
            TerraformOutput(scope, "network_self_link", value=self.network.network.self_link, description="Self link of the serving VPC")
        if self.cache is not None:
            self.cache.add_outputs(scope)


def _node_pool(cluster: Any, model: ModelSpec, field: str) -> Any:
    """The pool a GKE model runs on: ``gke.node_pool``, else the first pool with the model's
    accelerator type, else (CPU models) the first pool without GPUs, the system pool (kube-system
    and add-ons) last."""
    pools = cluster.node_pools
    if model.gke.node_pool is not None:
        pool = pools.get(model.gke.node_pool)
        if pool is None:
            raise ConfigurationError(f"{field}.gke.node_pool", model.gke.node_pool, f"not a node pool of the cluster; pools: {', '.join(pools)}")
        return pool
    wanted = model.accelerator.type if model.accelerator else None
    ordered = [p for p in pools.values() if p is not cluster.system_pool] + [cluster.system_pool]
    for pool in ordered:
        if pool.gpu_type == wanted:
            return pool
    kind = f"with {wanted}" if wanted else "without GPUs"
    raise ConfigurationError(f"{field}.gke.node_pool", None, f"no node pool {kind}; pools: {', '.join(pools)}; add one to [gke.cluster]")
