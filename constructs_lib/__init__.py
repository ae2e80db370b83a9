"""High-level CDKTF constructs for serving ML models on Google Cloud.

``from constructs_lib import ModelServing, ModelSpec, ...``: the pattern construct, the spec
models and every construct are re-exported lazily, so ``import constructs_lib`` stays cheap and
loads only the modules (and provider bindings) a program uses; ``constructs_lib.specs`` alone
loads no cdktf at all. Importing the package also silences jsii's Node.js end-of-life banner
(users see our messages, not jsii's) before cdktf starts Node, has jsii start its kernel
as one Node process instead of two (``constructs_lib._node_runtime``), and has the bindings'
argument checks compute each type hint once (``constructs_lib._type_hints``).
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from constructs_lib import _node_runtime, _type_hints  # noqa: E402

_node_runtime.activate()  # one Node process for jsii's kernel, not two (see the module)
_type_hints.activate()  # jsii's argument checks compute each stub's type hints once (see the module)

_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": ("ConfigurationError",),
    "naming": ("Naming",),
    "serving": ("ModelServing",),
    "network": ("ServingNetwork", "NetworkReference"),
    "model_store": ("ModelStore",),
    "cache": ("InferenceCache",),
    "identity": ("ServiceIdentity",),
    "labels": ("CommonLabels",),
    "interfaces": ("BackendTarget", "CacheConnection", "Grant", "Grantee", "ModelSource", "ScalableTarget"),
    "vm.model": ("VmModel",),
    "vm.fleet": ("ModelServerFleet",),
    "vm.autoscaler": ("FleetAutoscaler",),
    "gke.cluster": ("ServingCluster",),
    "gke.node_pool": ("NodePool",),
    "gke.workload": ("ModelWorkload",),
    "gke.access": ("ClusterAccess",),
    "gke.metrics_adapter": ("MetricsAdapter",),
    "observability": ("ServingObservability", "ObservedModel", "observed_models"),
    "edge.load_balancer": ("GlobalLoadBalancer",),
    "edge.security": ("CloudArmorPolicy",),
}
_MODULE_OF = {name: (module, name) for module, names in _EXPORTS.items() for name in names}



def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports keep `import constructs_lib` cheap
    """A construct from its module; a spec model (or ``__all__``) from ``constructs_lib.specs``,
    whose ``__all__`` is the one list of spec models."""
    target = _MODULE_OF.get(name)
    if target is not None:
        module, attribute = target
        return getattr(importlib.import_module(f"constructs_lib.{module}"), attribute)
    specs = importlib.import_module("constructs_lib.specs")
    if name == "__all__":
        return [*_MODULE_OF, *specs.__all__]
    if name in specs.__all__:
        return getattr(specs, name)
    raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
