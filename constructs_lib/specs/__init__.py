"""The spec models: every tunable of the library as frozen pydantic models (``<Thing>Spec``),
the same models environment files validate into, so defaults and limits are written once.

Pure Python: importing them starts no Node process and loads no provider bindings, so an
environment file is checked in well under a second. Constructs live next door
(``constructs_lib.network``, ``constructs_lib.vm``, ``constructs_lib.gke``, ``constructs_lib.edge``...).
"""

from constructs_lib.specs.backends import (
    BackendBucketSpec,
    BackendHealthCheckSpec,
    BackendServiceSpec,
    CacheKeyPolicySpec,
    CdnPolicySpec,
    IapSpec,
    OutlierDetectionSpec,
)
from constructs_lib.specs.cache import CacheClusterSpec, CacheSpec, MaintenanceWindow
from constructs_lib.specs.gke import GkeClusterSpec, GkeRuntimeSpec, NodeGpuSpec, NodePoolSpec, SecondaryBootDiskSpec, TaintSpec
from constructs_lib.specs.load_balancer import LoadBalancerSpec, RetryPolicy, SslPolicySpec
from constructs_lib.specs.model import AcceleratorSpec, ModelSpec
from constructs_lib.specs.model_store import ModelStoreSpec
from constructs_lib.specs.network import FlowLogsSpec, NetworkSpec, RouteSpec
from constructs_lib.specs.observability import (
    BurnRateSpec,
    CacheAvailabilityAlertSpec,
    CacheEvictionsAlertSpec,
    CacheMemoryAlertSpec,
    ErrorRatioAlertSpec,
    GpuAlertSpec,
    LatencyAlertSpec,
    ModelObjectivesSpec,
    NoHealthyBackendsAlertSpec,
    NotificationRouteSpec,
    NotificationsSpec,
    ObservabilitySpec,
    SaturationAlertSpec,
    UptimeSpec,
)
from constructs_lib.specs.reservation import ReservationSpec
from constructs_lib.specs.scaling import MetricSpec, ScaleInControlSpec, ScalingSpec, ScheduleSpec
from constructs_lib.specs.security import CloudArmorSpec, RateLimitSpec, WafRuleSpec
from constructs_lib.specs.vm import AutohealSpec, ModelDownloadSpec, UpdatePolicySpec, VmCanarySpec, VmRuntimeSpec

__all__ = [
    "AcceleratorSpec", "AutohealSpec", "BackendBucketSpec", "BackendHealthCheckSpec", "BackendServiceSpec",
    "BurnRateSpec", "CacheAvailabilityAlertSpec", "CacheClusterSpec", "CacheEvictionsAlertSpec", "CacheKeyPolicySpec",
    "CacheMemoryAlertSpec", "CacheSpec", "CdnPolicySpec", "CloudArmorSpec", "ErrorRatioAlertSpec", "FlowLogsSpec",
    "GkeClusterSpec", "GkeRuntimeSpec", "GpuAlertSpec", "IapSpec", "LatencyAlertSpec", "LoadBalancerSpec",
    "MaintenanceWindow", "MetricSpec", "ModelDownloadSpec", "ModelObjectivesSpec", "ModelSpec", "ModelStoreSpec",
    "NetworkSpec", "NoHealthyBackendsAlertSpec", "NodeGpuSpec", "NodePoolSpec", "NotificationRouteSpec",
    "NotificationsSpec", "ObservabilitySpec", "OutlierDetectionSpec", "RateLimitSpec", "ReservationSpec",
    "RetryPolicy", "RouteSpec", "SaturationAlertSpec", "ScaleInControlSpec", "ScalingSpec", "ScheduleSpec",
    "SecondaryBootDiskSpec", "SslPolicySpec", "TaintSpec", "UpdatePolicySpec", "UptimeSpec", "VmCanarySpec",
    "VmRuntimeSpec", "WafRuleSpec",
]
