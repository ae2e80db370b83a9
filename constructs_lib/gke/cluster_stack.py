"""``GkeClusterStack``: the stack that holds a GKE environment's network and cluster.

Created by ``ModelServing`` for the first GKE model of a serving stack, as ``<stack>-cluster``
in the same app; the serving stack depends on it (see ``constructs_lib.gke``). Construct ids:
``network``, ``cluster`` (Terraform addresses of deployed clusters: keep them).
"""

from __future__ import annotations

from typing import Callable

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib.gke.cluster import ServingCluster
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from constructs_lib.providers import google_provider
from constructs_lib.specs.gke import GkeClusterSpec
from constructs_lib.specs.network import NetworkSpec

StackSetup = Callable[[TerraformStack], None]
"""Configures a new stack's state backend (the serving stack's convention); None: cdktf's default."""


class GkeClusterStack(TerraformStack):
    """Network + ``ServingCluster`` in their own stack. Exposes ``network``, ``cluster``,
    ``naming``, ``region`` and ``project_id``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        project_id: str,
        region: str,
        regions: list[str],
        naming: Naming,
        network: NetworkSpec | None = None,
        cluster: GkeClusterSpec | None = None,
        setup: StackSetup | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.project_id = project_id
        self.region = region
        self.naming = naming
        google_provider(self, project_id=project_id, region=region)
        if setup is not None:
            setup(self)
        self.network = ServingNetwork(self, "network", naming=naming, regions=regions, spec=network)
        self.cluster = ServingCluster(
            self, "cluster", network=self.network, naming=naming, project_id=project_id, region=region, spec=cluster,
        )
        self.cluster.add_outputs(self)
        TerraformOutput(self, "network_self_link", value=self.network.network.self_link, description="Self link of the serving VPC")
