"""The tfplugin6 `Provider` service implementation (request/response protos <-> behaviour).

One :class:`ProviderService` per plugin process. Every RPC returns Terraform-style diagnostics
instead of raising, so an internal bug shows up in Terraform's output as an error with a
traceback rather than an opaque gRPC failure. Set ``TFDOUBLE_LOG=<file>`` to append one line per
RPC call (useful to see what Terraform actually calls).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from . import behaviour, cty, proto
from . import schema as schema_mod

_ERROR = 1  # Diagnostic.Severity.ERROR
#: Private data of an imported state (see PlanResourceChange); cleared by the first apply.
IMPORTED = b'{"tfdouble":"imported"}'


def _decode(dv) -> Any:
    """DynamicValue -> Python (msgpack preferred; Terraform never sends both)."""
    if dv.msgpack:
        return cty.decode(dv.msgpack)
    if dv.json:
        return json.loads(dv.json)
    return None


class ProviderService:
    """Handlers named after the RPCs; each takes (request, context) and returns a response proto."""

    def __init__(self, provider_name: str, cache_dir: Path | None = None):
        self.provider_name = provider_name
        self.cache_dir = cache_dir
        self._schema: schema_mod.ProviderSchema | None = None
        self.provider_config: dict | None = None
        self._log = os.environ.get("TFDOUBLE_LOG")

    # -- helpers ------------------------------------------------------------------------------

    @property
    def schema(self) -> schema_mod.ProviderSchema:
        if self._schema is None:
            self._schema = schema_mod.load(self.provider_name, self.cache_dir)
        return self._schema

    def _block(self, kind: str, type_name: str) -> tuple:
        found = self.schema.get(kind, type_name)
        if found is None:
            raise LookupError(f"{self.provider_name} has no {kind} type {type_name!r}")
        return found[1]

    def log(self, line: str) -> None:
        if self._log:
            with open(self._log, "a") as f:
                f.write(f"{time.strftime('%H:%M:%S')} pid={os.getpid()} {self.provider_name} {line}\n")

    def wrap(self, rpc: str, fn: Callable, response_cls) -> Callable:
        """Handler that logs the call and turns exceptions into an ERROR diagnostic."""

        def handler(request, context):
            self.log(f"{rpc} {getattr(request, 'type_name', '')}".rstrip())
            try:
                return fn(request, context)
            except Exception as exc:  # noqa: BLE001 - reported to Terraform, not swallowed
                resp = response_cls()
                if "diagnostics" in response_cls.DESCRIPTOR.fields_by_name:
                    resp.diagnostics.add(severity=_ERROR, summary=f"tfdouble: {rpc} failed: {exc}",
                                         detail=traceback.format_exc())
                    return resp
                raise

        return handler

    def _capabilities(self, msg) -> None:
        msg.plan_destroy = True
        msg.get_provider_schema_optional = True
        msg.move_resource_state = True

    # -- metadata and schema ------------------------------------------------------------------

    def GetMetadata(self, request, context):
        resp = proto.message("GetMetadata.Response")()
        self._capabilities(resp.server_capabilities)
        for t in self.schema.type_names("resource"):
            resp.resources.add(type_name=t)
        for t in self.schema.type_names("data"):
            resp.data_sources.add(type_name=t)
        for t in self.schema.type_names("ephemeral"):
            resp.ephemeral_resources.add(type_name=t)
        return resp

    def GetProviderSchema(self, request, context) -> bytes:
        """Pre-serialized response; only the types in $TFDOUBLE_SCHEMA_TYPES when that is set."""
        only = os.environ.get("TFDOUBLE_SCHEMA_TYPES")
        return self.schema.response_for(None if only is None else set(filter(None, only.split(","))))

    def GetFunctions(self, request, context):
        return proto.message("GetFunctions.Response")()

    def CallFunction(self, request, context):
        resp = proto.message("CallFunction.Response")()
        resp.error.text = f"the {self.provider_name} double provides no functions"
        return resp

    # -- validation and configuration ---------------------------------------------------------
    # Terraform core already checked names, types, required arguments and block counts against
    # the schema; provider-side validation (enums, conflicts, formats) is out of scope.

    def ValidateProviderConfig(self, request, context):
        return proto.message("ValidateProviderConfig.Response")()

    def ValidateResourceConfig(self, request, context):
        return proto.message("ValidateResourceConfig.Response")()

    def ValidateDataResourceConfig(self, request, context):
        return proto.message("ValidateDataResourceConfig.Response")()

    def ValidateEphemeralResourceConfig(self, request, context):
        return proto.message("ValidateEphemeralResourceConfig.Response")()

    def ConfigureProvider(self, request, context):
        config = _decode(request.config)
        self.provider_config = config if isinstance(config, dict) else {}
        return proto.message("ConfigureProvider.Response")()

    def StopProvider(self, request, context):
        return proto.message("StopProvider.Response")()  # nothing long-running to cancel

    # -- managed resources --------------------------------------------------------------------

    def UpgradeResourceState(self, request, context):
        resp = proto.message("UpgradeResourceState.Response")()
        if request.raw_state.json:
            resp.upgraded_state.json = request.raw_state.json  # schema never changes: as-is
        elif request.raw_state.flatmap:
            resp.diagnostics.add(severity=_ERROR, summary="tfdouble: legacy flatmap state is not supported")
        return resp

    def ReadResource(self, request, context):
        resp = proto.message("ReadResource.Response")()
        resp.new_state.CopyFrom(request.current_state)  # no drift, ever
        resp.private = request.private
        return resp

    def PlanResourceChange(self, request, context):
        block = self._block("resource", request.type_name)
        prior = _decode(request.prior_state)
        planned = behaviour.plan(block, prior, _decode(request.proposed_new_state), self.provider_config)
        # An imported state holds only `id` (the double cannot read the object): its first plan
        # fills in the configuration as an update, as the README says, never as a replacement.
        imported = request.prior_private == IMPORTED
        replace = [] if imported else behaviour.requires_replace(request.type_name, block, prior, planned)
        if replace:  # a new object: plan it from the configuration alone, computed values unknown again
            planned = behaviour.plan(block, None, _decode(request.config), self.provider_config)
        resp = proto.message("PlanResourceChange.Response")()
        resp.planned_state.msgpack = cty.encode(planned)
        for path in replace:
            steps = resp.requires_replace.add().steps
            for step in path:
                steps.add(**{"element_key_int" if isinstance(step, int) else "attribute_name": step})
        resp.planned_private = request.prior_private
        # Like SDKv2 providers (hashicorp/google, hashicorp/kubernetes): lets us plan output-only
        # blocks such as master_auth, which the strict protocol rules would reject.
        resp.legacy_type_system = True
        return resp

    def ApplyResourceChange(self, request, context):
        block = self._block("resource", request.type_name)
        new_state = behaviour.apply(request.type_name, block, _decode(request.planned_state), self.provider_config)
        resp = proto.message("ApplyResourceChange.Response")()
        resp.new_state.msgpack = cty.encode(new_state)
        resp.private = b"" if request.planned_private == IMPORTED else request.planned_private
        resp.legacy_type_system = True
        return resp

    def ImportResourceState(self, request, context):
        block = self._block("resource", request.type_name)
        resp = proto.message("ImportResourceState.Response")()
        resp.imported_resources.add(type_name=request.type_name,
                                    state=proto.DynamicValue(msgpack=cty.encode(behaviour.import_state(block, request.id))),
                                    private=IMPORTED)
        return resp

    def MoveResourceState(self, request, context):
        resp = proto.message("MoveResourceState.Response")()
        resp.target_state.json = request.source_state.json
        resp.target_private = request.source_private
        return resp

    # -- data sources and ephemeral resources -------------------------------------------------

    def ReadDataSource(self, request, context):
        block = self._block("data", request.type_name)
        state = behaviour.read_data(request.type_name, block, _decode(request.config) or {}, self.provider_config)
        resp = proto.message("ReadDataSource.Response")()
        resp.state.msgpack = cty.encode(state)
        return resp

    def OpenEphemeralResource(self, request, context):
        block = self._block("ephemeral", request.type_name)
        result = behaviour.read_data(request.type_name, block, _decode(request.config) or {}, self.provider_config)
        resp = proto.message("OpenEphemeralResource.Response")()
        resp.result.msgpack = cty.encode(result)
        return resp

    def RenewEphemeralResource(self, request, context):
        return proto.message("RenewEphemeralResource.Response")()

    def CloseEphemeralResource(self, request, context):
        return proto.message("CloseEphemeralResource.Response")()
