"""Spec of the regional inference cache (``[cache]``): Memorystore for Redis instances (tier,
memory, version, AUTH, TLS, read replicas, persistence, maintenance, eviction) or Redis Cluster
(``mode = "cluster"``). Construct: ``constructs_lib.cache.InferenceCache``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec
from constructs_lib.naming import Labels
from constructs_lib.regions import check_zone
from constructs_lib.values import one_of


REDIS_VERSIONS: tuple[str, ...] = ("REDIS_3_2", "REDIS_4_0", "REDIS_5_0", "REDIS_6_X", "REDIS_7_0", "REDIS_7_2")
"""Memorystore for Redis versions (the API's ``redisVersion`` values)."""


EVICTION_POLICIES: tuple[str, ...] = (
    "volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu",
    "volatile-random", "allkeys-random", "volatile-ttl", "noeviction",
)
"""Redis ``maxmemory-policy`` values (the ones Memorystore accepts)."""

RedisVersion = one_of(REDIS_VERSIONS, "Memorystore Redis version")
EvictionPolicy = one_of(EVICTION_POLICIES, "maxmemory-policy")


TIER_MEMORY_GB: dict[str, tuple[int, int]] = {"BASIC": (1, 300), "STANDARD_HA": (1, 300)}
"""Instance memory limits per tier (Memorystore: 1-300 GB for both tiers)."""


READ_REPLICAS_MIN_MEMORY_GB = 5
"""Read replicas need nodes of at least 5 GB (Memorystore docs, read replicas caveats)."""


READ_REPLICAS_MIN_VERSION = "REDIS_5_0"


INSTANCE_NAME_MAX = 40
"""Memorystore instance ids are at most 40 characters."""


Day = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


SnapshotPeriod = Literal["ONE_HOUR", "SIX_HOURS", "TWELVE_HOURS", "TWENTY_FOUR_HOURS"]


_INSTANCE_ONLY = (
    "tier", "memory_size_gb", "redis_version", "auth_enabled", "transit_encryption_mode",
    "connect_mode", "read_replica_count",
)


class MaintenanceWindow(Spec):
    """Weekly one-hour maintenance window (UTC). Defaults to SUNDAY 03:00 UTC, a low-traffic hour
    for most fleets; set it to yours so failovers happen when the cache matters least."""

    day: Day = Field(default="SUNDAY", description="Day of the week, MONDAY..SUNDAY. Defaults to SUNDAY.")
    hour: int = Field(default=3, ge=0, le=23, description="Start hour in UTC, 0-23. Defaults to 3.")


class CacheClusterSpec(Spec):
    """Memorystore for Redis Cluster settings (``mode = "cluster"``)."""

    shard_count: int = Field(default=3, ge=1, le=250, description="Shards (primaries), 1-250. Defaults to 3.")
    replica_count: int = Field(
        default=1, ge=0, le=2,
        description="Replicas per shard, 0-2. Defaults to 1: a replica keeps each shard's keys through a node failure.",
    )
    node_type: Literal[
        "REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE"
    ] = Field(default="REDIS_HIGHMEM_MEDIUM", description="Node type. Defaults to REDIS_HIGHMEM_MEDIUM (13 GB), the service default.")
    authorization_mode: Literal["AUTH_MODE_IAM_AUTH", "AUTH_MODE_DISABLED"] = Field(
        default="AUTH_MODE_IAM_AUTH",
        description="Defaults to AUTH_MODE_IAM_AUTH: clients authenticate with IAM tokens, no shared password.",
    )
    transit_encryption_mode: Literal[
        "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", "TRANSIT_ENCRYPTION_MODE_DISABLED"
    ] = Field(default="TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", description="Defaults to TLS with server authentication.")
    zone_distribution: Literal["MULTI_ZONE", "SINGLE_ZONE"] = Field(
        default="MULTI_ZONE", description="Defaults to MULTI_ZONE: nodes spread over zones survive a zone outage.",
    )
    zones: dict[str, str] = Field(
        default_factory=dict,
        description="SINGLE_ZONE only: the zone per region, e.g. {europe-west1 = 'europe-west1-b'}.",
    )
    deletion_protection: bool = Field(default=True, description="API-side deletion protection. Defaults to on.")

    @model_validator(mode="after")
    def _zones(self) -> "CacheClusterSpec":
        if self.zone_distribution == "MULTI_ZONE" and self.zones:
            raise ValueError("cluster.zones is only allowed with zone_distribution = 'SINGLE_ZONE' (MULTI_ZONE picks zones itself)")
        if self.zone_distribution == "SINGLE_ZONE" and not self.zones:
            raise ValueError("zone_distribution = 'SINGLE_ZONE' needs cluster.zones, a zone per region (e.g. {europe-west1 = 'europe-west1-b'})")
        for region, zone in self.zones.items():
            try:
                check_zone(zone, region, f"cluster.zones.{region}")
            except ConfigurationError as error:
                raise ValueError(str(error)) from None
        return self


class CacheSpec(Spec):
    """Tunables of ``InferenceCache``; the ``[cache]`` section of an environment file."""

    mode: Literal["instance", "cluster"] = Field(
        default="instance",
        description="'instance' (one Memorystore instance per region, up to 300 GB) or 'cluster' (Redis Cluster, "
        "for larger caches). Defaults to 'instance'.",
    )
    tier: Literal["BASIC", "STANDARD_HA"] = Field(
        default="STANDARD_HA", description="Defaults to STANDARD_HA: a failover replica keeps the cache warm.",
    )
    memory_size_gb: int = Field(default=5, description="Instance memory in GB, 1-300. Defaults to 5, the smallest size that allows read replicas.")
    redis_version: RedisVersion = Field(default="REDIS_7_2", description="Defaults to REDIS_7_2, the newest Memorystore version.")
    auth_enabled: bool = Field(default=True, description="Redis AUTH. Defaults to on; the AUTH string goes to Secret Manager.")
    transit_encryption_mode: Literal["SERVER_AUTHENTICATION", "DISABLED"] = Field(
        default="SERVER_AUTHENTICATION", description="In-transit TLS. Defaults to SERVER_AUTHENTICATION.",
    )
    connect_mode: Literal["PRIVATE_SERVICE_ACCESS", "DIRECT_PEERING"] = Field(
        default="PRIVATE_SERVICE_ACCESS",
        description="Defaults to PRIVATE_SERVICE_ACCESS, in the serving network's reserved range.",
    )
    read_replica_count: int = Field(
        default=0, ge=0, le=5,
        description="Read replicas, 0-5 (STANDARD_HA, >= 5 GB, Redis >= 5.0). Defaults to 0: replicas cost and are one-way.",
    )
    rdb_snapshot_period: SnapshotPeriod | None = Field(
        default=None,
        description="RDB persistence snapshot period. Defaults to None (off): a cache can be refilled from the models.",
    )
    maintenance_window: MaintenanceWindow | None = Field(
        default_factory=MaintenanceWindow,
        description="Weekly maintenance window. Defaults to SUNDAY 03:00 UTC; None lets Google choose.",
    )
    eviction_policy: EvictionPolicy = Field(
        default="allkeys-lru",
        description="Redis maxmemory-policy. Defaults to allkeys-lru: a full cache evicts the least recently used entry "
        "instead of failing writes (Memorystore's default volatile-lru only evicts keys with a TTL).",
    )
    redis_configs: dict[str, str] = Field(
        default_factory=dict, description="Other Redis configuration parameters (maxmemory-policy comes from eviction_policy).",
    )
    labels: Labels = Field(default_factory=dict, description="Extra labels (common labels are always set).")
    prevent_destroy: bool = Field(
        default=True, description="Terraform refuses to destroy the cache. Defaults to on; turn off for dev.",
    )
    cluster: CacheClusterSpec = Field(default_factory=CacheClusterSpec, description="Settings of mode = 'cluster'.")

    @field_validator("redis_configs")
    @classmethod
    def _configs(cls, value: dict[str, str]) -> dict[str, str]:
        if "maxmemory-policy" in value:
            raise ValueError("set the eviction policy with eviction_policy, not redis_configs['maxmemory-policy']")
        return value

    @model_validator(mode="after")
    def _cross(self) -> "CacheSpec":
        if self.mode == "cluster":
            misplaced = [name for name in _INSTANCE_ONLY if name in self.model_fields_set]
            if misplaced:
                raise ValueError(
                    f"{', '.join(misplaced)} only apply to mode = 'instance'; with mode = 'cluster' use the cluster.* settings"
                )
            return self
        low, high = TIER_MEMORY_GB[self.tier]
        if not low <= self.memory_size_gb <= high:
            raise ValueError(f"memory_size_gb = {self.memory_size_gb}: tier {self.tier} allows {low}-{high} GB")
        if self.read_replica_count:
            if self.tier != "STANDARD_HA":
                raise ValueError(
                    f"read_replica_count = {self.read_replica_count}: read replicas need tier STANDARD_HA (tier is {self.tier})"
                )
            if self.memory_size_gb < READ_REPLICAS_MIN_MEMORY_GB:
                raise ValueError(
                    f"read_replica_count = {self.read_replica_count}: read replicas need memory_size_gb >= "
                    f"{READ_REPLICAS_MIN_MEMORY_GB} (is {self.memory_size_gb})"
                )
            if REDIS_VERSIONS.index(self.redis_version) < REDIS_VERSIONS.index(READ_REPLICAS_MIN_VERSION):
                raise ValueError(
                    f"read_replica_count = {self.read_replica_count}: read replicas need redis_version >= "
                    f"{READ_REPLICAS_MIN_VERSION} (is {self.redis_version})"
                )
        return self

    @property
    def tls(self) -> bool:
        """Whether clients must connect with TLS."""
        if self.mode == "cluster":
            return self.cluster.transit_encryption_mode == "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
        return self.transit_encryption_mode == "SERVER_AUTHENTICATION"

    @property
    def uses_auth_string(self) -> bool:
        """Whether clients send a Redis AUTH string (instance mode with AUTH on)."""
        return self.mode == "instance" and self.auth_enabled

    @property
    def uses_iam_auth(self) -> bool:
        """Whether clients authenticate with IAM (cluster mode with IAM auth)."""
        return self.mode == "cluster" and self.cluster.authorization_mode == "AUTH_MODE_IAM_AUTH"

