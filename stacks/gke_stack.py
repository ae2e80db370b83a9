"""``GkeServingStack``: the GKE serving variant of one environment, as two ordered cdktf stacks.

* ``<id>-cluster`` (``GkeClusterStack``): network, GKE cluster with its subnet/NAT, node service
  account, node pools, and the firewall rule that lets Google's health checks reach the pods.
* ``<id>`` (``GkeServingStack``): Kubernetes provider (from the cluster, read by name), model
  bucket, one ``ModelWorkload`` per model, the global load balancer with the workloads' NEGs as
  backends (``/v1/models/<name>`` routes, first model is the default) and ``/static/*`` from a
  backend bucket.

``GkeServingStack`` creates its cluster stack and ``add_dependency``s on it, so
``cdktf deploy '*'`` (or naming both stacks) applies the cluster first. Why two stacks and how
the NEGs are ordered: see ``constructs_lib.gke``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib._google import provider as google_provider
from constructs_lib.backends import BackendHealthCheckSpec, BackendServiceSpec
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke import ClusterSpec, ServingCluster
from constructs_lib.interfaces import CacheConnection
from constructs_lib.load_balancer import GlobalLoadBalancer, LoadBalancerSpec
from constructs_lib.model_store import ModelStore, ModelStoreSpec
from constructs_lib.model_workload import ClusterAccess, ModelWorkload, WorkloadSpec
from constructs_lib.naming import Naming
from constructs_lib.network import NetworkSpec, ServingNetwork
from constructs_lib.regions import check_region
from constructs_lib.security import CloudArmorPolicy, CloudArmorSpec
from stacks.config import GcsBackend as GcsBackendConfig
from stacks.config import LocalBackend as LocalBackendConfig
from stacks.config import StaticContent
from stacks.state import configure_state_backend

StateBackend = LocalBackendConfig | GcsBackendConfig

DEFAULT_MAX_RATE_PER_ENDPOINT = 10.0
"""Requests/s one model pod is sent before the LB spills to other pods/zones (RATE balancing).
A placeholder that fits a GPU server doing ~100 ms inferences with batching off; measure and set it."""


def _configure_backend(stack: TerraformStack, backend: StateBackend | None, stack_id: str) -> None:
    """Local state in ``state/<stack id>.tfstate``, or GCS under ``<prefix>/<stack id>`` (each stack
    has its own state; with a prefix both stacks of the variant live under it)."""
    backend = backend or LocalBackendConfig()
    prefix = getattr(backend, "prefix", None)
    configure_state_backend(stack, backend, gcs_prefix=f"{prefix.rstrip('/')}/{stack_id}" if prefix else f"terraform/{stack_id}")


def _google(stack: TerraformStack, project_id: str, region: str) -> None:
    google_provider.GoogleProvider(
        stack, "google",
        project=project_id,
        region=region,
        # The provider's own attribution label would differ from our managed-by label.
        add_terraform_attribution_label=False,
    )


class GkeClusterStack(TerraformStack):
    """Network + ``ServingCluster`` (construct ids ``network``, ``cluster``). Exposes ``network``,
    ``cluster``, ``naming``, ``region``, ``project_id``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        project_id: str,
        region: str,
        naming: Naming,
        network: NetworkSpec | None = None,
        cluster: ClusterSpec | None = None,
        serving_ports: Sequence[int] = (8080,),
        backend: StateBackend | None = None,
    ) -> None:
        check_region(region)
        super().__init__(scope, id_)
        self.project_id = project_id
        self.region = region
        self.naming = naming
        _google(self, project_id, region)
        _configure_backend(self, backend, id_)
        self.network = ServingNetwork(self, "network", naming=naming, regions=[region], spec=network)
        self.cluster = ServingCluster(
            self, "cluster", network=self.network, naming=naming, project_id=project_id, region=region, spec=cluster,
        )
        for port in sorted(set(serving_ports)):
            self.cluster.allow_load_balancer_health_checks(port)
        self.cluster.add_outputs(self)
        TerraformOutput(self, "network_self_link", value=self.network.network.self_link, description="Self link of the serving VPC")


class GkeServingStack(TerraformStack):
    """Models on GKE behind the global load balancer; creates and depends on ``<id>-cluster``.

    Construct ids: ``kubernetes`` (``ClusterAccess``), ``models`` (bucket), ``workload-<name>``,
    ``cloud-armor``, ``lb``. Models in one namespace share it (the first model's
    ``workload-<name>/namespace`` creates it). Exposes ``cluster_stack``, ``stacks`` (cluster stack, this stack),
    ``cluster``, ``model_store``, ``workloads`` (name -> ``ModelWorkload``), ``backends``
    (name -> ``ModelBackend``), ``load_balancer``, ``cloud_armor``.

    ``backend_services`` overrides the backend service of a model (keyed by workload name); the
    default is RATE balancing at ``DEFAULT_MAX_RATE_PER_ENDPOINT`` with the LB health check on the
    workload's ``health_path``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        project_id: str,
        region: str,
        naming: Naming,
        workloads: Sequence[WorkloadSpec],
        cluster: ClusterSpec | None = None,
        network: NetworkSpec | None = None,
        model_store: ModelStoreSpec | None = None,
        load_balancer: LoadBalancerSpec | None = None,
        backend_services: Mapping[str, BackendServiceSpec] | None = None,
        static_content: StaticContent | None = None,
        cloud_armor: CloudArmorSpec | None = None,
        cache: CacheConnection | None = None,
        backend: StateBackend | None = None,
    ) -> None:
        workloads = list(workloads)
        backend_services = dict(backend_services or {})
        _check_workloads(workloads, backend_services)
        self.cluster_stack = GkeClusterStack(
            scope, f"{id_}-cluster",
            project_id=project_id, region=region, naming=naming, network=network, cluster=cluster,
            serving_ports=[w.port for w in workloads], backend=backend,
        )
        super().__init__(scope, id_)
        self.add_dependency(self.cluster_stack)
        self.stacks: tuple[TerraformStack, ...] = (self.cluster_stack, self)
        self.naming = naming
        self.cluster: ServingCluster = self.cluster_stack.cluster
        _google(self, project_id, region)
        _configure_backend(self, backend, id_)

        ClusterAccess(self, "kubernetes", cluster=self.cluster, source="data")
        self.model_store = ModelStore(self, "models", naming=naming, spec=model_store)
        self.cloud_armor = CloudArmorPolicy(self, "cloud-armor", naming=naming, spec=cloud_armor) if cloud_armor else None
        self.load_balancer = GlobalLoadBalancer(self, "lb", naming=naming, spec=load_balancer)

        self.workloads: dict[str, ModelWorkload] = {}
        self.backends = {}
        namespaces: dict[str, object] = {}
        for spec in workloads:
            pool = self.cluster.node_pools.get(spec.node_pool)
            if pool is None:
                raise ConfigurationError(
                    f"workloads[{spec.name}].node_pool", spec.node_pool,
                    f"not a node pool of the cluster; pools: {', '.join(self.cluster.node_pools)}",
                )
            workload = ModelWorkload(
                self, f"workload-{spec.name}",
                cluster=self.cluster, pool=pool, naming=naming, model_store=self.model_store, cache=cache,
                # Models sharing a namespace: the first one creates it, the others reference it.
                namespace=namespaces.get(spec.namespace), spec=spec,
            )
            if workload.namespace_resource is not None:
                namespaces[spec.namespace] = workload.namespace_resource
            backend_spec = backend_services.get(spec.name) or BackendServiceSpec(
                max_rate_per_endpoint=DEFAULT_MAX_RATE_PER_ENDPOINT,
                health_check=BackendHealthCheckSpec(request_path=spec.health_path),
            )
            model_backend = self.load_balancer.add_backend_service(
                spec.name, targets=[workload.negs], spec=backend_spec, security_policy=self.cloud_armor,
            )
            # The NEGs exist once the Service is there and the Deployment rolled out.
            workload.add_dependent(model_backend.backend_service)
            self.load_balancer.add_model_route([f"/v1/models/{spec.name}", f"/v1/models/{spec.name}/*"], model_backend)
            self.workloads[spec.name] = workload
            self.backends[spec.name] = model_backend

        if static_content is not None:
            self.load_balancer.add_backend_bucket(
                "static", static_content.bucket_name, paths=list(static_content.paths), enable_cdn=static_content.enable_cdn,
            )
        self._add_outputs()

    def _add_outputs(self) -> None:
        self.load_balancer.add_outputs()
        TerraformOutput(self, "model_bucket", value=self.model_store.url, description="Cloud Storage URL of the model bucket")
        TerraformOutput(
            self, "workload_service_accounts", description="Google service account (Workload Identity) per model",
            value={name: w.identity_email for name, w in self.workloads.items()},
        )
        TerraformOutput(
            self, "network_endpoint_groups", description="Standalone NEG name per model (one NEG per cluster zone)",
            value={name: w.neg_name for name, w in self.workloads.items()},
        )


def _check_workloads(workloads: Sequence[WorkloadSpec], backend_services: Mapping[str, BackendServiceSpec]) -> None:
    if not workloads:
        raise ConfigurationError("workloads", [], "at least one model workload is required")
    names = [w.name for w in workloads]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigurationError("workloads", names, f"model names must be unique; repeated: {', '.join(repeated)}")
    unknown = sorted(set(backend_services) - set(names))
    if unknown:
        raise ConfigurationError("backend_services", unknown, f"names no workload; workloads: {', '.join(names)}")
    by_name = {w.name: w for w in workloads}
    for name, spec in backend_services.items():
        path = spec.health_check.request_path
        if spec.health_check.protocol in ("HTTP", "HTTPS", "HTTP2") and path != by_name[name].health_path:
            raise ConfigurationError(
                f"backend_services[{name}].health_check.request_path", path,
                f"must be the workload's health_path ({by_name[name].health_path}): the LB probes the pods directly",
            )
        if spec.health_check.port is not None and spec.health_check.port != by_name[name].port:
            raise ConfigurationError(
                f"backend_services[{name}].health_check.port", spec.health_check.port,
                f"must be the workload's port ({by_name[name].port}) or None (the firewall admits probes to that port only)",
            )
