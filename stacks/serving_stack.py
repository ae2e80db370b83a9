"""``MlServingStack``: one environment's serving deployment as one cdktf stack."""

from __future__ import annotations

from cdktf import GcsBackend, LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib._google import provider as google_provider
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from stacks.config import EnvironmentConfig


class MlServingStack(TerraformStack):
    """The serving deployment of one environment file: provider, state backend and network.

    Construct IDs here are the Terraform addresses of a deployed environment: keep them stable.
    """

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        self.naming = Naming(app=config.app, env=config.name, labels=config.labels)

        google_provider.GoogleProvider(
            self, "google",
            project=config.project_id,
            region=config.regions[0],
            # The provider's own attribution label would differ from our managed-by label.
            add_terraform_attribution_label=False,
        )
        self._configure_backend()

        self.network = ServingNetwork(
            self, "network", naming=self.naming, regions=config.regions, spec=config.network,
        )

        TerraformOutput(self, "network_self_link", value=self.network.network.self_link,
                        description="Self link of the serving VPC")
        TerraformOutput(self, "subnets", description="Subnet self link per serving region",
                        value={region: subnet.self_link for region, subnet in self.network.subnets.items()})

    def _configure_backend(self) -> None:
        backend = self.config.backend
        if backend.type == "gcs":
            GcsBackend(self, bucket=backend.bucket, prefix=backend.prefix or f"terraform/{self.config.stack_name}")
        else:
            LocalBackend(self, path=backend.path)
