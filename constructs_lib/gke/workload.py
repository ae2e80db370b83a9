"""``ModelWorkload``: one model served from a Kubernetes Deployment on a ``ServingCluster``.

Resources (construct ids in brackets), through the hashicorp/kubernetes provider unless noted:

* ``kubernetes_namespace_v1`` [``namespace``] (optional; Pod Security ``restricted`` enforced),
* a ``ServiceIdentity`` [``identity``] + ``google_service_account_iam_member`` [``workload-identity``]
  (``roles/iam.workloadIdentityUser`` for ``serviceAccount:<project>.svc.id.goog[<ns>/<ksa>]``) +
  ``kubernetes_service_account_v1`` [``service-account``] annotated ``iam.gke.io/gcp-service-account``:
  pods read the model bucket (``ModelStore.grant_read``) with no key anywhere,
* ``kubernetes_service_v1`` [``service``]: ClusterIP with the ``cloud.google.com/neg`` annotation,
  so GKE creates standalone zonal NEGs with a stable name (``<app>-<env>-neg-<model>``),
* ``kubernetes_deployment_v1`` [``deployment``]: GPU/CPU/memory requests = limits (Guaranteed
  QoS), startup/readiness/liveness probes on the health path, toleration + node selector of the
  pool, non-root, read-only root filesystem (``/tmp`` and the model cache are ``emptyDir``),
  no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, spread over zones,
* ``kubernetes_horizontal_pod_autoscaler_v2`` [``autoscaler``] on CPU utilisation,
* ``kubernetes_pod_disruption_budget_v1`` [``disruption-budget``].

``negs`` (``WorkloadNegs``) is the model's ``BackendTarget``: the backend service refers to the
NEGs by id and depends on the Service and the rolled-out Deployment (see ``constructs_lib.gke``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field as dataclass_field
from typing import Any

from cdktf import TerraformResourceLifecycle, Token
from constructs import Construct

from constructs_lib._google import service_account_iam_member
from constructs_lib._kubernetes import (
    deployment_v1,
    horizontal_pod_autoscaler_v2,
    namespace_v1,
    pod_disruption_budget_v1,
    service_account_v1,
    service_v1,
)
from constructs_lib.edge.backends import endpoint_group_backends
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.cluster import ServingCluster
from constructs_lib.gke.node_pool import NodePool
from constructs_lib.iam import check_account_id
from constructs_lib.identity import ServiceIdentity
from constructs_lib.interfaces import BackendKind, CacheConnection
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import Naming
from constructs_lib.specs.gke import GPU_RESOURCE, cpu_millis, memory_mib
from constructs_lib.specs.model import ModelSpec

DEFAULT_MAX_RATE_PER_ENDPOINT = 10.0
"""Requests/s one model pod is sent before the LB spills to other pods/zones (RATE balancing).
A placeholder that fits a GPU server doing ~100 ms inferences with batching off; measure and set
``backend.max_rate_per_endpoint``."""


@dataclass
class WorkloadNegs:
    """A workload's zonal NEGs as a ``BackendTarget``: ids, the port they serve, and the Service and
    Deployment the backend service must wait for (the NEGs exist once both are done)."""

    network_endpoint_groups: tuple[str, ...]
    port: int
    name: str
    zones: tuple[str, ...]
    cluster: ServingCluster
    dependencies: tuple[Any, ...] = dataclass_field(default=())
    backend_kind: BackendKind = "network-endpoint-group"
    port_name: str = "http"

    @property
    def location(self) -> str:
        return f"cluster {self.cluster.name}"

    def backend_blocks(self, spec: Any, field: str) -> list[Any]:
        return endpoint_group_backends(self.network_endpoint_groups, spec, field, DEFAULT_MAX_RATE_PER_ENDPOINT)

    def admits_health_checks(self, port: int) -> bool:
        return self.cluster.admits_load_balancer_health_checks(port)


NEG_ANNOTATION = "cloud.google.com/neg"


NEG_STATUS_ANNOTATION = "cloud.google.com/neg-status"


WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


MODEL_DIR = "/models"


class _NegNames(Construct):
    """Registry of the NEG names taken in one app (a child of the app's root construct)."""

    ID = "ml-serving-neg-names"

    def __init__(self, scope: Construct) -> None:
        super().__init__(scope, self.ID)
        self.names: dict[str, str] = {}


def _neg_registry(node: Any) -> dict[str, str]:
    """NEG names taken in this app (name -> construct path): NEG names are per project and zone,
    so two workloads of one app must not share one."""
    root = node.root
    registry = root.node.try_find_child(_NegNames.ID)
    if not isinstance(registry, _NegNames):
        registry = _NegNames(root)
    return registry.names


class ModelWorkload(Construct):
    """One model's Deployment, Service (standalone NEGs), autoscaler and identity on GKE.

    Public attributes: ``name``, ``model``, ``port``, ``namespace`` (name), ``labels``, ``selector``,
    ``namespace_resource`` (the ``kubernetes_namespace_v1`` it created, else None),
    ``neg_name``, ``negs`` (``WorkloadNegs``, the model's ``BackendTarget``), ``backend_targets``,
    ``model_uri``, ``gpus``, ``identity`` (``ServiceIdentity``), ``identity_email``, ``iam_member``
    (a ``Grantee``), ``workload_identity``, ``service_account``, ``service``, ``deployment``,
    ``autoscaler``, ``disruption_budget``, ``read_grant`` (``Grant``).

    ``namespace``: pass another workload's ``namespace_resource`` when several models share a
    namespace (the namespace is then referenced, not created, whatever ``create_namespace`` says).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ServingCluster,
        pool: NodePool,
        naming: Naming,
        model_store: ModelStore,
        model: ModelSpec,
        cache: CacheConnection | None = None,
        provider: Any = None,
        namespace: Any = None,
    ) -> None:
        spec = model.gke
        name = model.name
        field = f"models[{name}]"
        if cluster.node_pools.get(pool.name) is not pool:
            raise ConfigurationError(f"{field}.gke.node_pool", pool.name, f"must be a node pool of cluster {cluster.name}")
        gpus = _check_fits(model, pool, field)
        port = model.port or cluster.network.spec.serving_port
        if port < 1024:
            raise ConfigurationError(f"{field}.port", port, "must be >= 1024 on GKE: the container runs as a non-root user")
        if model.scaling.cpu_target is None or model.scaling.cpu_target < 0.01:
            raise ConfigurationError(
                f"{field}.scaling.cpu_target", model.scaling.cpu_target,
                "a GKE model's HorizontalPodAutoscaler needs cpu_target >= 0.01 (its target is a whole percent of the CPU request)",
            )
        neg_name = spec.neg_name or naming.name("neg", name)
        registry = _neg_registry(scope.node)
        account_id = spec.service_account_id or check_account_id(naming.name(name, "wi"), f"{field}.gke.service_account_id")
        if neg_name in registry:
            raise ConfigurationError(
                f"{field}.gke.neg_name", neg_name,
                f"is already used by {registry[neg_name]}; NEG names are unique per project and zone, set another neg_name",
            )
        super().__init__(scope, id_)
        registry[neg_name] = self.node.path

        self.name = name
        self.model = model
        self.port = port
        self.gpus = gpus
        self.neg_name = neg_name
        self.labels: dict[str, str] = {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/instance": f"{naming.prefix}-{name}",
            "app.kubernetes.io/part-of": naming.prefix,
            "app.kubernetes.io/managed-by": "cdktf",
        }
        self.selector: dict[str, str] = {k: self.labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        provider_args = {"provider": provider} if provider is not None else {}

        self.namespace_resource: Any = None
        if namespace is not None:
            # Another workload's namespace: reference it, so this one is created after it.
            if getattr(namespace, "terraform_resource_type", None) != "kubernetes_namespace_v1":
                raise ConfigurationError(f"{field}.gke.namespace", type(namespace).__name__, "must be a kubernetes_namespace_v1 resource (another workload's namespace_resource)")
            # The Workload Identity binding below names spec.namespace: it must be this namespace.
            shared = getattr(namespace.metadata_input, "name", None)
            if isinstance(shared, str) and not Token.is_unresolved(shared) and shared != spec.namespace:
                raise ConfigurationError(
                    f"{field}.gke.namespace", spec.namespace,
                    f"must be the name of the shared namespace resource ({shared!r}): the Workload Identity binding names it",
                )
            self.namespace: str = namespace.metadata.name
        elif spec.create_namespace:
            ns = namespace_v1.NamespaceV1(
                self, "namespace",
                metadata=namespace_v1.NamespaceV1Metadata(
                    name=spec.namespace,
                    labels={
                        "app.kubernetes.io/part-of": naming.prefix,
                        "app.kubernetes.io/managed-by": "cdktf",
                        # The pod below meets the restricted Pod Security Standard; enforce it.
                        "pod-security.kubernetes.io/enforce": "restricted",
                    },
                ),
                **provider_args,
            )
            self.namespace_resource = ns
            self.namespace = ns.metadata.name
        else:
            self.namespace = spec.namespace

        # -- identity: Google SA <- Workload Identity <- Kubernetes SA -----------------------
        ksa_name = name
        # "Default" keeps the account at <workload>/identity, the address of deployed models.
        self.identity = ServiceIdentity(
            self, "identity", resource_id="Default",
            account_id=account_id,
            display_name=f"Model {name} on GKE ({naming.prefix})",
            description=f"Pods of model {name} in {cluster.name} (Workload Identity); managed by cdktf",
            project=cluster.project_id,
        )
        self.identity_email: str = self.identity.email
        self.iam_member: str = self.identity.iam_member
        self.workload_identity = service_account_iam_member.ServiceAccountIamMember(
            self, "workload-identity",
            service_account_id=self.identity.service_account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{cluster.workload_pool}[{spec.namespace}/{ksa_name}]",
        )
        # Grant ids are Terraform addresses of deployed models: models/read-gke-<model>.
        self.read_grant = model_store.grant_read(self, id_=f"gke-{name}")
        self.model_uri: str = model_store.model_uri(model.object_path).uri
        self.service_account = service_account_v1.ServiceAccountV1(
            self, "service-account",
            metadata=service_account_v1.ServiceAccountV1Metadata(
                name=ksa_name, namespace=self.namespace, labels=self.labels,
                annotations={WORKLOAD_IDENTITY_ANNOTATION: self.identity_email},
            ),
            automount_service_account_token=False,
            **provider_args,
        )

        # -- Service with standalone NEGs ----------------------------------------------------
        self.service = service_v1.ServiceV1(
            self, "service",
            metadata=service_v1.ServiceV1Metadata(
                name=name, namespace=self.namespace, labels=self.labels,
                annotations={NEG_ANNOTATION: json.dumps({"exposed_ports": {str(port): {"name": neg_name}}})},
            ),
            spec=service_v1.ServiceV1Spec(
                type="ClusterIP",
                selector=self.selector,
                port=[service_v1.ServiceV1SpecPort(name="http", port=port, target_port="http", protocol="TCP")],
            ),
            **provider_args,
        )
        cluster.allow_load_balancer_health_checks(port)
        self.negs = WorkloadNegs(
            network_endpoint_groups=tuple(
                f"projects/{cluster.project_id}/zones/{zone}/networkEndpointGroups/{neg_name}" for zone in cluster.zones
            ),
            port=port,
            name=neg_name,
            zones=cluster.zones,
            cluster=cluster,
        )

        # -- Deployment ----------------------------------------------------------------------
        self.deployment = self._deployment(model, pool, gpus, cache, provider_args)
        self.negs.dependencies = (self.service, self.deployment)
        self.backend_targets: list[WorkloadNegs] = [self.negs]

        # -- autoscaling and disruption budget -----------------------------------------------
        h = horizontal_pod_autoscaler_v2
        scaling = model.scaling
        self.autoscaler = h.HorizontalPodAutoscalerV2(
            self, "autoscaler",
            metadata=h.HorizontalPodAutoscalerV2Metadata(name=name, namespace=self.namespace, labels=self.labels),
            spec=h.HorizontalPodAutoscalerV2Spec(
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                scale_target_ref=h.HorizontalPodAutoscalerV2SpecScaleTargetRef(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name,
                ),
                metric=[h.HorizontalPodAutoscalerV2SpecMetric(
                    type="Resource",
                    resource=h.HorizontalPodAutoscalerV2SpecMetricResource(
                        name="cpu",
                        target=h.HorizontalPodAutoscalerV2SpecMetricResourceTarget(
                            type="Utilization", average_utilization=round(scaling.cpu_target * 100),
                        ),
                    ),
                )],
                behavior=h.HorizontalPodAutoscalerV2SpecBehavior(
                    scale_down=[h.HorizontalPodAutoscalerV2SpecBehaviorScaleDown(
                        stabilization_window_seconds=scaling.scale_down_stabilization_sec,
                        select_policy="Max",
                        policy=[h.HorizontalPodAutoscalerV2SpecBehaviorScaleDownPolicy(type="Pods", value=1, period_seconds=60)],
                    )],
                ),
            ),
            **provider_args,
        )
        p = pod_disruption_budget_v1
        self.disruption_budget = p.PodDisruptionBudgetV1(
            self, "disruption-budget",
            metadata=p.PodDisruptionBudgetV1Metadata(name=name, namespace=self.namespace, labels=self.labels),
            spec=p.PodDisruptionBudgetV1Spec(
                max_unavailable=str(spec.pdb_max_unavailable),
                selector=p.PodDisruptionBudgetV1SpecSelector(match_labels=self.selector),
            ),
            **provider_args,
        )

    def _deployment(self, model: ModelSpec, pool: NodePool, gpus: int, cache: CacheConnection | None, provider_args: dict) -> Any:
        d = deployment_v1
        spec = model.gke
        image: str = model.image  # type: ignore[assignment] - ModelSpec requires an image on GKE
        env = {"MODEL_URI": self.model_uri, "MODEL_DIR": MODEL_DIR, "PORT": str(self.port)}
        if cache is not None:
            env.update(CACHE_HOST=cache.host, CACHE_PORT=cache.port, CACHE_TLS="true" if cache.tls else "false")
            if cache.read_host:
                env["CACHE_READ_HOST"] = cache.read_host
            if cache.auth_secret:
                env["CACHE_AUTH_SECRET"] = cache.auth_secret
            if cache.ca_secret:
                env["CACHE_CA_SECRET"] = cache.ca_secret
        env.update(model.env)

        requests = {"cpu": spec.cpu, "memory": spec.memory}
        limits = {"cpu": spec.cpu_limit or spec.cpu, "memory": spec.memory_limit or spec.memory}
        if gpus:
            requests[GPU_RESOURCE] = str(gpus)
            limits[GPU_RESOURCE] = str(gpus)

        period = 10
        probe = {"path": model.health_path, "port": "http"}
        container = d.DeploymentV1SpecTemplateSpecContainer(
            name="server",
            image=image,
            # A tag can move; a digest cannot (then the node's copy is as good as the registry's).
            image_pull_policy="IfNotPresent" if "@sha256:" in image else "Always",
            command=list(model.command) or None,
            args=list(model.args) or None,
            port=[d.DeploymentV1SpecTemplateSpecContainerPort(name="http", container_port=self.port, protocol="TCP")],
            env=[d.DeploymentV1SpecTemplateSpecContainerEnv(name=k, value=v) for k, v in env.items()],
            resources=d.DeploymentV1SpecTemplateSpecContainerResources(requests=requests, limits=limits),
            # Startup: the model may take startup_timeout_sec to load; liveness only starts after it.
            startup_probe=d.DeploymentV1SpecTemplateSpecContainerStartupProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerStartupProbeHttpGet(**probe),
                period_seconds=period, timeout_seconds=5,
                failure_threshold=-(-model.startup_timeout_sec // period),
            ),
            readiness_probe=d.DeploymentV1SpecTemplateSpecContainerReadinessProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet(**probe),
                period_seconds=period, timeout_seconds=5, failure_threshold=3, success_threshold=1,
            ),
            liveness_probe=d.DeploymentV1SpecTemplateSpecContainerLivenessProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet(**probe),
                period_seconds=20, timeout_seconds=5, failure_threshold=3,
            ),
            security_context=d.DeploymentV1SpecTemplateSpecContainerSecurityContext(
                run_as_non_root=True,
                run_as_user=str(spec.run_as_user),
                run_as_group=str(spec.run_as_user),
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=d.DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities(drop=["ALL"]),
                seccomp_profile=d.DeploymentV1SpecTemplateSpecContainerSecurityContextSeccompProfile(type="RuntimeDefault"),
            ),
            volume_mount=[
                d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="tmp", mount_path="/tmp"),
                d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="model-cache", mount_path=MODEL_DIR),
            ],
        )
        timeout = f"{model.startup_timeout_sec // 60 + 15}m"
        return d.DeploymentV1(
            self, "deployment",
            metadata=d.DeploymentV1Metadata(name=model.name, namespace=self.namespace, labels=self.labels),
            spec=d.DeploymentV1Spec(
                replicas=str(model.scaling.min_replicas),
                revision_history_limit=5,
                progress_deadline_seconds=model.startup_timeout_sec + 300,
                selector=d.DeploymentV1SpecSelector(match_labels=self.selector),
                strategy=d.DeploymentV1SpecStrategy(
                    type="RollingUpdate",
                    # Never below the serving capacity: GPUs are scarce, but a model update must not drop traffic.
                    rolling_update=d.DeploymentV1SpecStrategyRollingUpdate(max_surge="1", max_unavailable="0"),
                ),
                template=d.DeploymentV1SpecTemplate(
                    metadata=d.DeploymentV1SpecTemplateMetadata(labels=self.labels),
                    spec=d.DeploymentV1SpecTemplateSpec(
                        service_account_name=self.service_account.metadata.name,
                        automount_service_account_token=False,
                        node_selector=pool.node_selector,
                        toleration=[d.DeploymentV1SpecTemplateSpecToleration(**t) for t in pool.tolerations] or None,
                        termination_grace_period_seconds=spec.termination_grace_period_sec,
                        security_context=d.DeploymentV1SpecTemplateSpecSecurityContext(
                            run_as_non_root=True,
                            run_as_user=str(spec.run_as_user),
                            run_as_group=str(spec.run_as_user),
                            fs_group=str(spec.run_as_user),
                            seccomp_profile=d.DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile(type="RuntimeDefault"),
                        ),
                        topology_spread_constraint=[d.DeploymentV1SpecTemplateSpecTopologySpreadConstraint(
                            max_skew=1,
                            topology_key="topology.kubernetes.io/zone",
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=[d.DeploymentV1SpecTemplateSpecTopologySpreadConstraintLabelSelector(
                                match_labels=self.selector,
                            )],
                        )],
                        container=[container],
                        volume=[
                            d.DeploymentV1SpecTemplateSpecVolume(
                                name="tmp", empty_dir=d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit="1Gi"),
                            ),
                            d.DeploymentV1SpecTemplateSpecVolume(
                                name="model-cache",
                                empty_dir=d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit=spec.model_cache_size),
                            ),
                        ],
                    ),
                ),
            ),
            # Terraform waits until the pods are ready: the NEGs exist by then (see constructs_lib.gke).
            wait_for_rollout=True,
            timeouts=d.DeploymentV1Timeouts(create=timeout, update=timeout),
            # The Service first (the NEG controller starts creating NEGs), and the identity in place
            # before pods try to read the model.
            depends_on=[self.service, self.workload_identity, *self.read_grant.resources],
            # The autoscaler owns the replica count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["spec[0].replicas"]),
            **provider_args,
        )

def _check_fits(model: ModelSpec, pool: NodePool, field: str) -> int:
    """GPUs per pod; fails when the model's accelerator or requests do not fit one node of ``pool``."""
    accelerator = model.accelerator
    spec = model.gke
    if accelerator is None:
        gpus = 0
    else:
        if pool.gpu_type != accelerator.type:
            raise ConfigurationError(
                f"{field}.accelerator.type", accelerator.type,
                f"node pool {pool.name!r} ({pool.machine_type}) has {pool.gpu_type or 'no GPUs'}; pick a pool with {accelerator.type}",
            )
        gpus = pool.gpu_count if accelerator.count is None else accelerator.count
        if gpus > pool.gpu_count:
            raise ConfigurationError(
                f"{field}.accelerator.count", gpus, f"node pool {pool.name!r} has {pool.gpu_count} x {pool.gpu_type} per node; a pod cannot request more",
            )
    capacity = pool.capacity
    if capacity is not None:
        if cpu_millis(spec.cpu) > capacity.cpu_millis:
            raise ConfigurationError(
                f"{field}.gke.cpu", spec.cpu,
                f"exceeds what a pod can request on {pool.machine_type} (node pool {pool.name!r}): {capacity.cpu_millis}m "
                "after GKE's reservations; lower it or use a larger machine type",
            )
        if memory_mib(spec.memory) > capacity.memory_mib:
            raise ConfigurationError(
                f"{field}.gke.memory", spec.memory,
                f"exceeds what a pod can request on {pool.machine_type} (node pool {pool.name!r}): {capacity.memory_mib}Mi "
                "after GKE's reservations; lower it or use a larger machine type",
            )
    return gpus
