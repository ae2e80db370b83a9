"""``InferenceCache``: a Memorystore for Redis cache per serving region.

Two modes, chosen in ``CacheSpec.mode``:

* ``instance`` (default): a ``google_redis_instance`` per region. STANDARD_HA, AUTH on, in-transit
  TLS (SERVER_AUTHENTICATION), private services access on the serving network (created on the
  network when the first cache asks for it), an LRU eviction policy that suits a cache, a weekly
  maintenance window, ``prevent_destroy``. The AUTH string and the server CA certificates are
  stored in Secret Manager (never in VM metadata).
* ``cluster``: a ``google_redis_cluster`` per region for caches larger than one instance, reached
  through Private Service Connect (a service connection policy per region), IAM authentication,
  TLS, multi-zone, deletion protection.

A model server gets what it needs from ``connection(region)`` and ``grant_connect(grantee)``.
Spec: ``constructs_lib.specs.cache``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from cdktf import Fn, TerraformOutput, TerraformResourceLifecycle, TerraformStack, Token
from constructs import Construct

from constructs_lib._google import (
    network_connectivity_service_connection_policy as scp,
    project_iam_member,
    redis_cluster,
    redis_instance,
    secret_manager_secret,
    secret_manager_secret_iam_member,
    secret_manager_secret_version,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import grant_id, grantee_member
from constructs_lib.interfaces import CacheConnection, Grant, Grantee
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import Naming
from constructs_lib.network import check_served
from constructs_lib.specs.cache import INSTANCE_NAME_MAX, CacheSpec
from constructs_lib.values import check_unique, is_token

PSC_SERVICE_CLASS = "gcp-memorystore-redis"

_SECRET_ID = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


def secret_id(naming: Naming, *parts: str) -> str:
    """``<app>-<env>-<part>...`` as a Secret Manager secret id (up to 255 letters, digits, ``-``, ``_``:
    longer than a resource name, so long app/env names and regions fit)."""
    name = "-".join((naming.prefix, *parts))
    if not _SECRET_ID.fullmatch(name):
        raise ConfigurationError("secret_id", name, "must be 1-255 letters, digits, '-' or '_'")
    return name

SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
DB_CONNECTION_USER = "roles/redis.dbConnectionUser"


class InferenceCache(Construct):
    """Memorystore for Redis inference cache, one instance (or cluster) per serving region.

    Exposes ``instances[region]`` / ``clusters[region]``, ``connection_policies[region]`` (cluster),
    ``auth_secrets[region]`` / ``auth_secret_versions[region]`` and ``ca_secrets[region]`` /
    ``ca_secret_versions[region]``, and per region ``host(region)``, ``port(region)``,
    ``read_host(region)``, ``auth_string(region)`` and ``ca_certs(region)`` (the last two are
    sensitive). Intent methods: ``connection(region)``, ``grant_connect(member)``, ``add_outputs()``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: Any,
        naming: Naming,
        regions: Sequence[str] | None = None,
        spec: CacheSpec | None = None,
    ) -> None:
        spec = spec or CacheSpec()
        regions = list(network.regions if regions is None else regions)
        if not regions:
            raise ConfigurationError("regions", regions, "at least one cache region is required")
        check_served(network, regions, "regions")
        check_unique(regions, "regions", "region")
        if spec.mode == "cluster" and spec.cluster.zone_distribution == "SINGLE_ZONE":
            missing = [r for r in regions if r not in spec.cluster.zones]
            extra = sorted(set(spec.cluster.zones) - set(regions))
            if missing:
                raise ConfigurationError("cache.cluster.zones", spec.cluster.zones, f"SINGLE_ZONE needs a zone for every cache region; missing: {', '.join(missing)}")
            if extra:
                raise ConfigurationError("cache.cluster.zones", spec.cluster.zones, f"names regions the cache is not in: {', '.join(extra)}")

        # Memorystore instance ids are at most 40 characters: checked with the other rules.
        max_length = INSTANCE_NAME_MAX if spec.mode == "instance" else 63
        names = {region: naming.name("cache", region, max_length=max_length) for region in regions}

        # Every check runs before the construct exists: a failed call leaves nothing behind.
        apply_common_labels(scope, naming)
        super().__init__(scope, id_)
        self.network = network
        self.naming = naming
        self.spec = spec
        self.regions: tuple[str, ...] = tuple(regions)
        self._names = names
        self.labels = dict(spec.labels)
        psa = spec.mode == "instance" and spec.connect_mode == "PRIVATE_SERVICE_ACCESS"
        self._peering = network.enable_private_services() if psa else None
        self.instances: dict[str, redis_instance.RedisInstance] = {}
        self.clusters: dict[str, redis_cluster.RedisCluster] = {}
        self.connection_policies: dict[str, scp.NetworkConnectivityServiceConnectionPolicy] = {}
        self.auth_secrets: dict[str, secret_manager_secret.SecretManagerSecret] = {}
        self.auth_secret_versions: dict[str, secret_manager_secret_version.SecretManagerSecretVersion] = {}
        self.ca_secrets: dict[str, secret_manager_secret.SecretManagerSecret] = {}
        self.ca_secret_versions: dict[str, secret_manager_secret_version.SecretManagerSecretVersion] = {}
        self.endpoint_secrets: dict[str, secret_manager_secret.SecretManagerSecret] = {}
        self.endpoint_secret_versions: dict[str, secret_manager_secret_version.SecretManagerSecretVersion] = {}
        self.grants: dict[str, list[Any]] = {}
        self._token_grants = 0

        lifecycle = TerraformResourceLifecycle(prevent_destroy=True) if spec.prevent_destroy else None
        configs = {"maxmemory-policy": spec.eviction_policy, **spec.redis_configs}
        for region in regions:
            if spec.mode == "instance":
                self._add_instance(region, configs, lifecycle)
            else:
                self._add_cluster(region, configs, lifecycle)
            if spec.uses_auth_string:
                self.auth_secrets[region], self.auth_secret_versions[region] = self._add_secret(
                    region, "auth", self.auth_string(region), "Redis AUTH string of the inference cache",
                )
            if spec.tls:
                self.ca_secrets[region], self.ca_secret_versions[region] = self._add_secret(
                    region, "ca", self.ca_certs(region), "Server CA certificates (PEM) of the inference cache",
                )
            endpoint = {"host": self.host(region), "port": self.port(region), "read_host": self.read_host(region)}
            self.endpoint_secrets[region], self.endpoint_secret_versions[region] = self._add_secret(
                region, "host", Fn.jsonencode(endpoint), "Endpoint of the inference cache: JSON host, port, read_host",
            )

    # -- resources -----------------------------------------------------------------------------

    def _maintenance(self, module, prefix: str):  # noqa: ANN001, ANN202 - binding module + class prefix
        window = self.spec.maintenance_window
        if window is None:
            return None
        return getattr(module, f"{prefix}MaintenancePolicy")(
            weekly_maintenance_window=[getattr(module, f"{prefix}MaintenancePolicyWeeklyMaintenanceWindow")(
                day=window.day,
                start_time=getattr(module, f"{prefix}MaintenancePolicyWeeklyMaintenanceWindowStartTime")(
                    hours=window.hour, minutes=0, seconds=0, nanos=0,
                ),
            )],
        )

    def _add_instance(self, region: str, configs: dict[str, str], lifecycle: TerraformResourceLifecycle | None) -> None:
        spec = self.spec
        psa = spec.connect_mode == "PRIVATE_SERVICE_ACCESS"
        self.instances[region] = redis_instance.RedisInstance(
            self, f"redis-{region}",
            name=self._names[region],
            display_name=f"Inference cache {self.naming.prefix} {region}",
            region=region,
            tier=spec.tier,
            memory_size_gb=spec.memory_size_gb,
            redis_version=spec.redis_version,
            auth_enabled=spec.auth_enabled,
            transit_encryption_mode=spec.transit_encryption_mode,
            connect_mode=spec.connect_mode,
            authorized_network=self.network.network_id,
            reserved_ip_range=self.network.private_services_range_name if psa else None,
            read_replicas_mode=(
                "READ_REPLICAS_ENABLED" if spec.read_replica_count else "READ_REPLICAS_DISABLED"
            ) if spec.tier == "STANDARD_HA" else None,
            replica_count=spec.read_replica_count or None,
            persistence_config=redis_instance.RedisInstancePersistenceConfig(
                persistence_mode="RDB", rdb_snapshot_period=spec.rdb_snapshot_period,
            ) if spec.rdb_snapshot_period else redis_instance.RedisInstancePersistenceConfig(persistence_mode="DISABLED"),
            maintenance_policy=self._maintenance(redis_instance, "RedisInstance"),
            redis_configs=configs,
            labels=self.labels,
            # The peering must exist before the instance is created, and outlive it on destroy.
            depends_on=[self._peering] if self._peering is not None else None,
            lifecycle=lifecycle,
        )

    def _add_cluster(self, region: str, configs: dict[str, str], lifecycle: TerraformResourceLifecycle | None) -> None:
        spec, cluster = self.spec, self.spec.cluster
        policy = scp.NetworkConnectivityServiceConnectionPolicy(
            self, f"psc-policy-{region}",
            name=self.naming.name("cache-psc", region),
            description=f"Private Service Connect for the Redis clusters of {self.naming.prefix} in {region}",
            location=region,
            service_class=PSC_SERVICE_CLASS,
            network=self.network.network_id,
            psc_config=scp.NetworkConnectivityServiceConnectionPolicyPscConfig(
                subnetworks=[self.network.subnet_id(region)],
            ),
            labels=self.labels,
        )
        self.connection_policies[region] = policy
        zone = cluster.zones.get(region)
        self.clusters[region] = redis_cluster.RedisCluster(
            self, f"cluster-{region}",
            name=self._names[region],
            region=region,
            shard_count=cluster.shard_count,
            replica_count=cluster.replica_count,
            node_type=cluster.node_type,
            authorization_mode=cluster.authorization_mode,
            transit_encryption_mode=cluster.transit_encryption_mode,
            zone_distribution_config=redis_cluster.RedisClusterZoneDistributionConfig(
                mode=cluster.zone_distribution, zone=zone,
            ),
            psc_configs=[redis_cluster.RedisClusterPscConfigs(network=self.network.network_id)],
            deletion_protection_enabled=cluster.deletion_protection,
            persistence_config=redis_cluster.RedisClusterPersistenceConfig(
                mode="RDB",
                rdb_config=redis_cluster.RedisClusterPersistenceConfigRdbConfig(rdb_snapshot_period=spec.rdb_snapshot_period),
            ) if spec.rdb_snapshot_period else redis_cluster.RedisClusterPersistenceConfig(mode="DISABLED"),
            maintenance_policy=self._maintenance(redis_cluster, "RedisCluster"),
            redis_configs=configs,
            # The policy must exist before the cluster's PSC endpoints are created.
            depends_on=[policy],
            lifecycle=lifecycle,
        )

    def _add_secret(
        self, region: str, kind: str, value: str, description: str,
    ) -> tuple[secret_manager_secret.SecretManagerSecret, secret_manager_secret_version.SecretManagerSecretVersion]:
        secret = secret_manager_secret.SecretManagerSecret(
            self, f"{kind}-secret-{region}",
            secret_id=secret_id(self.naming, "cache", kind, region),
            replication=secret_manager_secret.SecretManagerSecretReplication(
                user_managed=secret_manager_secret.SecretManagerSecretReplicationUserManaged(
                    replicas=[secret_manager_secret.SecretManagerSecretReplicationUserManagedReplicas(location=region)],
                ),
            ),
            annotations={"description": description},
            labels=self.labels,
        )
        version = secret_manager_secret_version.SecretManagerSecretVersion(
            self, f"{kind}-secret-version-{region}",
            secret=secret.id,
            secret_data=value,
        )
        return secret, version

    # -- per-region values ---------------------------------------------------------------------

    def _check_region(self, region: str) -> str:
        if region not in self.regions:
            raise ConfigurationError("region", region, f"the cache is in {', '.join(self.regions)}")
        return region

    def host(self, region: str) -> str:
        """Primary endpoint address (instance ``host``, cluster discovery endpoint address)."""
        self._check_region(region)
        if self.spec.mode == "instance":
            return self.instances[region].host
        return self.clusters[region].discovery_endpoints.get(0).address

    def port(self, region: str) -> str:
        """Primary endpoint port, as a string token."""
        self._check_region(region)
        if self.spec.mode == "instance":
            return Token.as_string(self.instances[region].port)
        return Token.as_string(self.clusters[region].discovery_endpoints.get(0).port)

    def read_host(self, region: str) -> str | None:
        """Read endpoint address when read replicas are on, else None."""
        self._check_region(region)
        if self.spec.mode == "instance" and self.spec.read_replica_count:
            return self.instances[region].read_endpoint
        return None

    def read_port(self, region: str) -> str | None:
        """Read endpoint port when read replicas are on, else None."""
        self._check_region(region)
        if self.spec.mode == "instance" and self.spec.read_replica_count:
            return Token.as_string(self.instances[region].read_endpoint_port)
        return None

    def auth_string(self, region: str) -> str | None:
        """The instance's AUTH string (sensitive), or None without AUTH."""
        self._check_region(region)
        return self.instances[region].auth_string if self.spec.uses_auth_string else None

    def ca_certs(self, region: str) -> str | None:
        """All server CA certificates as one PEM bundle (clients trust each during a CA rotation), or None without TLS."""
        self._check_region(region)
        if not self.spec.tls:
            return None
        if self.spec.mode == "instance":
            return Fn.join("\n", Token.as_list(self.instances[region].get_list_attribute("server_ca_certs[*].cert")))
        certs = self.clusters[region].get_list_attribute("managed_server_ca[0].ca_certs[*].certificates")
        return Fn.join("\n", Token.as_list(Fn.flatten(certs)))

    def connection(self, region: str) -> CacheConnection:
        """What a model server in ``region`` needs to connect: the TLS flag and the latest versions of
        the endpoint, AUTH and CA secrets (read them at start, never via metadata). References to
        the secrets, not to the cache: see ``interfaces.CacheConnection``."""
        self._check_region(region)

        def latest(secret: secret_manager_secret.SecretManagerSecret | None) -> str | None:
            return f"{secret.id}/versions/latest" if secret is not None else None

        return CacheConnection(
            endpoint_secret=latest(self.endpoint_secrets[region]),  # type: ignore[arg-type]
            tls=self.spec.tls,
            auth_secret=latest(self.auth_secrets.get(region)),
            ca_secret=latest(self.ca_secrets.get(region)),
        )

    # -- intent methods ------------------------------------------------------------------------

    def grant_connect(self, grantee: Grantee | str, *, id_: str | None = None) -> Grant:
        """Let ``grantee`` (a fleet, workload or identity, or an IAM member string) connect:
        ``roles/secretmanager.secretAccessor`` on the endpoint, AUTH and CA secrets of every region, and in
        cluster mode with IAM auth ``roles/redis.dbConnectionUser`` (project-level: the provider has
        no per-cluster IAM resource).

        Construct ids are ``connect-<id_>-...``; ``id_`` defaults to a slug of a literal member, or
        ``member-<n>`` for the n-th token member (pass ``id_`` to pin it).
        """
        member = grantee_member(grantee)
        key = grant_id(member, id_, set(self.grants), self._token_grants)
        if id_ is None and is_token(member):
            self._token_grants += 1
        created: list[Any] = []
        roles: list[str] = []
        for kind, secrets in (("auth", self.auth_secrets), ("ca", self.ca_secrets), ("host", self.endpoint_secrets)):
            for region, secret in secrets.items():
                created.append(secret_manager_secret_iam_member.SecretManagerSecretIamMember(
                    self, f"connect-{key}-{kind}-{region}",
                    secret_id=secret.id,
                    role=SECRET_ACCESSOR,
                    member=member,
                ))
                roles = [SECRET_ACCESSOR]
        if self.spec.uses_iam_auth:
            first = self.clusters[self.regions[0]]
            created.append(project_iam_member.ProjectIamMember(
                self, f"connect-{key}-db-connection-user",
                project=first.project,
                role=DB_CONNECTION_USER,
                member=member,
            ))
            roles.append(DB_CONNECTION_USER)
        self.grants[key] = created
        return Grant(member=member, roles=tuple(roles), target=f"cache in {', '.join(self.regions)}", resources=tuple(created))

    def add_outputs(self, scope: Construct | None = None, *, prefix: str | None = None) -> dict[str, TerraformOutput]:
        """Stack outputs per region: host, port, read host/port (replicas), secret version ids, and
        the AUTH string and CA bundle marked ``sensitive``. Names are ``<prefix>-<what>-<region>``,
        ``prefix`` defaulting to this construct's id; ``scope`` defaults to the stack."""
        scope = scope or TerraformStack.of(self)
        prefix = prefix or self.node.id
        values: dict[str, tuple[str | None, bool, str]] = {}
        for region in self.regions:
            auth_version = self.auth_secret_versions.get(region)
            ca_version = self.ca_secret_versions.get(region)
            values[f"host-{region}"] = (self.host(region), False, f"Redis endpoint address in {region}")
            values[f"port-{region}"] = (self.port(region), False, f"Redis endpoint port in {region}")
            values[f"read-host-{region}"] = (self.read_host(region), False, f"Redis read endpoint address in {region}")
            values[f"read-port-{region}"] = (self.read_port(region), False, f"Redis read endpoint port in {region}")
            values[f"auth-secret-{region}"] = (
                auth_version.id if auth_version else None, False, f"Secret Manager version of the Redis AUTH string in {region}",
            )
            values[f"ca-secret-{region}"] = (
                ca_version.id if ca_version else None, False, f"Secret Manager version of the Redis server CA bundle in {region}",
            )
            values[f"auth-string-{region}"] = (self.auth_string(region), True, f"Redis AUTH string in {region}")
            values[f"ca-certs-{region}"] = (self.ca_certs(region), True, f"Redis server CA bundle (PEM) in {region}")
        outputs: dict[str, TerraformOutput] = {}
        for name, (value, sensitive, description) in values.items():
            if value is None:
                continue
            outputs[name] = TerraformOutput(
                scope, f"{prefix}-{name}", value=value, sensitive=sensitive or None, description=description,
            )
        return outputs
