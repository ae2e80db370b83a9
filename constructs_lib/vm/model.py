"""``VmModel``: one model served from VM fleets in every region it runs in.

The VM runtime's composition of a ``ModelSpec``: one service account for the model (read access
to its files in the model store and to the regional cache's secrets), and per region a
``ModelServerFleet`` with a ``FleetAutoscaler`` (unless ``vm.target_size`` fixes the size).
Construct ids below it: ``identity``, ``fleet-<region>``, ``autoscaler-<region>`` (Terraform
addresses of deployed models: keep them). The fleets are the model's ``backend_targets``.
"""

from __future__ import annotations

from typing import Any, Sequence

from constructs import Construct

from constructs_lib.naming import Naming
from constructs_lib.network import check_served
from constructs_lib.specs.model import ModelSpec
from constructs_lib.vm.autoscaler import FleetAutoscaler
from constructs_lib.vm.fleet import ModelServerFleet, check_vm_model, fleet_identity


class VmModel(Construct):
    """A model's identity, regional fleets and autoscalers.

    Public attributes: ``model``, ``identity`` (``ServiceIdentity``), ``iam_member``,
    ``service_account_email``, ``fleets[region]``, ``autoscalers[region]``, ``backend_targets``
    and ``read_grant`` / ``connect_grant`` (``Grant``, or None without a model store / cache).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: Any,
        naming: Naming,
        model: ModelSpec,
        regions: Sequence[str],
        model_store: Any = None,
        cache: Any = None,
    ) -> None:
        check_vm_model(model)
        check_served(network, regions, f"models[{model.name}].regions")
        super().__init__(scope, id_)
        self.model = model
        self.identity = fleet_identity(self, "identity", naming=naming, model=model)
        self.iam_member: str = self.identity.iam_member
        self.service_account_email: str = self.identity.email
        use_cache = cache is not None and model.use_cache
        source = None
        self.read_grant = self.connect_grant = None
        if model_store is not None:
            # Grant ids are Terraform addresses of deployed models: read-read-<model>, connect-<model>-...
            self.read_grant = model_store.grant_read(self, id_=f"read-{model.name}")
            source = model_store.model_uri(model.object_path)
        if use_cache:
            self.connect_grant = cache.grant_connect(self, id_=model.name)

        self.fleets: dict[str, ModelServerFleet] = {}
        self.autoscalers: dict[str, FleetAutoscaler] = {}
        for region in regions:
            fleet = ModelServerFleet(
                self, f"fleet-{region}",
                network=network, naming=naming, region=region, model=model,
                model_source=source, cache=cache.connection(region) if use_cache else None, identity=self.identity,
            )
            self.fleets[region] = fleet
            if model.vm.target_size is None:
                self.autoscalers[region] = FleetAutoscaler(
                    self, f"autoscaler-{region}", fleet=fleet, spec=model.scaling, signals=model.scaling_signals,
                )
        self.backend_targets: list[ModelServerFleet] = list(self.fleets.values())
