"""``MetricsAdapter``: the Custom Metrics - Stackdriver Adapter, so HorizontalPodAutoscalers can
scale models on Cloud Monitoring metrics (GPU duty cycle, the model server's in-flight gauge,
the load balancer's request rate).

The resources follow GoogleCloudPlatform/k8s-stackdriver
``custom-metrics-stackdriver-adapter/deploy/production/adapter_new_resource_model.yaml`` (new
resource model, ``--fallback-for-container-metrics``), with Workload Identity instead of node
credentials (construct ids in brackets, kubernetes provider unless noted):

* ``kubernetes_namespace_v1`` [``namespace``] ``custom-metrics`` (Pod Security ``restricted``:
  unlike upstream, which runs it as root on port 443, the adapter runs as nobody on port 6443),
* a ``ServiceIdentity`` [``identity``] (Google service account with ``roles/monitoring.viewer``) +
  ``google_service_account_iam_member`` [``workload-identity``] + ``kubernetes_service_account_v1``
  [``service-account``] annotated ``iam.gke.io/gcp-service-account``,
* RBAC: ``auth-delegator`` (``system:auth-delegator``), ``auth-reader`` (kube-system
  ``extension-apiserver-authentication-reader``), ``resource-reader-role`` + ``resource-reader``
  (pods, nodes, nodes/stats), ``external-metrics-reader-role`` + ``external-metrics-reader``
  (the HPA controller reads the External metrics the stack's autoscalers use, by name, once one
  does: ``allow_external_metric``),
* ``kubernetes_deployment_v1`` [``deployment``] (non-root, read-only root file system, no
  capabilities, liveness and readiness on ``/healthz``) and ``kubernetes_service_v1`` [``service``]
  (port 443 to the pod's 6443, where the APIServices point),
* ``kubernetes_api_service_v1`` [``api-custom-v1beta1``, ``api-custom-v1beta2``,
  ``api-external-v1beta1``]: the aggregated metrics APIs served by the adapter.

One per cluster and stack: ``metrics_adapter_for`` finds it or creates it at the stack's root
(id ``metrics-adapter``), so its Terraform addresses do not depend on which model needed it first.
"""

from __future__ import annotations

from typing import Any

from cdktf import TerraformStack
from constructs import Construct

from constructs_lib._google import service_account_iam_member
from constructs_lib._kubernetes import (
    api_service_v1,
    cluster_role_binding_v1,
    cluster_role_v1,
    deployment_v1,
    namespace_v1,
    role_binding_v1,
    service_account_v1,
    service_v1,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.cluster import ServingCluster
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.naming import Naming
from constructs_lib.specs.gke import METRICS_ADAPTER_IMAGE

ADAPTER_IMAGE = METRICS_ADAPTER_IMAGE
"""The default adapter image (``[gke.cluster] metrics_adapter_image`` changes it)."""

NAMESPACE = "custom-metrics"
"""The adapter's namespace (fixed: the APIService registrations and upstream docs name it)."""

SERVICE_ACCOUNT = "custom-metrics-stackdriver-adapter"
"""Kubernetes service account (and Deployment/Service name) of the adapter."""

READER_ROLE = "roles/monitoring.viewer"
"""What the adapter's Google service account may do: read Cloud Monitoring time series."""

WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"

ID = "metrics-adapter"
"""Construct id of a cluster's adapter at the stack's root (Terraform addresses ``metrics-adapter_...``)."""

PORT = 6443
"""Where the adapter serves the metrics APIs: above 1024, so it needs neither root nor a capability."""

RUN_AS = 65534
"""The adapter's user and group (nobody): it only reads Cloud Monitoring and writes its certificate."""

CERT_DIR = "/var/run/serving-cert"
"""Where the adapter writes its self-signed serving certificate (an in-memory emptyDir: the root
file system is read-only)."""

_LABELS = {"run": SERVICE_ACCOUNT, "k8s-app": SERVICE_ACCOUNT}


class MetricsAdapter(Construct):
    """The Custom Metrics - Stackdriver Adapter in ``cluster`` (see the module docstring).

    Public attributes: ``cluster``, ``namespace``, ``identity`` (``ServiceIdentity``),
    ``workload_identity``, ``service_account``, ``deployment``, ``service``, ``api_services``
    (APIService name -> resource). ``provider``: the kubernetes provider of the cluster
    (``ClusterAccess.provider``), None for the stack's default one.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ServingCluster,
        naming: Naming,
        provider: Any = None,
    ) -> None:
        account_id = derived_account_id(naming, cluster.spec.name, "metrics")
        super().__init__(scope, id_)
        self.cluster = cluster
        kubernetes = {"provider": provider} if provider is not None else {}
        managed = {"app.kubernetes.io/part-of": naming.prefix, "app.kubernetes.io/managed-by": "cdktf"}

        ns = namespace_v1.NamespaceV1(
            self, "namespace",
            metadata=namespace_v1.NamespaceV1Metadata(
                name=NAMESPACE, labels={**managed, "pod-security.kubernetes.io/enforce": "restricted"},
            ),
            **kubernetes,
        )
        self.namespace: str = ns.metadata.name

        self.identity = ServiceIdentity(
            self, "identity",
            account_id=account_id,
            display_name=f"HPA metrics adapter of {cluster.name}",
            description=f"Custom Metrics - Stackdriver Adapter in {cluster.name} (Workload Identity); managed by cdktf",
            roles=(READER_ROLE,),
            project=cluster.project_id,
        )
        self.workload_identity = service_account_iam_member.ServiceAccountIamMember(
            self, "workload-identity",
            service_account_id=self.identity.service_account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{cluster.workload_pool}[{NAMESPACE}/{SERVICE_ACCOUNT}]",
        )
        self.service_account = service_account_v1.ServiceAccountV1(
            self, "service-account",
            metadata=service_account_v1.ServiceAccountV1Metadata(
                name=SERVICE_ACCOUNT, namespace=self.namespace, labels=managed,
                annotations={WORKLOAD_IDENTITY_ANNOTATION: self.identity.email},
            ),
            **kubernetes,
        )
        subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": self.namespace}

        crb, cr, rb = cluster_role_binding_v1, cluster_role_v1, role_binding_v1
        crb.ClusterRoleBindingV1(
            self, "auth-delegator",
            metadata=crb.ClusterRoleBindingV1Metadata(name="custom-metrics:system:auth-delegator", labels=managed),
            role_ref=crb.ClusterRoleBindingV1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"),
            subject=[crb.ClusterRoleBindingV1Subject(**subject)],
            **kubernetes,
        )
        rb.RoleBindingV1(
            self, "auth-reader",
            metadata=rb.RoleBindingV1Metadata(name="custom-metrics-auth-reader", namespace="kube-system", labels=managed),
            role_ref=rb.RoleBindingV1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="extension-apiserver-authentication-reader",
            ),
            subject=[rb.RoleBindingV1Subject(**subject)],
            **kubernetes,
        )
        reader = cr.ClusterRoleV1(
            self, "resource-reader-role",
            metadata=cr.ClusterRoleV1Metadata(name="custom-metrics-resource-reader", labels=managed),
            rule=[cr.ClusterRoleV1Rule(api_groups=[""], resources=["pods", "nodes", "nodes/stats"], verbs=["get", "list", "watch"])],
            **kubernetes,
        )
        crb.ClusterRoleBindingV1(
            self, "resource-reader",
            metadata=crb.ClusterRoleBindingV1Metadata(name="custom-metrics-resource-reader", labels=managed),
            role_ref=crb.ClusterRoleBindingV1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=reader.metadata.name),
            subject=[crb.ClusterRoleBindingV1Subject(**subject)],
            **kubernetes,
        )
        self._managed, self._kubernetes = managed, kubernetes
        self.external_metrics: list[str] = []
        """External metrics the HPA controller may read (``allow_external_metric``), nothing else."""
        self._external_role: Any = None

        d = deployment_v1
        self.deployment = d.DeploymentV1(
            self, "deployment",
            metadata=d.DeploymentV1Metadata(name=SERVICE_ACCOUNT, namespace=self.namespace, labels={**_LABELS, **managed}),
            spec=d.DeploymentV1Spec(
                replicas="1",
                selector=d.DeploymentV1SpecSelector(match_labels=_LABELS),
                template=d.DeploymentV1SpecTemplate(
                    metadata=d.DeploymentV1SpecTemplateMetadata(labels={**_LABELS, "kubernetes.io/cluster-service": "true"}),
                    spec=d.DeploymentV1SpecTemplateSpec(
                        service_account_name=self.service_account.metadata.name,
                        # The system pool hosts it (no toleration for GPU nodes: they are for models).
                        node_selector=cluster.system_pool.node_selector,
                        security_context=d.DeploymentV1SpecTemplateSpecSecurityContext(
                            run_as_non_root=True, run_as_user=str(RUN_AS), run_as_group=str(RUN_AS),
                            seccomp_profile=d.DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile(type="RuntimeDefault"),
                        ),
                        container=[d.DeploymentV1SpecTemplateSpecContainer(
                            name="pod-custom-metrics-stackdriver-adapter",
                            image=cluster.spec.metrics_adapter_image,
                            image_pull_policy="IfNotPresent",
                            command=[
                                "/adapter", "--use-new-resource-model=true", "--fallback-for-container-metrics=true",
                                f"--secure-port={PORT}", f"--cert-dir={CERT_DIR}",
                            ],
                            resources=d.DeploymentV1SpecTemplateSpecContainerResources(
                                requests={"cpu": "250m", "memory": "200Mi"}, limits={"cpu": "250m", "memory": "200Mi"},
                            ),
                            readiness_probe=d.DeploymentV1SpecTemplateSpecContainerReadinessProbe(
                                http_get=d.DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet(path="/healthz", port=str(PORT), scheme="HTTPS"),
                                initial_delay_seconds=40, period_seconds=10, timeout_seconds=5,
                            ),
                            # A wedged adapter stops every HPA that reads it: restart it.
                            liveness_probe=d.DeploymentV1SpecTemplateSpecContainerLivenessProbe(
                                http_get=d.DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet(path="/healthz", port=str(PORT), scheme="HTTPS"),
                                initial_delay_seconds=60, period_seconds=20, timeout_seconds=5, failure_threshold=3,
                            ),
                            # Nobody, no capabilities (6443 needs none), read-only root file system: the
                            # serving certificate goes to an in-memory emptyDir.
                            security_context=d.DeploymentV1SpecTemplateSpecContainerSecurityContext(
                                allow_privilege_escalation=False,
                                read_only_root_filesystem=True,
                                capabilities=d.DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities(drop=["ALL"]),
                            ),
                            volume_mount=[d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="serving-cert", mount_path=CERT_DIR)],
                        )],
                        volume=[d.DeploymentV1SpecTemplateSpecVolume(
                            name="serving-cert", empty_dir=d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(medium="Memory", size_limit="16Mi"),
                        )],
                    ),
                ),
            ),
            wait_for_rollout=True,
            # The Google identity must be bound before the adapter calls Cloud Monitoring.
            depends_on=[self.workload_identity, *self.identity.role_bindings.values()],
            **kubernetes,
        )
        self.service = service_v1.ServiceV1(
            self, "service",
            metadata=service_v1.ServiceV1Metadata(
                name=SERVICE_ACCOUNT, namespace=self.namespace,
                labels={**_LABELS, "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "Adapter", **managed},
            ),
            spec=service_v1.ServiceV1Spec(
                type="ClusterIP", selector=_LABELS,
                port=[service_v1.ServiceV1SpecPort(port=443, target_port=str(PORT), protocol="TCP")],
            ),
            **kubernetes,
        )
        a = api_service_v1
        self.api_services: dict[str, Any] = {}
        for id_suffix, group, version, priority in (
            ("custom-v1beta1", "custom.metrics.k8s.io", "v1beta1", 100),
            ("custom-v1beta2", "custom.metrics.k8s.io", "v1beta2", 200),
            ("external-v1beta1", "external.metrics.k8s.io", "v1beta1", 100),
        ):
            name = f"{version}.{group}"
            self.api_services[name] = a.ApiServiceV1(
                self, f"api-{id_suffix}",
                metadata=a.ApiServiceV1Metadata(name=name, labels=managed),
                spec=a.ApiServiceV1Spec(
                    group=group, version=version, group_priority_minimum=100, version_priority=priority,
                    # The adapter serves a self-signed certificate (as upstream).
                    insecure_skip_tls_verify=True,
                    service=a.ApiServiceV1SpecService(name=self.service.metadata.name, namespace=self.namespace),
                ),
                depends_on=[self.deployment],
                **kubernetes,
            )

    def allow_external_metric(self, name: str) -> None:
        """Let the HPA controller read the External metric ``name`` (the adapter's name for it,
        ``kubernetes.io|container|accelerator|duty_cycle``) through the adapter: a ClusterRole
        naming exactly the metrics this stack's autoscalers use, where upstream grants ``*``."""
        if name in self.external_metrics:
            return
        self.external_metrics.append(name)
        cr, crb = cluster_role_v1, cluster_role_binding_v1
        rule = [cr.ClusterRoleV1Rule(api_groups=["external.metrics.k8s.io"], resources=sorted(self.external_metrics), verbs=["get", "list", "watch"])]
        if self._external_role is not None:
            self._external_role.put_rule(rule)
            return
        self._external_role = cr.ClusterRoleV1(
            self, "external-metrics-reader-role",
            metadata=cr.ClusterRoleV1Metadata(name="external-metrics-reader", labels=self._managed),
            rule=rule,
            **self._kubernetes,
        )
        crb.ClusterRoleBindingV1(
            self, "external-metrics-reader",
            metadata=crb.ClusterRoleBindingV1Metadata(name="external-metrics-reader", labels=self._managed),
            role_ref=crb.ClusterRoleBindingV1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=self._external_role.metadata.name,
            ),
            subject=[crb.ClusterRoleBindingV1Subject(kind="ServiceAccount", name="horizontal-pod-autoscaler", namespace="kube-system")],
            **self._kubernetes,
        )


def metrics_adapter_for(scope: Construct, *, cluster: ServingCluster, naming: Naming, provider: Any = None) -> MetricsAdapter:
    """The stack's ``MetricsAdapter`` for ``cluster``: the one already there, else a new one at the
    stack's root with id ``metrics-adapter`` (``metrics-adapter-<cluster name part>`` for a second cluster)."""
    stack = TerraformStack.of(scope)
    adapters = [c for c in stack.node.find_all() if isinstance(c, MetricsAdapter)]
    for adapter in adapters:
        if adapter.cluster is cluster:
            return adapter
    id_ = ID if not adapters else f"{ID}-{cluster.spec.name}"
    if stack.node.try_find_child(id_) is not None:
        raise ConfigurationError("metrics_adapter", id_, "the stack has another construct with this id; one adapter per cluster")
    return MetricsAdapter(stack, id_, cluster=cluster, naming=naming, provider=provider)
