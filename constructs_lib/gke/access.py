"""``ClusterAccess``: the Kubernetes provider for a ``ServingCluster``.

Configured from the cluster's endpoint and CA and a ``google_client_config`` access token, so
Terraform acts as the identity that runs it. Read through a ``google_container_cluster`` data
source by the cluster's deterministic name when the cluster lives in another stack (always the
live CA after a rotation, no sensitive cross-stack outputs).
"""

from __future__ import annotations

from typing import Literal

from cdktf import Fn
from constructs import Construct

from constructs_lib._google import data_google_client_config, data_google_container_cluster
from constructs_lib._kubernetes import provider as kubernetes_provider
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.cluster import ServingCluster


class ClusterAccess(Construct):
    """The Kubernetes provider for a ``ServingCluster`` (construct ids ``client-config``,
    ``cluster`` when read through the data source, ``provider``).

    ``source="data"`` (default) reads the endpoint and CA through a ``google_container_cluster``
    data source by the cluster's name: use it when the cluster is in another stack (always the
    live CA, no sensitive cross-stack outputs). ``source="resource"`` uses the cluster resource's
    attributes (same stack, or cdktf cross-stack references). The token is the caller's
    ``google_client_config`` access token, so Terraform acts as the identity that runs it.
    Exposes ``provider``, ``endpoint``, ``cluster_ca_certificate``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ServingCluster,
        source: Literal["data", "resource"] = "data",
        alias: str | None = None,
    ) -> None:
        if source not in ("data", "resource"):
            raise ConfigurationError("source", source, "must be 'data' or 'resource'")
        super().__init__(scope, id_)
        client = data_google_client_config.DataGoogleClientConfig(self, "client-config")
        if source == "data":
            found = data_google_container_cluster.DataGoogleContainerCluster(
                self, "cluster", name=cluster.name, location=cluster.region, project=cluster.project_id,
            )
            self.endpoint: str = found.endpoint
            self.cluster_ca_certificate: str = found.master_auth.get(0).cluster_ca_certificate
        else:
            self.endpoint = cluster.endpoint
            self.cluster_ca_certificate = cluster.cluster_ca_certificate
        self.provider = kubernetes_provider.KubernetesProvider(
            self, "provider",
            alias=alias,
            host=f"https://{self.endpoint}",
            token=client.access_token,
            cluster_ca_certificate=Fn.base64decode(self.cluster_ca_certificate),
            # The NEG controller writes its status into this annotation; it is not drift.
            ignore_annotations=[r"^cloud\.google\.com\/neg-status$"],
        )

