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
  pool, non-root, read-only root filesystem (``/tmp`` is an ``emptyDir``), no privilege
  escalation, all capabilities dropped, RuntimeDefault seccomp, spread over zones. The weights
  (``gke.model_source``): by default the model's prefix of the bucket mounted read-only at
  ``MODEL_DIR`` by the Cloud Storage FUSE CSI driver (pod annotation ``gke-gcsfuse/volumes``,
  ephemeral ``csi`` volume, its file cache an ``emptyDir`` of ``model_cache_size`` named
  ``gke-gcsfuse-cache``; the sidecar's requests = limits); ``download``: an ``emptyDir`` at
  ``MODEL_DIR`` the server fills; ``image``: nothing mounted,
* ``kubernetes_horizontal_pod_autoscaler_v2`` [``autoscaler``] on the model's serving signals
  (``ModelSpec.scaling_signals``): CPU utilisation (Resource metric), GPU duty cycle and load-
  balancer request rate (External metrics from Cloud Monitoring), requests in flight (Pods
  metric from the model server's custom metric); all but CPU are served by the cluster's
  ``MetricsAdapter`` (``metrics_adapter_for``, created once per stack when a model needs it),
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
from constructs_lib.gke.metrics_adapter import MetricsAdapter, metrics_adapter_for
from constructs_lib.gke.node_pool import NodePool
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.interfaces import BackendKind, CacheConnection
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import Naming
from constructs_lib.specs.gke import (
    GCS_FUSE_ANNOTATION,
    GCS_FUSE_CACHE_VOLUME,
    GCS_FUSE_DRIVER,
    GPU_RESOURCE,
    cpu_millis,
    memory_mib,
)
from constructs_lib.specs.model import ModelSpec, server_environment
from constructs_lib.specs.scaling import ScalingSignal

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


CONTAINER = "server"
"""Name of the model server's container (the GPU signal selects its series)."""


GPU_DUTY_CYCLE_METRIC = "kubernetes.io/container/accelerator/duty_cycle"
"""GKE system metric (GA, GAUGE INT64, 0-100 %, sampled every 60 s): the share of time each of a
container's GPUs was busy, one series per GPU. The ``gpu`` signal's External metric."""


LB_REQUEST_COUNT_METRIC = "loadbalancing.googleapis.com/https/backend_request_count"
"""Requests the global external Application Load Balancer sent to a backend (DELTA, per
``https_lb_rule``; the adapter turns it into requests/s). The ``request-rate`` signal's External
metric, selected by the model's NEG name (``resource.labels.backend_name``)."""


CUSTOM_METRIC_PREFIX = "custom.googleapis.com/"
"""Prefix of the model server's ``in-flight`` gauge (``scaling.in_flight_metric``)."""
POD_ENV = {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
"""Variables GKE servers get from their pod (downward API), next to the common contract: the
``pod_name`` and ``namespace_name`` labels of the ``k8s_pod`` series a server writes its in-flight
gauge to, which the HPA's Pods metric reads (the hostname is not always the pod's name, and the
namespace file is absent without a mounted service-account token)."""


FILE_CACHE_SHARE = 0.9
"""Share of ``model_cache_size`` the FUSE file cache may fill: the emptyDir's size limit evicts
the pod when exceeded, so the cache stays below it."""


def adapter_metric_name(metric_type: str) -> str:
    """A Cloud Monitoring metric type as the metrics adapter names it (``/`` -> ``|``)."""
    return metric_type.replace("/", "|")


def quantity(value: float) -> str:
    """A Kubernetes quantity for an HPA target: whole numbers as such, else millis (``0.5`` -> ``500m``)."""
    millis = round(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


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
    ``model_uri``, ``model_bucket``, ``gpus``, ``signals`` (the HPA's ``ScalingSignal`` s),
    ``metrics_adapter`` (the cluster's ``MetricsAdapter`` when a signal needs it, else None),
    ``identity`` (``ServiceIdentity``), ``identity_email``, ``iam_member``
    (a ``Grantee``), ``workload_identity``, ``service_account``, ``service``, ``deployment``,
    ``autoscaler``, ``disruption_budget``, ``read_grant`` (``Grant``).

    ``namespace``: pass another workload's ``namespace_resource`` when several models share a
    namespace (the namespace is then referenced, not created, whatever ``create_namespace`` says).
    ``metrics_adapter``: the adapter to use; by default the stack's own (``metrics_adapter_for``).
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
        metrics_adapter: MetricsAdapter | None = None,
    ) -> None:
        spec = model.gke
        name = model.name
        field = f"models[{name}]"
        if cluster.node_pools.get(pool.name) is not pool:
            raise ConfigurationError(f"{field}.gke.node_pool", pool.name, f"must be a node pool of cluster {cluster.name}")
        if pool.queued_provisioning:
            raise ConfigurationError(
                f"{field}.gke.node_pool", pool.name,
                "is a queued-provisioning pool: its nodes go only to ProvisioningRequests (batch jobs), never to a Deployment's "
                "pods; pick a pool with on-demand, Spot, flex-start or reserved capacity",
            )
        if spec.model_source == "gcs-fuse" and not cluster.spec.gcs_fuse_csi_driver:
            raise ConfigurationError(
                f"{field}.gke.model_source", spec.model_source,
                f"needs the Cloud Storage FUSE CSI driver, which cluster {cluster.name} has off (gcs_fuse_csi_driver); turn it on "
                "or use model_source 'download'",
            )
        gpus = _check_fits(model, pool, field)
        port = model.port or cluster.network.spec.serving_port
        if port < 1024:
            raise ConfigurationError(f"{field}.port", port, "must be >= 1024 on GKE: the container runs as a non-root user")
        signals = model.scaling_signals
        _check_signals(signals, field)
        neg_name = spec.neg_name or naming.name("neg", name)
        registry = _neg_registry(scope.node)
        account_id = spec.service_account_id or derived_account_id(naming, name, "wi")
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
        self.signals: tuple[ScalingSignal, ...] = signals
        self.metrics_adapter: MetricsAdapter | None = None
        if any(signal.kind != "cpu" for signal in signals):
            self.metrics_adapter = metrics_adapter or metrics_adapter_for(self, cluster=cluster, naming=naming, provider=provider)
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
        source = model_store.model_uri(model.object_path)
        self.model_uri: str = source.uri
        self.model_bucket: str = source.bucket
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
                metric=[self._metric(signal, cluster) for signal in signals],
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

    def _metric(self, signal: ScalingSignal, cluster: ServingCluster) -> Any:
        """One HPA metric: CPU as a Resource utilization; GPU duty cycle and load-balancer requests
        as External metrics (AverageValue: the total over the model's series divided by the target
        per replica); requests in flight as a Pods metric (the adapter reads the model's own pods)."""
        h = horizontal_pod_autoscaler_v2
        if signal.kind == "cpu":
            return h.HorizontalPodAutoscalerV2SpecMetric(
                type="Resource",
                resource=h.HorizontalPodAutoscalerV2SpecMetricResource(
                    name="cpu",
                    target=h.HorizontalPodAutoscalerV2SpecMetricResourceTarget(
                        type="Utilization", average_utilization=round(signal.target * 100),
                    ),
                ),
            )
        if signal.kind == "in-flight":
            metric = CUSTOM_METRIC_PREFIX + self.model.scaling.in_flight_metric
            return h.HorizontalPodAutoscalerV2SpecMetric(
                type="Pods",
                pods=h.HorizontalPodAutoscalerV2SpecMetricPods(
                    metric=h.HorizontalPodAutoscalerV2SpecMetricPodsMetric(name=adapter_metric_name(metric)),
                    target=h.HorizontalPodAutoscalerV2SpecMetricPodsTarget(type="AverageValue", average_value=quantity(signal.target)),
                ),
            )
        if signal.kind == "gpu":
            # One series per GPU of each server container: a replica's share is the duty cycle of all its GPUs.
            metric, per_replica = GPU_DUTY_CYCLE_METRIC, signal.target * 100 * self.gpus
            labels = {
                "resource.labels.cluster_name": cluster.name,
                "resource.labels.namespace_name": self.model.gke.namespace,
                "resource.labels.container_name": CONTAINER,
                "metadata.system_labels.top_level_controller_type": "Deployment",
                "metadata.system_labels.top_level_controller_name": self.name,
            }
        else:
            metric, per_replica = LB_REQUEST_COUNT_METRIC, signal.target
            labels = {"resource.labels.backend_name": self.neg_name}
        assert self.metrics_adapter is not None  # created in __init__ for any signal but cpu
        self.metrics_adapter.allow_external_metric(adapter_metric_name(metric))
        return h.HorizontalPodAutoscalerV2SpecMetric(
            type="External",
            external=h.HorizontalPodAutoscalerV2SpecMetricExternal(
                metric=h.HorizontalPodAutoscalerV2SpecMetricExternalMetric(
                    name=adapter_metric_name(metric),
                    selector=[h.HorizontalPodAutoscalerV2SpecMetricExternalMetricSelector(match_labels=labels)],
                ),
                target=h.HorizontalPodAutoscalerV2SpecMetricExternalTarget(type="AverageValue", average_value=quantity(per_replica)),
            ),
        )

    def _pod_annotations(self) -> dict[str, str] | None:
        """gcs-fuse: inject the FUSE sidecar, with requests = limits (the pod stays Guaranteed QoS)."""
        spec = self.model.gke
        if spec.model_source != "gcs-fuse":
            return None
        return {
            GCS_FUSE_ANNOTATION: "true",
            "gke-gcsfuse/cpu-request": spec.fuse_sidecar_cpu, "gke-gcsfuse/cpu-limit": spec.fuse_sidecar_cpu,
            "gke-gcsfuse/memory-request": spec.fuse_sidecar_memory, "gke-gcsfuse/memory-limit": spec.fuse_sidecar_memory,
        }

    def _model_mounts(self) -> list[Any]:
        d = deployment_v1
        source = self.model.gke.model_source
        if source == "gcs-fuse":
            return [d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="model", mount_path=MODEL_DIR, read_only=True)]
        if source == "download":
            return [d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="model-cache", mount_path=MODEL_DIR)]
        return []

    def _model_volumes(self) -> list[Any]:
        """gcs-fuse: the model's prefix of the bucket, read-only, with a file cache (parallel downloads)
        in an emptyDir of ``model_cache_size``; download: that emptyDir at MODEL_DIR; image: none."""
        d = deployment_v1
        spec = self.model.gke
        cache = d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit=spec.model_cache_size)
        if spec.model_source == "download":
            return [d.DeploymentV1SpecTemplateSpecVolume(name="model-cache", empty_dir=cache)]
        if spec.model_source == "image":
            return []
        user = spec.run_as_user
        options = [
            "implicit-dirs",  # folders uploaded without folder objects are visible
            f"only-dir={self.model.object_path.rstrip('/')}",
            f"uid={user}", f"gid={user}",
            "file-cache:enable-parallel-downloads:true",  # large weight files load in parallel chunks
        ]
        return [
            d.DeploymentV1SpecTemplateSpecVolume(
                name="model",
                csi=d.DeploymentV1SpecTemplateSpecVolumeCsi(
                    driver=GCS_FUSE_DRIVER,
                    read_only=True,
                    volume_attributes={
                        "bucketName": self.model_bucket,
                        "mountOptions": ",".join(options),
                        "fileCacheCapacity": f"{int(memory_mib(spec.model_cache_size) * FILE_CACHE_SHARE)}Mi",
                        "fileCacheForRangeRead": "true",
                    },
                ),
            ),
            d.DeploymentV1SpecTemplateSpecVolume(name=GCS_FUSE_CACHE_VOLUME, empty_dir=cache),
        ]

    def _deployment(self, model: ModelSpec, pool: NodePool, gpus: int, cache: CacheConnection | None, provider_args: dict) -> Any:
        d = deployment_v1
        spec = model.gke
        image: str = model.image  # type: ignore[assignment] - ModelSpec requires an image on GKE
        env = dict(server_environment(model, port=self.port, model_uri=self.model_uri, model_dir=MODEL_DIR, cache=cache))

        requests = {"cpu": spec.cpu, "memory": spec.memory}
        limits = {"cpu": spec.cpu_limit or spec.cpu, "memory": spec.memory_limit or spec.memory}
        if gpus:
            requests[GPU_RESOURCE] = str(gpus)
            limits[GPU_RESOURCE] = str(gpus)

        period = 10
        probe = {"path": model.health_path, "port": "http"}
        container = d.DeploymentV1SpecTemplateSpecContainer(
            name=CONTAINER,
            image=image,
            # A tag can move; a digest cannot (then the node's copy is as good as the registry's).
            image_pull_policy="IfNotPresent" if "@sha256:" in image else "Always",
            command=list(model.command) or None,
            args=list(model.args) or None,
            port=[d.DeploymentV1SpecTemplateSpecContainerPort(name="http", container_port=self.port, protocol="TCP")],
            env=[d.DeploymentV1SpecTemplateSpecContainerEnv(name=k, value=v) for k, v in env.items()] + [
                d.DeploymentV1SpecTemplateSpecContainerEnv(name=name, value_from=d.DeploymentV1SpecTemplateSpecContainerEnvValueFrom(
                    field_ref=d.DeploymentV1SpecTemplateSpecContainerEnvValueFromFieldRef(field_path=path),
                ))
                for name, path in POD_ENV.items()
            ],
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
                *self._model_mounts(),
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
                    metadata=d.DeploymentV1SpecTemplateMetadata(labels=self.labels, annotations=self._pod_annotations()),
                    spec=d.DeploymentV1SpecTemplateSpec(
                        service_account_name=self.service_account.metadata.name,
                        automount_service_account_token=False,
                        node_selector=pool.node_selector,
                        toleration=[d.DeploymentV1SpecTemplateSpecToleration(**t) for t in pool.tolerations] or None,
                        termination_grace_period_seconds=model.termination_grace_period_sec,
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
                            *self._model_volumes(),
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

def _check_signals(signals: tuple[ScalingSignal, ...], field: str) -> None:
    """The HPA can follow each CPU signal: its target is a whole percent (the gpu signal's need for
    an accelerator is a ModelSpec rule, for both runtimes)."""
    for signal in signals:
        if signal.kind == "cpu" and signal.target < 0.01:
            raise ConfigurationError(
                f"{field}.scaling.cpu_target", signal.target,
                "a GKE model's HorizontalPodAutoscaler needs a CPU target >= 0.01 (its target is a whole percent of the CPU request)",
            )


def _check_fits(model: ModelSpec, pool: NodePool, field: str) -> int:
    """GPUs per pod; fails when the model's accelerator or requests (with the FUSE sidecar's) do not
    fit one node of ``pool``."""
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
        fuse = spec.model_source == "gcs-fuse"
        for key, requested, sidecar, available, unit in (
            ("cpu", cpu_millis(spec.cpu), cpu_millis(spec.fuse_sidecar_cpu), capacity.cpu_millis, "m"),
            ("memory", memory_mib(spec.memory), memory_mib(spec.fuse_sidecar_memory), capacity.memory_mib, "Mi"),
        ):
            sidecar = sidecar if fuse else 0
            if requested + sidecar > available:
                of_it = f", {sidecar:.15g}{unit} of it for the Cloud Storage FUSE sidecar" if fuse else ""
                raise ConfigurationError(
                    f"{field}.gke.{key}", getattr(spec, key),
                    f"exceeds what a pod can request on {pool.machine_type} (node pool {pool.name!r}): {available:.15g}{unit} "
                    f"after GKE's reservations{of_it}; lower it or use a larger machine type",
                )
    return gpus
