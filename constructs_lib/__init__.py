"""High-level CDKTF constructs for serving ML models on Google Cloud.

``from constructs_lib import ServingNetwork, ModelServerFleet, GlobalLoadBalancer, ...``.
Names are re-exported lazily, so ``import constructs_lib`` stays cheap and loads only the
modules (and provider bindings) a program uses. Importing the package also silences jsii's
Node.js end-of-life banner (users see our messages, not jsii's) before cdktf starts Node.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from constructs_lib.errors import ConfigurationError  # noqa: E402
from constructs_lib.naming import Naming  # noqa: E402

_EXPORTS: dict[str, tuple[str, ...]] = {
    "network": ("ServingNetwork", "NetworkSpec", "RouteSpec", "FlowLogsSpec"),
    "model_store": ("ModelStore", "ModelStoreSpec"),
    "cache": ("InferenceCache", "CacheSpec", "ClusterSpec", "MaintenanceWindow"),
    "compute": ("ModelServerFleet", "FleetIdentity", "FleetSpec", "ContainerSpec", "GpuSpec",
                "HealthCheckSpec", "UpdatePolicySpec", "CanarySpec"),
    "autoscaling": ("FleetAutoscaler", "AutoscalingSpec", "MetricSpec", "ScheduleSpec", "ScaleInControlSpec"),
    "load_balancer": ("GlobalLoadBalancer", "LoadBalancerSpec", "SslPolicySpec"),
    "backends": ("BackendServiceSpec", "BackendHealthCheckSpec", "CdnPolicySpec", "CacheKeyPolicySpec",
                 "OutlierDetectionSpec", "IapSpec", "BackendBucketSpec"),
    "url_map": ("RetryPolicy",),
    "security": ("CloudArmorPolicy", "CloudArmorSpec", "RateLimitSpec", "WafRuleSpec"),
    "model_service": ("ModelService", "ModelServiceSpec"),
    "gke": ("ServingCluster", "NodePoolSpec", "NodeGpuSpec", "TaintSpec"),
    "model_workload": ("ModelWorkload", "WorkloadSpec", "ClusterAccess"),
}
_ALIASES = {"GkeClusterSpec": ("gke", "ClusterSpec")}
"""Exported under another name: gke.ClusterSpec would clash with cache.ClusterSpec."""

_MODULE_OF = {name: (module, name) for module, names in _EXPORTS.items() for name in names} | _ALIASES

__all__ = ["ConfigurationError", "Naming", *_MODULE_OF]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports keep `import constructs_lib` cheap
    target = _MODULE_OF.get(name)
    if target is None:
        raise AttributeError(f"module 'constructs_lib' has no attribute {name!r}")
    module, attribute = target
    return getattr(importlib.import_module(f"constructs_lib.{module}"), attribute)
