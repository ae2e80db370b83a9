"""Environment files: ``environments/<name>.toml`` validated into ``EnvironmentConfig``.

Each file describes one deployable environment (the stack ``ml-serving-<name>``, plus
``ml-serving-<name>-cluster`` when a model runs on GKE). Sections are the library's spec models
(``[network]`` is a ``NetworkSpec``, each ``[[models]]`` a ``ModelSpec``), so a default or limit
is written once. ``load_environment`` turns every problem - TOML syntax, unknown key, wrong
type, bad region or project id - into one ``EnvironmentFileError`` line naming the file, the key
path, the value and what is allowed.

Pure Python: validating an environment file imports no cdktf, jsii or provider bindings (a
test checks ``sys.modules``), so a typo is reported in well under a second.
"""

from __future__ import annotations

import datetime
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, format_validation_error, invalid
from constructs_lib.naming import BucketName, Labels, NamePart
from constructs_lib.regions import Region
from constructs_lib.specs import (
    CacheSpec,
    CloudArmorSpec,
    GkeClusterSpec,
    LoadBalancerSpec,
    ModelSpec,
    ModelStoreSpec,
    NetworkSpec,
    ObservabilitySpec,
)
from constructs_lib.specs.load_balancer import RoutePath
from constructs_lib.specs.model import check_models
from constructs_lib.values import unique

PROJECT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
STACK_PREFIX = "ml-serving"
ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"


class EnvironmentFileError(Exception):
    """A broken environment file. ``str(error)`` is the one-line message shown to users."""


class LocalBackend(BaseModel):
    """Terraform state in a local file, ``state/<stack>.tfstate`` next to the output folder (the
    default): outside ``cdktf.out``, which every synthesis replaces (see ``stacks.state``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["local"] = "local"

    moved_keys: ClassVar[dict[str, str]] = {
        "path": "local state lives in state/<stack>.tfstate next to cdktf.out (synthesis replaces cdktf.out); "
                "move cdktf.out/stacks/<stack>/<path> there and remove the key",
    }


class GcsBackend(BaseModel):
    """Terraform state in a Cloud Storage bucket, one prefix per stack (team convention)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["gcs"]
    bucket: BucketName = Field(description="Existing state bucket (versioning on is recommended).")
    prefix: str | None = Field(default=None, description="Object prefix. Defaults to terraform/<stack name>, one state per stack.")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip("/") or value.startswith("/")):
            raise ValueError(f"{value!r} must be a non-empty object prefix without a leading /")
        return value


Backend = Annotated[Union[LocalBackend, GcsBackend], Field(discriminator="type")]


class CacheSettings(CacheSpec):
    """``[cache]``: the regional inference cache (a ``CacheSpec``) plus whether to create it."""

    enabled: bool = Field(default=True, description="Create a Memorystore cache in every serving region. Defaults to on.")

    def spec(self) -> CacheSpec:
        # Only what the file set: CacheSpec's rules (e.g. no tier in cluster mode) look at set fields.
        return CacheSpec.model_validate(self.model_dump(exclude={"enabled"}, exclude_unset=True))


class CloudArmorSettings(CloudArmorSpec):
    """``[cloud_armor]``: the edge security policy (a ``CloudArmorSpec``) plus whether to create it."""

    enabled: bool = Field(default=False, description="Create the policy and attach it to every model that allows it. Defaults to off.")

    def spec(self) -> CloudArmorSpec:
        return CloudArmorSpec.model_validate(self.model_dump(exclude={"enabled"}, exclude_unset=True))


class StaticContent(BaseModel):
    """``[static_content]``: serve paths from an existing Cloud Storage bucket (backend bucket)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket_name: BucketName = Field(description="Existing bucket with the static objects (model cards, docs).")
    paths: tuple[RoutePath, ...] = Field(default=("/static/*",), min_length=1, description="Paths routed to the bucket. Defaults to /static/*.")
    enable_cdn: bool = Field(default=True, description="Cache the objects at the edge. Defaults to on: static files are cacheable.")
    grant_reader: bool = Field(
        default=False,
        description="Grant Cloud CDN's cache-fill agent (service-<project number>@cloud-cdn-fill.iam.gserviceaccount.com) "
        "roles/storage.objectViewer on the bucket so it can stay private; needs enable_cdn. Defaults to off: the bucket is "
        "not created here, so granting on it is opt-in. Without it the bucket must already be readable by the load balancer "
        "(public objects or this grant), or every request answers 403.",
    )

    @model_validator(mode="after")
    def _grant(self) -> "StaticContent":
        if self.grant_reader and not self.enable_cdn:
            raise invalid("grant_reader", True, "needs enable_cdn = true: only Cloud CDN reads the bucket with an identity that can be granted")
        return self


class GkeSettings(BaseModel):
    """``[gke]``: the GKE cluster that models with ``runtime = "gke"`` run on.

    With such a model the environment becomes two stacks, ``ml-serving-<env>-cluster`` (network,
    cluster, node pools) and ``ml-serving-<env>`` (models, bucket, load balancer), deployed in
    that order by one ``cdktf deploy '*'``. The cluster is in the first region of ``regions``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: GkeClusterSpec = Field(default_factory=GkeClusterSpec, description="The GKE cluster and its node pools.")

    moved_keys: ClassVar[dict[str, str]] = {
        "workloads": "every model is a [[models]] table: set runtime = 'gke', image/args/env/health_path at the model, "
                     "cpu/memory/namespace/node_pool... under [models.gke], replicas under [models.scaling]",
        "backend_services": "a model's backend service is its [models.backend] table",
    }


class EnvironmentConfig(BaseModel):
    """One environment file. Only ``project_id`` and ``regions`` have no default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(description="Environment name (the file's stem): second part of every resource name and of the stack name.")
    tier: Literal["dev", "production"] | None = Field(
        default=None,
        description="What the environment is for. Defaults to 'dev' for the environment named dev, else 'production': "
        "production gets monitoring and alerting by default and GKE models keep at least two replicas.",
    )
    app: NamePart = Field(default="ml", description="Application prefix of every resource name. Defaults to 'ml'.")
    project_id: str = Field(description="Google Cloud project id all resources go to.")
    regions: Annotated[tuple[Region, ...], unique("region")] = Field(min_length=1, description="Serving regions; the first is the provider's default region.")
    labels: Labels = Field(default_factory=dict, description="Extra labels on every resource; app, env and managed-by are always set.")
    backend: Backend = Field(default_factory=LocalBackend, description="Terraform state backend. Defaults to local state.")
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    model_store: ModelStoreSpec = Field(default_factory=ModelStoreSpec, description="The model bucket.")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="The regional inference cache.")
    load_balancer: LoadBalancerSpec = Field(default_factory=LoadBalancerSpec, description="The global load balancer's frontend.")
    cloud_armor: CloudArmorSettings = Field(default_factory=CloudArmorSettings, description="Edge security policy. Off by default.")
    static_content: StaticContent | None = Field(default=None, description="Static files from a bucket. None by default.")
    models: tuple[ModelSpec, ...] = Field(default=(), description="The served models ([[models]] tables, at least one), each on its runtime (VM fleets or GKE).")
    gke: GkeSettings = Field(default_factory=GkeSettings, description="The GKE cluster of models with runtime = 'gke' ([gke] section).")
    observability: ObservabilitySpec = Field(
        default_factory=ObservabilitySpec,
        description="SLOs, alerts, uptime checks and the dashboard ([observability] section). On by default in production "
        "tier, off in dev (enabled = true opts in).",
    )

    @field_validator("project_id")
    @classmethod
    def _project(cls, value: str) -> str:
        if not PROJECT_ID_PATTERN.fullmatch(value):
            raise ValueError(
                "must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"
            )
        if "google" in value:
            raise ValueError("must not contain the restricted word 'google' (Google Cloud rejects such project ids)")
        return value

    @model_validator(mode="after")
    def _models(self) -> "EnvironmentConfig":
        static = self.static_content
        other_paths = [(f"static_content.paths[{i}]", p, "static_content") for i, p in enumerate(static.paths)] if static else []
        check_models(self.models, self.regions, other_paths)
        default = self.load_balancer.default_backend
        targets = [m.name for m in self.models] + (["static"] if static else [])
        if default is not None and default not in targets:
            raise invalid("load_balancer.default_backend", default, f"must name a model or 'static' ([static_content]); allowed: {', '.join(targets)}")
        names = [m.name for m in self.models]
        for name in self.observability.models:
            if name not in names:
                raise invalid(f"observability.models.{name}", name, f"is not a model of this environment; models: {', '.join(names)}")
        if self.effective_tier == "production":
            for index, model in enumerate(self.models):
                if model.runtime == "gke":
                    _check_production_pods(model, f"models[{index}]")
        return self

    @property
    def effective_tier(self) -> Literal["dev", "production"]:
        """``tier``, or 'dev' for the environment named dev and 'production' for every other."""
        return self.tier or ("dev" if self.name == "dev" else "production")

    @property
    def effective_observability(self) -> ObservabilitySpec:
        """``observability`` with ``enabled`` resolved: as set, else on in production tier."""
        spec = self.observability
        return spec.model_copy(update={"enabled": spec.resolve_enabled(default=self.effective_tier == "production")})

    @property
    def uses_gke(self) -> bool:
        """Whether a model runs on GKE (the environment then has a cluster stack)."""
        return any(model.runtime == "gke" for model in self.models)

    @property
    def stack_name(self) -> str:
        """``ml-serving-<name>``: what ``cdktf deploy`` takes."""
        return f"{STACK_PREFIX}-{self.name}"


def _check_production_pods(model: ModelSpec, field: str) -> None:
    """A production GKE model survives a node upgrade: two pods at least, and a disruption budget
    that never lets a drain take all of them."""
    low = model.scaling.min_replicas
    if low < 2:
        raise invalid(
            f"{field}.scaling.min_replicas", low,
            "a production GKE model keeps at least 2 replicas: node upgrades and repairs drain one pod at a time, and with "
            "one replica the model is down until it is rescheduled (set tier = 'dev' for a throwaway environment)",
        )
    if model.gke.pdb_max_unavailable >= low:
        raise invalid(
            f"{field}.gke.pdb_max_unavailable", model.gke.pdb_max_unavailable,
            f"must be below scaling.min_replicas ({low}) in production: a drain could otherwise take every pod at once",
        )


def parse_environment(text: str, *, name: str, source: str) -> EnvironmentConfig:
    """Validate TOML ``text`` as environment ``name``; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise EnvironmentFileError(f"{source}: TOML syntax error: {error}") from None
    if "name" in data and data["name"] != name:
        raise EnvironmentFileError(f"{source}: name = {data['name']!r}: must match the file name ({name!r}) or be left out")
    data["name"] = name
    _reject_datetimes(data, source)
    try:
        # Strict: `serving_port = true` or `enabled = "yes"` is a mistake, not a 1 or a True.
        # JSON mode keeps what TOML cannot express natively (arrays for tuples, string keys).
        return EnvironmentConfig.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as error:
        raise EnvironmentFileError(f"{source}: {format_validation_error(error, model=EnvironmentConfig)}") from None
    except ConfigurationError as error:
        raise EnvironmentFileError(f"{source}: {error}") from None


def _reject_datetimes(value: object, source: str, path: str = "") -> None:
    """TOML dates and times (``project_id = 1979-05-27``) fit no key here: say which key holds one."""
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_datetimes(item, source, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_datetimes(item, source, f"{path}[{index}]")
    elif isinstance(value, (datetime.date, datetime.time)):
        raise EnvironmentFileError(
            f"{source}: {path} = {value.isoformat()}: a TOML date/time is not allowed here; quote it if you meant a string"
        )


def load_environment(path: Path) -> EnvironmentConfig:
    """Read and validate one environment file; the environment's name is the file's stem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EnvironmentFileError(f"{path}: cannot read environment file: {error}") from None
    return parse_environment(text, name=path.stem, source=display_path(path))


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def environment_files(directory: Path = ENVIRONMENTS_DIR, only: str | None = None) -> list[Path]:
    """``<directory>/*.toml`` sorted by name; ``only`` (comma-separated names) narrows the list."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise EnvironmentFileError(f"{display_path(directory)}: no environment files (*.toml) found")
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        known = {f.stem: f for f in files}
        missing = [n for n in wanted if n not in known]
        if missing:
            raise EnvironmentFileError(
                f"ML_SERVING_ENV = {only!r}: no environment file for {', '.join(missing)}; available: {', '.join(sorted(known))}"
            )
        files = [known[n] for n in wanted]
    return files


SCHEMA_PATH = ENVIRONMENTS_DIR / "environment.schema.json"


def environment_json_schema() -> str:
    """JSON Schema of an environment file (for editor completion), as committed text."""
    import json

    schema = EnvironmentConfig.model_json_schema(mode="validation")
    schema["properties"].pop("name", None)  # taken from the file name
    schema["required"] = [key for key in schema.get("required", []) if key != "name"]
    schema["title"] = "ml-serving environment file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    # python -m stacks.config > environments/environment.schema.json
    print(environment_json_schema(), end="")
