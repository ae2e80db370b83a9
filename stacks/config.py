"""Environment files: ``environments/<name>.toml`` validated into ``EnvironmentConfig``.

Each file describes one deployable environment (one cdktf stack, ``ml-serving-<name>``).
Sections reuse the constructs' spec models (``[network]`` is a ``NetworkSpec``), so a default
or limit is written once. ``load_environment`` turns every problem - TOML syntax, unknown key,
wrong type, bad region or project id - into one ``EnvironmentFileError`` line naming the file, the
key path, the value and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from constructs_lib.errors import ConfigurationError, format_validation_error
from constructs_lib.naming import check_labels, check_name_part
from constructs_lib.network import NetworkSpec
from constructs_lib.regions import Region

PROJECT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
STACK_PREFIX = "ml-serving"
ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"


class EnvironmentFileError(Exception):
    """A broken environment file. ``str(error)`` is the one-line message shown to users."""


class LocalBackend(BaseModel):
    """Terraform state in a local file, relative to the stack's output directory (the default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["local"] = "local"
    path: str = Field(default="terraform.tfstate", description="State file, relative to cdktf.out/stacks/<stack>. Defaults to terraform.tfstate.")

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not value or value.startswith("/") or ".." in Path(value).parts:
            raise ValueError(f"{value!r} must be a relative path inside the stack directory (no leading /, no ..)")
        return value


class GcsBackend(BaseModel):
    """Terraform state in a Cloud Storage bucket, one prefix per stack (team convention)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["gcs"]
    bucket: str = Field(description="Existing state bucket (versioning on is recommended).")
    prefix: str | None = Field(default=None, description="Object prefix. Defaults to terraform/<stack name>, one state per stack.")

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]", value) or ".." in value or value.startswith("goog"):
            raise ValueError(
                f"{value!r} is not a valid bucket name (3-63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit, not starting with 'goog')"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip("/") or value.startswith("/")):
            raise ValueError(f"{value!r} must be a non-empty object prefix without a leading /")
        return value


Backend = Annotated[Union[LocalBackend, GcsBackend], Field(discriminator="type")]


class EnvironmentConfig(BaseModel):
    """One environment file. Only ``project_id`` and ``regions`` have no default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Environment name (the file's stem): second part of every resource name and of the stack name.")
    app: str = Field(default="ml", description="Application prefix of every resource name. Defaults to 'ml'.")
    project_id: str = Field(description="Google Cloud project id all resources go to.")
    regions: tuple[Region, ...] = Field(min_length=1, description="Serving regions; the first is the provider's default region.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on every resource; app, env and managed-by are always set.")
    backend: Backend = Field(default_factory=LocalBackend, description="Terraform state backend. Defaults to local state.")
    network: NetworkSpec = Field(default_factory=NetworkSpec)

    @field_validator("name", "app")
    @classmethod
    def _part(cls, value: str, info) -> str:  # noqa: ANN001
        try:
            check_name_part(value, info.field_name)
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value

    @field_validator("project_id")
    @classmethod
    def _project(cls, value: str) -> str:
        if not PROJECT_ID_PATTERN.fullmatch(value):
            raise ValueError(
                "must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({r for r in value if value.count(r) > 1})
        if repeated:
            raise ValueError(f"each region may be listed once; repeated: {', '.join(repeated)}")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            check_labels(value)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def stack_name(self) -> str:
        """``ml-serving-<name>``: what ``cdktf deploy`` takes."""
        return f"{STACK_PREFIX}-{self.name}"


def parse_environment(text: str, *, name: str, source: str) -> EnvironmentConfig:
    """Validate TOML ``text`` as environment ``name``; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise EnvironmentFileError(f"{source}: TOML syntax error: {error}") from None
    if "name" in data and data["name"] != name:
        raise EnvironmentFileError(f"{source}: name = {data['name']!r}: must match the file name ({name!r}) or be left out")
    data["name"] = name
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as error:
        raise EnvironmentFileError(f"{source}: {format_validation_error(error, model=EnvironmentConfig)}") from None
    except ConfigurationError as error:
        raise EnvironmentFileError(f"{source}: {error}") from None


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
