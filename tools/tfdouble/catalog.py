"""Which providers the double impersonates, and where their schemas live.

Versions are pinned to what our prebuilt CDKTF bindings target (cdktf-cdktf-provider-google
16.12.1 -> hashicorp/google 6.50.0; cdktf-cdktf-provider-kubernetes 12.1.1 -> hashicorp/kubernetes
2.38.0). The schema dumps and the replacement rules are vendored under ``schemas/`` so the
repository is self-contained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
REGISTRY_HOST = "registry.terraform.io"


@dataclass(frozen=True)
class ProviderSpec:
    """One impersonated provider: registry address, version, vendored schema dump."""

    name: str
    version: str
    namespace: str = "hashicorp"

    @property
    def source(self) -> str:
        """Fully qualified source address, as used in `terraform providers schema -json`."""
        return f"{REGISTRY_HOST}/{self.namespace}/{self.name}"

    @property
    def schema_file(self) -> Path:
        return SCHEMA_DIR / f"{self.name}-{self.version}.schema.json.gz"

    @property
    def force_new_file(self) -> Path:
        """Which changes replace a resource (see force_new.py): generated for google, hand-written for kubernetes."""
        return SCHEMA_DIR / f"{self.name}-{self.version}.force-new.json"


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("google", "6.50.0"),
        ProviderSpec("kubernetes", "2.38.0"),
    )
}


def get(name: str) -> ProviderSpec:
    """The spec for provider `name` ("google" or "kubernetes"); KeyError names the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; the double knows {sorted(PROVIDERS)}") from None
