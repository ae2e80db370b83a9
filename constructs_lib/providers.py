"""The provider bindings, through public modules: ``from constructs_lib.providers import google``.

``google`` is ``cdktf_cdktf_provider_google`` (hashicorp/google 6.50.0) and ``kubernetes``
``cdktf_cdktf_provider_kubernetes`` (hashicorp/kubernetes 2.38.0). Both load lazily: ``kubernetes``
on first access (GKE environments only), and of either only the submodules a program touches
(``google.compute_network``), so a synth stays fast.
``google_provider(stack, project_id=..., region=...)`` configures the google provider the way the
library's stacks do.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from constructs import Construct

from constructs_lib import _google as google

if TYPE_CHECKING:
    from constructs_lib import _kubernetes as kubernetes

__all__ = ["google", "google_provider", "kubernetes"]


def __getattr__(name: str) -> ModuleType:
    """``kubernetes`` is imported on first access: only GKE environments need its bindings."""
    if name == "kubernetes":
        from constructs_lib import _kubernetes

        return _kubernetes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def google_provider(scope: Construct, *, project_id: str, region: str, id_: str = "google", **options: Any) -> Any:
    """A ``GoogleProvider`` for ``project_id`` / ``region`` without the provider's own attribution
    label (the common labels carry ``managed-by``)."""
    module: ModuleType = google.provider
    return module.GoogleProvider(
        scope, id_, project=project_id, region=region, add_terraform_attribution_label=False, **options,
    )
